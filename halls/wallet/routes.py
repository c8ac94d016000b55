"""The wallet: /wallet."""

from flask_smorest import Blueprint
from marshmallow import RAISE

from halls import examples as ex
from halls.auth.tokens import admin_required, auth_required, current_user
from halls.extensions import error_responses
from halls.schemas import envelope, page_of
from halls.wallet import service
from halls.wallet.schemas import (
    WalletCreditData,
    WalletCreditIn,
    WalletOut,
    WalletTransactionArgs,
    WalletTransactionOut,
)

blp = Blueprint(
    "wallet",
    __name__,
    url_prefix="/wallet",
    description="Your balance and ledger in PKR; refunds land here. Admins top wallets up.",
)


@blp.route("", methods=["GET"])
@auth_required
@blp.response(200, envelope(WalletOut), example=ex.ok(ex.WALLET))
def get():
    """Your balance and your ten latest entries.

    In PKR. Refunds of wallet-paid bookings and admins' credits add to it; bookings paid
    from the wallet take from it.
    """
    return service.get_wallet(current_user())


@blp.route("/transactions", methods=["GET"])
@auth_required
@blp.arguments(WalletTransactionArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(WalletTransactionOut)), example=ex.ok(ex.page([ex.CREDIT])))
def transactions(args):
    """Your ledger, latest first; `kind` narrows it to payments, refunds or credits.

    Each entry has its signed amount and the balance after it.
    """
    return service.list_transactions(current_user(), args)


@blp.route("/credit", methods=["POST"])
@admin_required
@blp.arguments(WalletCreditIn(), example=ex.WALLET_CREDIT)
@blp.response(201, envelope(WalletCreditData), example=ex.ok(ex.WALLET_CREDITED))
@blp.doc(responses=error_responses(404))
def credit(body):
    """Admins only: add money to a user's wallet (there is no payment gateway yet).

    The note is kept on the entry; an unknown user is a 404 `user_not_found`.
    """
    return service.credit_wallet(current_user(), **body)

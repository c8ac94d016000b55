"""The wallet: /wallet."""

from flask_smorest import Blueprint
from marshmallow import RAISE

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
@blp.response(200, envelope(WalletOut))
def get():
    """Your balance and your ten latest entries."""
    return service.get_wallet(current_user())


@blp.route("/transactions", methods=["GET"])
@auth_required
@blp.arguments(WalletTransactionArgs(), location="query", unknown=RAISE)
@blp.response(200, envelope(page_of(WalletTransactionOut)))
def transactions(args):
    """Your ledger, latest first; `kind` narrows it to payments, refunds or credits."""
    return service.list_transactions(current_user(), args)


@blp.route("/credit", methods=["POST"])
@admin_required
@blp.arguments(WalletCreditIn())
@blp.response(201, envelope(WalletCreditData))
@blp.doc(responses=error_responses(404))
def credit(body):
    """Admins only: add money to a user's wallet (there is no payment gateway yet)."""
    return service.credit_wallet(current_user(), **body)

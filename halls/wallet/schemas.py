"""The wallet at the edge: what an admin may send, and what a user sees of their ledger."""

from marshmallow import Schema, fields, validate

from halls.schemas import ObjectIdField, PageArgs, StrictSchema, Text, Timestamp
from halls.wallet.service import KINDS


class WalletCreditIn(StrictSchema):
    """POST /wallet/credit: an admin tops up a user's wallet."""

    user_id = ObjectIdField(required=True)
    amount = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=10_000_000)
    )
    note = Text(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Why the credit was given (kept on the entry)."},
    )


class WalletTransactionArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf(KINDS), metadata={"example": "refund"})


class WalletTransactionOut(Schema):
    """One settled money movement of the user's wallet."""

    id = ObjectIdField(attribute="_id")
    amount = fields.Integer(metadata={"description": "PKR; negative for a payment."})
    kind = fields.String(validate=validate.OneOf(KINDS))
    booking_id = ObjectIdField(allow_none=True)
    balance_after = fields.Integer()
    note = fields.String(
        metadata={"optional": True, "description": "A credit's reason, as the admin gave it."}
    )
    at = Timestamp()


class WalletOut(Schema):
    balance = fields.Integer(required=True)
    currency = fields.String(required=True, validate=validate.OneOf(["PKR"]))
    recent = fields.List(
        fields.Nested(WalletTransactionOut),
        required=True,
        metadata={"description": "The ten latest entries, latest first."},
    )


class WalletCreditData(Schema):
    transaction = fields.Nested(WalletTransactionOut, required=True)
    balance = fields.Integer(required=True)

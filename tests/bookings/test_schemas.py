"""BookingOut: its quick dump gives marshmallow's own answer."""

import json

from marshmallow import Schema

from halls import db
from halls.bookings.schemas import BookingOut
from tests.bookings.helpers import SLOTS, booked
from tests.helpers import DECOR, ok_data, today_plus


def test_bookings_dump_exactly_as_marshmallow_would(client, customer, owner, make_venue):
    """BookingOut's quick dump (QuickDump) gives marshmallow's own answer, key order included,
    for bookings in every shape the service writes and for odd stored values."""
    venue = make_venue(owner.user, slots=SLOTS, addons=[dict(DECOR)])
    headers, owner_headers = customer.headers, owner.headers
    booked(
        client, headers, venue, slots=["morning", "evening"], addons=[{"key": "decor", "qty": 1}]
    )
    confirmed = booked(client, headers, venue, slot="morning", date=today_plus(4))
    client.patch(
        f"/bookings/{confirmed['id']}", json={"status": "confirmed"}, headers=owner_headers
    )
    cancelled = booked(client, headers, venue, slot="evening", date=today_plus(5))
    client.delete(f"/bookings/{cancelled['id']}", headers=headers)
    moved = booked(client, headers, venue, slot="morning", date=today_plus(6))
    body = {"date": today_plus(7), "slots": ["evening"]}
    ok_data(client.post(f"/bookings/{moved['id']}/reschedule", json=body, headers=headers))
    documents = list(db.bookings().find())
    assert {doc["status"] for doc in documents} == {"pending", "confirmed", "cancelled"}
    assert any(doc.get("history") for doc in documents) and any(doc["addons"] for doc in documents)
    odd = {**documents[0], "guests": 5.0, "slots": ("morning", 3), "venue": None, "date": 7}
    odd["slot_details"] = []  # nothing to place it by: no starts_at, ends_at or slot_detail
    schema, plain = BookingOut(), _MarshmallowBookingOut()
    for doc in [*documents, odd, {}]:
        assert json.dumps(schema.dump(doc)) == json.dumps(plain.dump(doc)), doc


class _MarshmallowBookingOut(BookingOut):
    """BookingOut dumped by marshmallow alone (its hooks included)."""

    def _serialize(self, obj, *, many=False):
        return Schema._serialize(self, obj, many=many)

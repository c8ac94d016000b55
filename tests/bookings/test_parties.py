"""Issue 13: the rules cannot be turned against a customer, nor dodged by one.

Each attack of the issue replayed over HTTP: an owner moving a booking onto a dearer date,
moves that dodge the cancellation policy, an owner editing the policy after the booking, and
one account holding a venue's whole calendar. Each shows the refusal (status, code, details)
and that nothing changed in the database, or the refund the rules give instead.
"""

import datetime as dt

import pytest
from bson import ObjectId

from halls import config, db, mail
from halls.bookings import maintenance, policy
from tests.bookings.helpers import (
    SLOTS,
    assert_free,
    assert_held_by,
    balance,
    book,
    booked,
    claim_of,
    fund,
    ledger,
    snapshot,
    stored,
)
from tests.helpers import assert_error, ok_data, other_id, today_plus

PRICE = 100000
DEFAULT_TIERS = [
    {"min_hours_before": 168, "refund_pct": 100},
    {"min_hours_before": 48, "refund_pct": 50},
    {"min_hours_before": 0, "refund_pct": 0},
]
# The morning (09:00 in Karachi) of these days starts, whatever the time of day now:
NEAR = today_plus(3)  # 57 to 81 hours ahead: the 50 % tier
SOON = today_plus(4)  # 81 to 105 hours ahead: the 50 % tier
LATER = today_plus(5)  # 105 to 129 hours ahead: the 50 % tier
FAR = today_plus(10)  # 225 to 249 hours ahead: the 100 % tier


@pytest.fixture
def venue(make_venue, owner):
    return make_venue(owner[0], slots=SLOTS, dates_available=[today_plus(d) for d in range(1, 100)])


def wallet_booking(client, customer, venue, date, slots=("morning",), funds=None):
    fund(customer[0], PRICE * len(slots) if funds is None else funds)
    return booked(client, customer[1], venue, date=date, slots=list(slots), payment_method="wallet")


def confirm(client, owner, booking):
    response = client.patch(
        f"/bookings/{booking['id']}", json={"status": "confirmed"}, headers=owner[1]
    )
    return ok_data(response)["booking"]


def move(client, headers, booking, **body):
    return client.post(f"/bookings/{booking['id']}/reschedule", json=body, headers=headers)


def moved(client, headers, booking, **body):
    return ok_data(move(client, headers, booking, **body))


def cancel(client, headers, booking):
    return ok_data(client.delete(f"/bookings/{booking['id']}", headers=headers))["booking"]


def cancellation_quote(client, headers, booking):
    path = f"/bookings/{booking['id']}/cancellation-quote"
    return ok_data(client.get(path, headers=headers))


def move_quote(client, headers, booking, date, slots):
    path = f"/bookings/{booking['id']}/reschedule-quote?date={date}&slots={','.join(slots)}"
    return client.get(path, headers=headers)


def set_price(client, owner, venue, date, price):
    """The owner prices one date through the API, as in the issue's attack."""
    body = {"pricing": {"overrides": [{"date": date, "price": price}]}}
    ok_data(client.patch(f"/venues/{venue['_id']}", json=body, headers=owner[1]))


def sweep(app):
    result = app.test_cli_runner().invoke(args=["expire-holds"])
    assert result.exit_code == 0, result.output


# 1. A move the owner starts never costs the customer more --------------------------------


@pytest.mark.parametrize(
    ("payment", "to_date", "slots", "delta"),
    [
        ("wallet", NEAR, ["morning"], 2_800_000),  # the attack
        ("wallet", FAR, ["morning", "evening"], 100000),  # a slot added
        ("pay_at_venue", NEAR, ["morning"], 2_800_000),  # owed at the venue instead
    ],
)
@pytest.mark.parametrize("expected_total", [None, "the new total"])
def test_an_owner_cannot_move_a_booking_to_a_dearer_price(
    client, customer, owner, venue, payment, to_date, slots, delta, expected_total
):
    fund(customer[0], 3_000_000)
    booking = booked(
        client, customer[1], venue, date=FAR, slots=["morning"], payment_method=payment
    )
    set_price(client, owner, venue, NEAR, 2_900_000)
    confirm(client, owner, booking)
    before, paid_before = snapshot(), balance(customer[0])

    body = {"date": to_date, "slots": slots}
    if expected_total:  # the owner cannot accept the price for the customer
        body["expected_total"] = PRICE + delta
    error = assert_error(move(client, owner[1], booking, **body), 409, "customer_must_accept")

    assert error["context"]["price_delta"] == delta
    assert error["context"]["quote"]["total"] == PRICE + delta
    assert snapshot() == before  # booking, claims, ledger and balances as they were
    assert balance(customer[0]) == paid_before
    assert stored(booking)["status"] == "confirmed" and stored(booking)["date"] == FAR


def test_the_owner_may_still_move_it_at_a_lower_price_and_refund_all_of_it(
    client, customer, owner, venue
):
    booking = wallet_booking(client, customer, venue, SOON)
    set_price(client, owner, venue, LATER, 60000)
    confirm(client, owner, booking)

    data = moved(client, owner[1], booking, date=LATER, slots=["morning"])

    # The owner's move: the difference comes back in full, whatever the customer's tier.
    change = data["change"]
    assert (change["price_delta"], change["refund_pct"]) == (-40000, 100)
    assert (change["refunded"], change["forfeited"]) == (40000, 0)
    assert change["refund_pct_before"] == 50
    assert data["booking"]["payment"] == {"method": "wallet", "paid": PRICE, "refunded": 40000}
    assert balance(customer[0]) == 40000
    assert ledger(customer[0])[-1] == ("refund", 40000, f"refund:{booking['id']}:move1")


def test_a_dearer_move_needs_the_customers_own_request_at_the_price_shown(
    client, customer, owner, venue
):
    booking = wallet_booking(client, customer, venue, FAR, funds=PRICE + 30000)
    set_price(client, owner, venue, today_plus(12), 130000)
    target = {"date": today_plus(12), "slots": ["morning"]}

    # Shown before: the quote of the move.
    shown = ok_data(move_quote(client, customer[1], booking, **target))
    assert (shown["quote"]["total"], shown["current_total"]) == (130000, PRICE)
    assert (shown["price_delta"], shown["charge"]) == (30000, 30000)
    assert shown["allowed"] is True and shown["available"] is True
    assert shown["by_owner"] is False
    assert ok_data(move_quote(client, owner[1], booking, **target))["allowed"] is False

    before = snapshot()
    error = assert_error(move(client, customer[1], booking, **target), 409, "move_costs_more")
    assert error["context"]["price_delta"] == 30000
    assert error["context"]["quote"]["total"] == 130000
    stale = move(client, customer[1], booking, **target, expected_total=PRICE)
    assert assert_error(stale, 409, "price_changed")["context"]["quote"]["total"] == 130000
    assert snapshot() == before

    data = moved(client, customer[1], booking, **target, expected_total=shown["quote"]["total"])
    assert data["change"]["price_delta"] == 30000
    assert data["booking"]["payment"] == {"method": "wallet", "paid": 130000, "refunded": 0}
    assert balance(customer[0]) == 0


# The reschedule quote ---------------------------------------------------------------------


def test_the_move_quote_shows_a_partial_refund_and_changes_nothing(
    client, customer, make_user, owner, venue
):
    booking = wallet_booking(client, customer, venue, SOON, slots=("morning", "evening"))
    confirm(client, owner, booking)
    booked(client, make_user()[1], venue, date=LATER, slots=["evening"])
    before = snapshot()

    data = ok_data(move_quote(client, customer[1], booking, SOON, ["morning"]))
    assert data["booking_id"] == booking["id"] and data["date"] == SOON
    assert [slot["key"] for slot in data["slots"]] == ["morning"]
    assert (data["price_delta"], data["charge"], data["refund_pct"]) == (-PRICE, 0, 50)
    assert (data["refunded"], data["forfeited"]) == (PRICE // 2, PRICE // 2)
    assert data["quote"]["valid_until"].endswith("Z")
    by_owner = ok_data(move_quote(client, owner[1], booking, SOON, ["morning"]))
    assert (by_owner["refund_pct"], by_owner["refunded"], by_owner["forfeited"]) == (100, PRICE, 0)
    # Its own slots are no obstacle; another booking's are.
    taken = ok_data(move_quote(client, customer[1], booking, LATER, ["morning", "evening"]))
    assert taken["available"] is False
    assert snapshot() == before


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 422, "validation_failed"),
        (f"?date={LATER}", 422, "validation_failed"),
        (f"?date={LATER}&slots=brunch", 422, "validation_failed"),
        (f"?date={FAR}&slots=morning", 422, "validation_failed"),  # where it is already
        (f"?date={LATER}&slots=morning&guests=5", 422, "validation_failed"),
        (f"?date={today_plus(200)}&slots=morning", 409, "date_unavailable"),
    ],
)
def test_a_bad_move_quote_is_refused(client, customer, venue, query, status, code):
    booking = booked(client, customer[1], venue, date=FAR, slots=["morning"])
    before = snapshot()
    response = client.get(f"/bookings/{booking['id']}/reschedule-quote{query}", headers=customer[1])
    assert_error(response, status, code)
    assert snapshot() == before


def test_only_the_booker_and_the_owner_see_a_move_quote(client, customer, make_user, venue):
    booking = booked(client, customer[1], venue, date=FAR, slots=["morning"])
    for headers in (make_user()[1], make_user(owner=True)[1]):
        response = move_quote(client, headers, booking, LATER, ["morning"])
        assert_error(response, 404, "booking_not_found")
    response = move_quote(client, customer[1], {"id": other_id()}, LATER, ["morning"])
    assert_error(response, 404, "booking_not_found")
    assert_error(move_quote(client, {}, booking, LATER, ["morning"]), 401, "token_missing")
    cancel(client, customer[1], booking)
    error = assert_error(
        move_quote(client, customer[1], booking, LATER, ["morning"]), 409, "invalid_transition"
    )
    assert error["context"] == {"from": "cancelled", "to": "rescheduled"}


# 2. Moves never improve the refund --------------------------------------------------------


def test_moving_a_booking_far_out_keeps_the_refund_it_had(client, customer, owner, venue):
    booking = wallet_booking(client, customer, venue, SOON)
    confirm(client, owner, booking)
    assert cancellation_quote(client, customer[1], booking)["refund_pct"] == 50

    data = moved(client, customer[1], booking, date=today_plus(90), slots=["morning"])
    assert data["change"]["refund_pct_before"] == 50

    # 90 days out the tiers alone would give 100 %; the move keeps it at the 50 % it had.
    quote = cancellation_quote(client, customer[1], booking)
    assert (quote["refund_pct"], quote["refund_amount"]) == (50, PRICE // 2)
    cancelled = cancel(client, customer[1], booking)
    assert cancelled["refund"] == {"pct": 50, "amount": PRICE // 2}
    assert stored(booking)["payment"] == {"method": "wallet", "paid": PRICE, "refunded": PRICE // 2}
    assert balance(customer[0]) == PRICE // 2


@pytest.mark.parametrize(
    ("to_date", "slots", "price", "refunded"),
    [
        (SOON, ["morning"], None, PRICE // 2),  # a slot dropped: 100 000 less, 50 % back
        (LATER, ["morning", "evening"], 60000, 40000),  # a cheaper date: 80 000 less
    ],
)
def test_paying_less_after_a_move_is_a_partial_cancel_at_the_policy_rate(
    client, customer, owner, venue, to_date, slots, price, refunded
):
    booking = wallet_booking(client, customer, venue, SOON, slots=("morning", "evening"))
    if price:
        set_price(client, owner, venue, to_date, price)
    confirm(client, owner, booking)

    change = moved(client, customer[1], booking, date=to_date, slots=slots)["change"]
    given_up = -change["price_delta"]
    assert (change["refund_pct"], change["refunded"]) == (50, refunded)
    assert change["forfeited"] == given_up - refunded
    doc = stored(booking)
    assert doc["payment"] == {"method": "wallet", "paid": 2 * PRICE, "refunded": refunded}
    assert doc["history"][0]["forfeited"] == given_up - refunded
    assert balance(customer[0]) == refunded
    notice = db.outbox().find_one(
        {"booking_id": doc["_id"], "kind": "booking_rescheduled", "to": customer[0]["email"]}
    )
    text, html = mail.rendered(notice)
    told = (
        f"{mail.money(refunded)} (50% of the lower price) to your Halls wallet; "
        f"{mail.money(given_up - refunded)} kept by the venue under the cancellation policy"
    )
    assert f"Refunded:     {told}" in text and told in html

    # Cancelling the rest refunds 50 % of what is still paid: in all, exactly what cancelling
    # the whole booking at once would have refunded.
    quote = cancellation_quote(client, customer[1], booking)
    assert quote["paid"] == 2 * PRICE - given_up
    cancel(client, customer[1], booking)
    assert balance(customer[0]) == PRICE


def test_a_hold_lapsing_after_the_customers_move_refunds_what_a_cancel_would(
    app, client, clock, customer, owner, venue
):
    booking = wallet_booking(client, customer, venue, SOON)
    confirm(client, owner, booking)
    after = moved(client, customer[1], booking, date=LATER, slots=["morning"])["booking"]
    assert after["status"] == "pending"

    clock.advance(hours=25)  # the owner never confirms it again
    sweep(app)

    doc = stored(booking)
    assert doc["status"] == "expired"
    assert doc["refund"] == {"pct": 50, "amount": PRICE // 2}
    assert doc["payment"] == {"method": "wallet", "paid": PRICE, "refunded": PRICE // 2}
    assert balance(customer[0]) == PRICE // 2
    assert_free(claim_of(venue, LATER, "morning"))


def test_a_hold_lapsing_after_the_owners_move_refunds_everything(
    app, client, clock, customer, owner, venue
):
    booking = wallet_booking(client, customer, venue, SOON)
    confirm(client, owner, booking)
    moved(client, owner[1], booking, date=LATER, slots=["morning"])
    clock.advance(hours=25)
    sweep(app)
    assert stored(booking)["refund"] == {"pct": 100, "amount": PRICE}
    assert balance(customer[0]) == PRICE


def test_a_move_before_the_owner_confirmed_sets_no_limit(client, customer, owner, venue):
    booking = wallet_booking(client, customer, venue, FAR)
    change = moved(client, customer[1], booking, date=SOON, slots=["morning"])["change"]
    assert change["refund_pct_before"] is None  # not bound yet: nothing to keep
    confirm(client, owner, booking)
    # Bound from the confirmation, at its new place: the 50 % tier, neither capped nor raised.
    assert cancel(client, customer[1], booking)["refund"] == {"pct": 50, "amount": PRICE // 2}


def test_an_owner_moving_a_booking_nearer_never_cuts_its_refund(client, customer, owner, venue):
    booking = wallet_booking(client, customer, venue, FAR)
    confirm(client, owner, booking)
    assert cancellation_quote(client, customer[1], booking)["refund_pct"] == 100

    moved(client, owner[1], booking, date=SOON, slots=["morning"])

    # Four days ahead the tiers alone would give 50 %; the owner's move keeps the 100 %.
    assert cancellation_quote(client, customer[1], booking)["refund_pct"] == 100
    assert cancel(client, customer[1], booking)["refund"] == {"pct": 100, "amount": PRICE}
    assert balance(customer[0]) == PRICE


def test_a_refund_a_crash_cut_off_is_paid_at_the_rate_the_move_gave(
    client, customer, owner, venue, monkeypatch
):
    from halls.wallet import service as wallet

    booking = wallet_booking(client, customer, venue, SOON, slots=("morning", "evening"))
    confirm(client, owner, booking)

    def crash(*args, **kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(wallet, "refund_for_booking", crash)
    response = move(client, customer[1], booking, date=SOON, slots=["morning"])
    assert_error(response, 500, "internal_error")
    monkeypatch.undo()
    assert stored(booking)["history"][0]["refunded"] == PRICE // 2
    assert balance(customer[0]) == 0

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    assert maintenance.repair_move_refunds(now=later) == 1
    assert balance(customer[0]) == PRICE // 2  # the 50 % the move gave, not the difference
    assert maintenance.repair_move_refunds(now=later) == 0


# 3. A booking keeps the policy it was made under ------------------------------------------


def test_an_owner_editing_the_policy_later_cannot_cut_a_bookings_refund(
    client, customer, owner, venue
):
    booking = wallet_booking(client, customer, venue, SOON)
    terms = {"cancellation": DEFAULT_TIERS, "reschedule_cutoff_hours": 48}
    assert booking["policy"] == terms
    confirm(client, owner, booking)

    stingy = [{"min_hours_before": 0, "refund_pct": 0}]
    body = {"cancellation_policy": stingy, "reschedule_cutoff_hours": 240}
    ok_data(client.patch(f"/venues/{venue['_id']}", json=body, headers=owner[1]))

    shown = ok_data(client.get(f"/bookings/{booking['id']}", headers=customer[1]))["booking"]
    assert shown["policy"] == terms and stored(booking)["policy"] == terms
    quote = cancellation_quote(client, customer[1], booking)
    assert (quote["refund_pct"], quote["policy"]) == (50, DEFAULT_TIERS)
    assert cancel(client, customer[1], booking)["refund"] == {"pct": 50, "amount": PRICE // 2}
    assert balance(customer[0]) == PRICE // 2

    # A booking made after the edit is made under the new terms.
    later = booked(client, customer[1], venue, date=FAR, slots=["evening"])
    assert later["policy"] == {"cancellation": stingy, "reschedule_cutoff_hours": 240}


def test_a_booking_keeps_the_reschedule_cutoff_it_was_made_under(client, customer, owner, venue):
    booking = booked(client, customer[1], venue, date=SOON, slots=["morning"])
    body = {"reschedule_cutoff_hours": 500}
    ok_data(client.patch(f"/venues/{venue['_id']}", json=body, headers=owner[1]))
    assert moved(client, customer[1], booking, date=LATER, slots=["morning"])


def test_migrate_gives_older_bookings_their_venues_terms_and_their_moves_refunds(
    app, customer, make_venue, owner
):
    tiers = [{"min_hours_before": 24, "refund_pct": 80}, {"min_hours_before": 0, "refund_pct": 0}]
    venue = make_venue(owner[0], slots=SLOTS, cancellation_policy=tiers, reschedule_cutoff_hours=12)
    move = {
        "at": dt.datetime(2030, 1, 2, tzinfo=dt.UTC),
        "by": customer[0]["_id"],
        "from": {"date": SOON, "slots": ["morning", "evening"]},
        "to": {"date": SOON, "slots": ["morning"]},
        "price_delta": -PRICE,
    }
    # A later move already in today's shape is kept as it is.
    newer = {**move, "at": dt.datetime(2030, 1, 3, tzinfo=dt.UTC), "price_delta": 0}
    newer.update(refund_pct_before=50, refund_pct=100, refunded=0, forfeited=0)
    booking_id = ObjectId()
    older = {
        "_id": booking_id,
        "venue_id": venue["_id"],
        "user_id": customer[0]["_id"],
        "owner_id": owner[0]["_id"],
        "date": SOON,
        "slots": ["morning"],
        "slot": "morning",
        "slot_details": [SLOTS[0]],
        "status": "confirmed",
        "price_locked": {"lines": [], "subtotal": PRICE, "total": PRICE, "currency": "PKR"},
        "payment": {"method": "wallet", "paid": 2 * PRICE, "refunded": PRICE},
        "addons": [],
        "history": [move, newer],
    }
    db.bookings().insert_one(older)

    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert "1 without a policy, 1 with moves of the older shape," in result.output
    assert result.output.strip().endswith("; 0 left")
    doc = db.bookings().find_one({"_id": booking_id})
    assert doc["policy"] == {"cancellation": tiers, "reschedule_cutoff_hours": 12}
    terms = {"refund_pct_before": None, "refund_pct": 100, "refunded": PRICE, "forfeited": 0}
    assert doc["history"] == [{**move, **terms}, newer]
    assert policy.net_paid(doc) == PRICE
    again = app.test_cli_runner().invoke(args=["migrate"])
    assert "migrated 0 bookings" in again.output
    assert db.bookings().find_one({"_id": booking_id}) == doc


# 4. No free blocking of a calendar --------------------------------------------------------


def test_one_account_cannot_hold_a_venues_whole_calendar(client, customer, venue):
    days = [today_plus(d) for d in range(3, 33)]
    for day in days[:2]:
        booked(client, customer[1], venue, date=day, slots=["morning", "evening"])
    before = snapshot()

    for day in days[2:]:
        response = book(client, customer[1], venue, date=day, slots=["morning", "evening"])
        error = assert_error(response, 409, "too_many_holds")
    assert error["context"] == {
        "holds": 2,
        "holds_at_venue": 2,
        "max_holds_per_customer": 5,
        "max_holds_per_venue": 2,
    }
    assert snapshot() == before

    path = f"/venues/{venue['_id']}/availability?from={days[0]}&to={days[-1]}"
    calendar = ok_data(client.get(path))["days"]
    assert sum(day["available"] for day in calendar) == 28


def test_a_customer_holds_at_most_five_venues_slots_at_once(client, customer, make_venue, owner):
    venues = [
        make_venue(owner[0], slots=SLOTS, dates_available=[FAR, today_plus(11)]) for _ in range(3)
    ]
    for place in venues[:2]:
        for day in (FAR, today_plus(11)):
            booked(client, customer[1], place, date=day, slots=["morning"])
    booked(client, customer[1], venues[2], date=FAR, slots=["morning"])
    before = snapshot()

    response = book(client, customer[1], venues[2], date=today_plus(11), slots=["morning"])
    error = assert_error(response, 409, "too_many_holds")
    assert (error["context"]["holds"], error["context"]["holds_at_venue"]) == (5, 1)
    assert snapshot() == before


def test_only_live_unpaid_holds_count(app, client, clock, customer, make_venue, owner, venue):
    first = booked(client, customer[1], venue, date=FAR, slots=["morning"])
    booked(client, customer[1], venue, date=FAR, slots=["evening"])
    assert_error(
        book(client, customer[1], venue, date=LATER, slots=["morning"]), 409, "too_many_holds"
    )
    # Paid from the wallet: the money is taken, so it is no free hold.
    fund(customer[0], PRICE)
    paid = book(client, customer[1], venue, date=LATER, slots=["morning"], payment_method="wallet")
    assert paid.status_code == 201
    # An auto-confirming venue holds nothing: the owner chose to take the booking at once.
    auto = make_venue(owner[0], auto_confirm=True)
    for day in (FAR, LATER, SOON):
        assert booked(client, customer[1], auto, date=day)["status"] == "confirmed"
    # Once the owner answers one, another may be asked for.
    confirm(client, owner, first)
    assert booked(client, customer[1], venue, date=LATER, slots=["evening"])
    # A lapsed hold no longer counts.
    clock.advance(hours=25)
    assert booked(client, customer[1], venue, date=today_plus(12), slots=["morning"])


@pytest.fixture
def one_hold(app_config):
    app_config.update(MAX_HOLDS_PER_VENUE=1)


def test_the_caps_come_from_the_configuration(one_hold, client, customer, venue):
    booked(client, customer[1], venue, date=FAR, slots=["morning"])
    error = assert_error(
        book(client, customer[1], venue, date=LATER, slots=["morning"]), 409, "too_many_holds"
    )
    assert error["context"]["max_holds_per_venue"] == 1
    assert config.from_env({})["MAX_HOLDS_PER_VENUE"] == 2
    assert config.from_env({})["MAX_HOLDS_PER_CUSTOMER"] == 5
    assert config.from_env({"MAX_HOLDS_PER_CUSTOMER": "9"})["MAX_HOLDS_PER_CUSTOMER"] == 9
    for name in ("MAX_HOLDS_PER_VENUE", "MAX_HOLDS_PER_CUSTOMER"):
        with pytest.raises(config.ConfigError, match=name):
            config.from_env({name: "0"})


def test_moving_a_pending_booking_never_extends_its_hold(client, clock, customer, make_user, venue):
    booking = booked(client, customer[1], venue, date=FAR, slots=["morning"])
    held_until = stored(booking)["expires_at"]
    clock.advance(hours=20)

    after = moved(client, customer[1], booking, date=today_plus(11), slots=["morning"])["booking"]

    assert stored(booking)["expires_at"] == held_until
    assert after["expires_at"] == booking["expires_at"]
    assert_held_by(claim_of(venue, today_plus(11), "morning"), booking["id"])
    clock.advance(hours=5)
    seen = ok_data(client.get(f"/bookings/{booking['id']}", headers=customer[1]))["booking"]
    assert seen["status"] == "expired"
    assert booked(client, make_user()[1], venue, date=today_plus(11), slots=["morning"])

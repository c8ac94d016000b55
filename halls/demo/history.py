"""Six months of demo bookings, replayed through the real services at the times they happened.

Every booking is made, confirmed, rejected, cancelled or moved by the same service functions a
request calls, with the clock set to that moment (`clock.frozen`), so claims, holds, prices,
refunds and the wallet ledger are what they would be had people done it: a wallet's balance
is the sum of its entries, and nothing is written by hand. The nightly `expire-holds` runs too,
so past confirmed bookings end `completed` and a hold nobody answered ends `expired`.

Times are days before today at a local time in Karachi, or hours before now for today's, so
the history moves with the calendar while the accounts and venues keep their ids.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from halls import clock, rules
from halls.bookings import claims, create, maintenance, reschedule
from halls.bookings import service as bookings
from halls.bookings.schemas import BookingIn
from halls.wallet import service as wallet

ZONE = ZoneInfo(rules.DEFAULT_TIMEZONE)
HISTORY_DAYS = 180  # how far back the venues opened and the first booking was made
SWEEP_AT = "03:00"  # when the nightly expire-holds runs, local time

# (when, who, what, booking, details). `when` is (days ago, "HH:MM" local) or (0, "-Nh"): N
# hours before now. A booking's details: venue, date (days from today), slots, guests,
# add-on keys, payment; its name is how later lines refer to it.
TIMELINE = [
    ((176, "10:00"), "admin", "credit", "customer", 2_000_000),
    ((176, "10:05"), "admin", "credit", "ayesha", 3_000_000),
    # Completed: confirmed, then their day passed.
    ((172, "18:30"), "bilal", "book", "faisal-seminar",
     ("Shahrah-e-Faisal Convention Hall", -160, ["evening"], 600, [], "pay_at_venue")),
    ((172, "21:00"), "owner", "confirm", "faisal-seminar", None),
    ((170, "12:00"), "bilal", "book", "johar-walima",
     ("Johar Town Marquee", -150, ["dinner"], 450, [], "pay_at_venue")),
    ((170, "15:00"), "owner", "confirm", "johar-walima", None),
    ((150, "11:00"), "customer", "book", "mall-road-tea",
     ("Mall Road Heritage Hall", -120, ["morning"], 200, ["tea_service"], "wallet")),
    ((150, "13:30"), "owner", "confirm", "mall-road-tea", None),
    ((130, "19:00"), "bilal", "book", "clifton-dinner",
     ("Clifton Seaview Banquet", -100, ["dinner"], 350, ["catering"], "pay_at_venue")),
    ((130, "20:15"), "owner", "confirm", "clifton-dinner", None),
    ((110, "16:00"), "customer", "book", "margalla-dinner",
     ("Margalla View Lawn", -85, ["dinner"], 400, ["catering", "generator"], "pay_at_venue")),
    ((110, "18:00"), "owner", "confirm", "margalla-dinner", None),
    ((100, "10:30"), "ayesha", "book", "shalimar-barat",
     ("Shalimar Grand Banquet", -70, ["dinner"], 600, ["catering", "stage_decor"],
      "pay_at_venue")),
    ((100, "12:00"), "owner", "confirm", "shalimar-barat", None),
    ((90, "17:00"), "customer", "book", "gulshan-aqiqa",
     ("Gulshan Community Hall", -50, ["evening"], 150, [], "wallet")),
    ((90, "20:00"), "bilal", "book", "f7-lunch",
     ("F-7 Markaz Banquet", -60, ["lunch"], 300, ["photography"], "pay_at_venue")),
    ((90, "21:30"), "owner", "confirm", "f7-lunch", None),
    ((75, "11:00"), "customer", "book", "model-town-seminar",
     ("Model Town Community Auditorium", -45, ["full_day"], 400, ["projector"], "wallet")),
    ((75, "12:00"), "owner", "confirm", "model-town-seminar", None),
    ((64, "15:00"), "ayesha", "book", "dha-mehndi",
     ("DHA Phase 5 Garden Lawn", -35, ["dinner"], 500, ["mehndi_decor", "lighting"],
      "wallet")),
    ((64, "17:00"), "owner", "confirm", "dha-mehndi", None),
    # Rejected by the owner: a wallet payment comes back whole.
    ((60, "09:30"), "customer", "book", "canal-view-lunch",
     ("Canal View Banquet", -30, ["lunch"], 250, [], "wallet")),
    ((60, "12:00"), "owner", "reject", "canal-view-lunch",
     "The hall is being repainted that week; sorry."),
    # Cancelled four days ahead: half back under the default policy.
    ((54, "10:00"), "customer", "cancel", "gulshan-aqiqa", "The family moved the date."),
    ((40, "13:00"), "bilal", "book", "saddar-play",
     ("Saddar Arts Auditorium", -21, ["full_day"], 480, [], "pay_at_venue")),
    ((40, "16:00"), "owner", "confirm", "saddar-play", None),
    # Never answered: the hold ran out and the nightly sweep marked it expired.
    ((40, "19:00"), "customer", "book", "walled-city-poetry",
     ("Walled City Courtyard Hall", -20, ["evening"], 120, [], "pay_at_venue")),
    ((30, "11:00"), "customer", "book", "shalimar-lunch",
     ("Shalimar Grand Banquet", -10, ["lunch"], 300, ["catering"], "pay_at_venue")),
    ((30, "12:30"), "owner", "confirm", "shalimar-lunch", None),
    ((25, "14:00"), "ayesha", "book", "bahria-dholki",
     ("Bahria Town Grand Lawn", -4, ["dinner"], 700, [], "pay_at_venue")),
    ((25, "16:00"), "owner", "confirm", "bahria-dholki", None),
    # Ahead: confirmed, moved, cancelled with a refund, pending.
    ((20, "12:00"), "customer", "book", "shalimar-walima",
     ("Shalimar Grand Banquet", 25, ["dinner"], 500, ["catering", "photography"],
      "pay_at_venue")),
    ((20, "14:00"), "owner", "confirm", "shalimar-walima", None),
    ((18, "10:00"), "bilal", "book", "clifton-engagement",
     ("Clifton Seaview Banquet", 50, ["dinner"], 300, ["catering", "valet"], "pay_at_venue")),
    ((18, "11:00"), "owner", "confirm", "clifton-engagement", None),
    ((15, "09:00"), "customer", "book", "blue-area-workshop",
     ("Blue Area Conference Hall", 12, ["morning"], 80, [], "wallet")),
    ((12, "15:00"), "customer", "book", "model-town-launch",
     ("Model Town Community Auditorium", 35, ["full_day"], 350, ["projector", "stage_lights"],
      "wallet")),
    ((12, "16:00"), "owner", "confirm", "model-town-launch", None),
    ((3, "18:00"), "customer", "move", "shalimar-walima", (28, ["dinner"])),
    ((3, "20:30"), "owner", "confirm", "shalimar-walima", None),
    ((2, "12:00"), "customer", "cancel", "blue-area-workshop", "The workshop went online."),
    ((0, "-5h"), "customer", "book", "dha-mehndi-pending",
     ("DHA Phase 5 Garden Lawn", 40, ["dinner"], 350, ["catering", "mehndi_decor"],
      "pay_at_venue")),
    ((0, "-3h"), "ayesha", "book", "shalimar-nikah",
     ("Shalimar Grand Banquet", 21, ["lunch"], 250, ["catering"], "wallet")),
    ((0, "-2h"), "bilal", "move", "clifton-engagement", (52, ["dinner"])),
]  # fmt: skip


def replay(people, venues, today, now):
    """Play TIMELINE (and a nightly expire-holds) in time order; returns the bookings by name."""
    events = [(instant(when, today, now), who, what, name, details)
              for when, who, what, name, details in TIMELINE]  # fmt: skip
    for days in range(HISTORY_DAYS, 0, -1):
        events.append((instant((days, SWEEP_AT), today, now), None, "sweep", None, None))
    made = {}
    for at, who, what, name, details in sorted(events, key=lambda event: event[0]):
        with clock.frozen(at):
            _play(what, people.get(who), name, details, people, venues, today, made)
    sweep()  # today's run, at the real time
    return made


def _play(what, user, name, details, people, venues, today, made):
    if what == "sweep":
        maintenance.expire_holds()
        maintenance.complete_bookings()
    elif what == "credit":
        wallet.credit_wallet(user, people[name]["_id"], details, "Demo top-up")
    elif what == "book":
        made[name] = _book(user, venues, today, details)
    elif what == "confirm":
        made[name] = bookings.decide_booking(user, made[name]["_id"], "confirmed")
    elif what == "reject":
        made[name] = bookings.decide_booking(user, made[name]["_id"], "rejected", details)
    elif what == "cancel":
        made[name] = bookings.cancel_booking(user, made[name]["_id"], details)
    elif what == "move":
        date, slots = details
        booking_id, day = made[name]["_id"], _day(today, date)
        # As a customer's app does: show what the move costs, then ask for it at that total.
        shown = reschedule.quote_reschedule(user, booking_id, day, slots)
        total = shown["quote"]["total"]
        made[name], _ = reschedule.reschedule_booking(user, booking_id, day, slots, total)
    else:  # pragma: no cover - a typo in TIMELINE
        raise ValueError(f"unknown demo step {what!r}")


def _book(user, venues, today, details):
    venue_name, date, slots, guests, addons, payment = details
    # The body a customer would POST to /bookings; it passes the same schema.
    body = BookingIn().load(
        {
            "venue_id": str(venues[venue_name]["_id"]),
            "date": _day(today, date),
            "slots": slots,
            "guests": guests,
            "addons": [{"key": key} for key in addons],
            "payment_method": payment,
        }
    )
    return create.create_booking(user, **body)


def sweep():
    """What `flask --app wsgi expire-holds` does, now."""
    maintenance.expire_holds()
    maintenance.complete_bookings()
    claims.sweep_orphans()
    claims.delete_past()


def _day(today, offset):
    return (dt.date.fromisoformat(today) + dt.timedelta(days=offset)).isoformat()


def instant(when, today, now):
    days, at = when
    if at.startswith("-"):
        return now - dt.timedelta(hours=int(at[1:-1]))
    local = dt.datetime.fromisoformat(f"{_day(today, -days)}T{at}").replace(tzinfo=ZONE)
    return local.astimezone(dt.UTC)

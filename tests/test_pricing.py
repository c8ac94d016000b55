"""pricing.quote and check_expected_total: pure functions of a venue document (no app, no DB)."""

import datetime as dt

import pytest

from halls import pricing
from halls.errors import Conflict, Unprocessable
from tests.helpers import CATERING, DECOR, SOUND, TWO_SLOTS

NOW = dt.datetime(2030, 5, 1, 9, 30, tzinfo=dt.UTC)
DAY = "2030-05-20"


def venue(**fields):
    doc = {
        "capacity": 300,
        "pricing": {"base_price": 100000, "overrides": [{"date": DAY, "price": 120000}]},
        "slots": TWO_SLOTS,
        "addons": [dict(CATERING), dict(DECOR), dict(SOUND)],  # copies: a test edits one
    }
    doc.update(fields)
    return doc


def quote(doc=None, slots=("lunch",), guests=100, addons=None, date=DAY):
    return pricing.quote(doc or venue(), date, list(slots), guests, addons, now=NOW)


def test_one_line_per_slot_in_the_venues_order_at_the_price_of_the_day():
    result = quote(slots=["dinner", "lunch"])
    assert result == {
        "lines": [
            {
                "kind": "slot",
                "key": "lunch",
                "label": "Lunch",
                "unit_price": 120000,
                "qty": 1,
                "amount": 120000,
            },
            {
                "kind": "slot",
                "key": "dinner",
                "label": "Dinner",
                "unit_price": 120000,
                "qty": 1,
                "amount": 120000,
            },
        ],
        "subtotal": 240000,
        "total": 240000,
        "currency": "PKR",
        "valid_until": NOW + dt.timedelta(minutes=15),
    }


def test_the_base_price_applies_without_an_override():
    result = quote(date="2030-05-21")
    assert [line["unit_price"] for line in result["lines"]] == [100000]
    assert result["total"] == 100000


def test_a_one_slot_venue_needs_no_slot_named():
    only = [{"key": "full_day", "label": "Full day", "start": "00:00", "end": "23:59"}]
    result = quote(venue(slots=only), slots=())
    assert [(line["key"], line["label"]) for line in result["lines"]] == [("full_day", "Full day")]


def test_an_old_venue_without_slots_is_priced_as_one_full_day():
    doc = venue()
    del doc["slots"]
    assert [line["key"] for line in quote(doc, slots=())["lines"]] == ["full_day"]


@pytest.mark.parametrize(
    ("slots", "message"),
    [
        ((), "choose at least one"),
        (("lunch", "lunch"), "only once"),
        (("brunch",), "No such slot: brunch"),
    ],
)
def test_slots_must_be_the_venues_own_and_distinct(slots, message):
    with pytest.raises(Unprocessable) as caught:
        quote(slots=slots)
    assert message in caught.value.details["slots"][0]
    assert caught.value.context["known_slots"] == ["lunch", "dinner"]


def test_add_on_lines_per_event_and_per_guest():
    result = quote(
        guests=120, addons=[{"key": "catering"}, {"key": "decor"}, {"key": "sound", "qty": 2}]
    )
    addon_lines = result["lines"][1:]
    assert addon_lines == [
        {
            "kind": "addon",
            "key": "catering",
            "label": "Catering",
            "unit_price": 2500,
            "qty": 120,  # per guest: defaults to the guests
            "amount": 300000,
        },
        {
            "kind": "addon",
            "key": "decor",
            "label": "Stage decor",
            "unit_price": 40000,
            "qty": 1,  # per event: defaults to one
            "amount": 40000,
        },
        {
            "kind": "addon",
            "key": "sound",
            "label": "Sound system",
            "unit_price": 15000,
            "qty": 2,
            "amount": 30000,
        },
    ]
    assert result["subtotal"] == result["total"] == 120000 + 300000 + 40000 + 30000


def test_a_per_guest_add_on_may_cover_fewer_guests():
    result = quote(guests=120, addons=[{"key": "catering", "qty": 80}])
    assert result["lines"][1]["amount"] == 80 * 2500


def test_every_bad_add_on_is_named_in_one_error():
    choices = [
        {"key": "catering", "qty": 101},  # more than the 100 guests
        {"key": "decor", "qty": 2},  # over max_qty 1
        {"key": "sound", "qty": 0},
        {"key": "fireworks", "qty": 1},
    ]
    with pytest.raises(Unprocessable) as caught:
        quote(guests=100, addons=choices)
    problems = caught.value.details["addons"]
    assert set(problems) == {"catering", "decor", "sound", "fireworks"}
    assert "100 guests" in problems["catering"][0]
    assert "At most 1" in problems["decor"][0]
    assert "at least 1" in problems["sound"][0]
    assert "no such add-on" in problems["fireworks"][0]
    assert caught.value.context["known_addons"] == ["catering", "decor", "sound"]


def test_an_add_on_may_be_chosen_once():
    with pytest.raises(Unprocessable) as caught:
        quote(addons=[{"key": "sound", "qty": 1}, {"key": "sound", "qty": 1}])
    assert caught.value.details["addons"] == {"sound": ["Choose each add-on only once."]}


def test_a_venue_stored_before_add_ons_offers_none():
    doc = venue()
    del doc["addons"]
    assert len(quote(doc)["lines"]) == 1
    with pytest.raises(Unprocessable) as caught:
        quote(doc, addons=[{"key": "decor"}])
    assert caught.value.context["known_addons"] == []


def test_guests_over_capacity_are_refused():
    with pytest.raises(Unprocessable) as caught:
        quote(guests=301)
    assert caught.value.context["capacity"] == 300


def test_no_price_for_the_date_is_a_conflict():
    doc = venue(pricing={"base_price": None, "overrides": []})
    with pytest.raises(Conflict) as caught:
        quote(doc)
    assert caught.value.error_code == "no_price_for_date"
    assert caught.value.context == {"date": DAY}


def test_a_quote_is_a_snapshot_of_the_venue():
    doc = venue()
    result = quote(doc, addons=[{"key": "decor"}])
    doc["addons"][1]["price"] = 1
    doc["pricing"]["overrides"][0]["price"] = 1
    assert result["total"] == 120000 + 40000


def test_locked_keeps_everything_but_the_validity():
    result = quote()
    assert pricing.locked(result) == {
        name: value for name, value in result.items() if name != "valid_until"
    }
    assert "valid_until" in result


def test_the_expected_total_may_be_absent_or_equal():
    result = quote()
    assert pricing.check_expected_total(result, None) is None
    assert pricing.check_expected_total(result, 120000) is None


def test_a_different_expected_total_is_price_changed_with_the_new_quote():
    result = quote()
    with pytest.raises(Conflict) as caught:
        pricing.check_expected_total(result, 100000)
    assert caught.value.error_code == "price_changed"
    assert caught.value.context["expected_total"] == 100000
    shown = caught.value.context["quote"]
    assert shown["total"] == 120000
    assert shown["lines"] == result["lines"]
    assert shown["valid_until"] == "2030-05-01T09:45:00.000Z"  # JSON-ready, as the API shows it

"""Fixtures the booking tests share."""

import pytest

from tests.bookings.helpers import SLOTS


@pytest.fixture
def venue(make_venue, owner):
    """make_venue's defaults: one full-day slot, 100000 PKR, open for the next 30 days."""
    return make_venue(owner.user)


@pytest.fixture
def open_venue(make_venue, owner):
    """Two slots, no notice needed: bookable close to the event, to reach every policy tier."""
    return make_venue(owner.user, slots=SLOTS, min_notice_hours=0)

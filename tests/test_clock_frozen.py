"""clock.frozen: the demo replays its history at the times it happened, then time goes on."""

import datetime as dt

import pytest

from halls import clock


def test_frozen_answers_the_time_it_was_given_and_then_the_real_one():
    at = dt.datetime(2025, 3, 1, 10, 30, 15, 123456, tzinfo=dt.UTC)

    with clock.frozen(at) as frozen:
        first, second = clock.now(), clock.now()

    # Milliseconds, as BSON keeps them and as now() always answers.
    assert frozen == first == second == at.replace(microsecond=123000)
    after = clock.now()
    assert abs(after - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_frozen_puts_back_the_clock_it_found_even_after_an_error(clock):
    clock.set(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    from halls import clock as halls_clock

    with pytest.raises(RuntimeError), halls_clock.frozen(dt.datetime(2020, 1, 1, tzinfo=dt.UTC)):
        assert halls_clock.now().year == 2020
        raise RuntimeError("a step of the history failed")

    assert halls_clock.now() == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

"""The generated benchmark dataset: venues, booking targets and search queries, from a seed.

Everything is plain request bodies and query strings, so the same dataset is loaded over HTTP
(bench/run.py) or through the Flask test client (bench/profile.py).
"""

import datetime as dt
import math
import random
from zoneinfo import ZoneInfo

DAYS = 90
# The first bookable date: two days ahead clears the default 24 h min_notice_hours in any slot.
FIRST_DAY = 2
PASSWORD = "bench-password-2025"
TYPES = ("Hall", "Auditorium", "Banquet", "Lawn")
AMENITIES = (
    "parking_valet",
    "water",
    "air_conditioner",
    "stage",
    "sound_system",
    "generator_backup",
    "bridal_room",
    "catering",
)
# name: (lat, lng); venues are scattered within RADIUS_KM of these centres.
CITIES = {
    "Lahore": (31.5204, 74.3587),
    "Karachi": (24.8607, 67.0011),
    "Islamabad": (33.6844, 73.0479),
    "Rawalpindi": (33.5651, 73.0169),
    "Faisalabad": (31.4504, 73.1350),
    "Multan": (30.1575, 71.5249),
    "Peshawar": (34.0151, 71.5249),
    "Quetta": (30.1798, 66.9750),
}
RADIUS_KM = 25
SLOT_SHAPES = (
    [{"key": "full_day", "label": "Full day", "start": "08:00", "end": "23:00"}],
    [
        {"key": "morning", "label": "Morning", "start": "09:00", "end": "14:00"},
        {"key": "evening", "label": "Evening", "start": "17:00", "end": "22:30"},
    ],
    [
        {"key": "breakfast", "label": "Breakfast", "start": "08:00", "end": "11:00"},
        {"key": "lunch", "label": "Lunch", "start": "12:00", "end": "16:00"},
        {"key": "dinner", "label": "Dinner", "start": "19:00", "end": "23:30"},
    ],
)
PRICE_BANDS = ((50_000, 300_000), (200_000, 600_000), (500_000, 1_500_000), (0, 2_000_000))


def rng(seed):
    """A seeded generator (benchmark data, not secrets)."""
    return random.Random(seed)  # noqa: S311 - reproducible test data, not security


def today():
    """Today in Asia/Karachi, the default venue time zone."""
    return dt.datetime.now(ZoneInfo("Asia/Karachi")).date()


def bench_dates(start=None):
    """The DAYS bookable dates, YYYY-MM-DD, from FIRST_DAY days ahead."""
    start = (start or today()) + dt.timedelta(days=FIRST_DAY)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range(DAYS)]


def _scatter(rand, centre):
    """A point within RADIUS_KM of the centre, uniform over the disc."""
    lat, lng = centre
    distance = RADIUS_KM * math.sqrt(rand.random())
    angle = rand.random() * 2 * math.pi
    dlat = distance * math.cos(angle) / 111.0
    dlng = distance * math.sin(angle) / (111.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lng + dlng, 6)


def venue_body(rand, index, dates):
    """The POST /venues/register body of venue number index."""
    city = rand.choice(list(CITIES))
    lat, lng = _scatter(rand, CITIES[city])
    kind = rand.choice(TYPES)
    base = rand.randrange(50, 1500) * 1000
    # Most dates open (about 85 %), so the date filter has something to drop.
    open_dates = [date for date in dates if rand.random() < 0.85]
    weekend = [date for date in open_dates if dt.date.fromisoformat(date).weekday() in (4, 5, 6)]
    overrides = [{"date": date, "price": base * 6 // 5} for date in weekend[:12]]
    return {
        "venue_name": f"Bench {kind} {index:05d}",
        "type": kind,
        "address": f"Plot {index}, Block {rand.choice('ABCDEFGH')}, {city}",
        "city": city,
        "maps_location": {"lat": lat, "lng": lng},
        "capacity": rand.randrange(50, 2000, 50),
        "space_sqft": float(rand.randrange(2000, 40000, 500)),
        "amenities": {name: True for name in AMENITIES if rand.random() < 0.5},
        "additional_description": f"Generated venue {index} for the halls benchmark.",
        "dates_available": open_dates,
        "pricing": {"base_price": base, "overrides": overrides},
        "slots": [dict(slot) for slot in rand.choice(SLOT_SHAPES)],
    }


def search_queries(rand, dates, count=200):
    """Query strings for GET /venues/search: a date, near a city centre, a price band."""
    queries = []
    for _ in range(count):
        lat, lng = CITIES[rand.choice(list(CITIES))]
        low, high = rand.choice(PRICE_BANDS)
        queries.append(
            f"date={rand.choice(dates)}&near_lat={lat}&near_lng={lng}&near_km=15"
            f"&price_min={low}&price_max={high}"
        )
    return queries


def pick_free_slots(rand, venues, dates, count, taken):
    """count distinct (venue index, date, slot key) not in taken (which grows); open dates only.

    venues is a list of register bodies (their dates_available and slots are used).
    """
    picked = []
    attempts = 0
    while len(picked) < count:
        attempts += 1
        if attempts > count * 50:
            raise RuntimeError("the dataset has too few free slots for this many bookings")
        index = rand.randrange(len(venues))
        venue = venues[index]
        if not venue["dates_available"]:
            continue
        date = rand.choice(venue["dates_available"])
        slot = rand.choice(venue["slots"])["key"]
        key = (index, date, slot)
        if key in taken:
            continue
        taken.add(key)
        picked.append(key)
    return picked

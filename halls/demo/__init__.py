"""Demo data: an owner, a customer and 25 venues around Lahore, Karachi and Islamabad.

Loaded by `make run` (HALLS_DEMO_DATA=true) and `flask --app wsgi seed-demo`. The logins are
published in the README, so production refuses to load them.
"""

import datetime as dt
import logging

from flask import current_app

from halls import db
from halls.auth import service as accounts
from halls.config import ConfigError
from halls.errors import Conflict
from halls.rules import local_today
from halls.venues import service as venues
from halls.venues.schemas import VenueIn

log = logging.getLogger("halls.demo")

OWNER_EMAIL = "owner@halls.demo"
CUSTOMER_EMAIL = "customer@halls.demo"
PASSWORD = "halls-demo-2025"
DAYS = 90

HALL_SLOTS = [
    {"key": "morning", "label": "Morning", "start": "09:00", "end": "14:00"},
    {"key": "evening", "label": "Evening", "start": "17:00", "end": "22:30"},
]
EVENT_SLOTS = [
    {"key": "lunch", "label": "Lunch", "start": "12:00", "end": "16:00"},
    {"key": "dinner", "label": "Dinner", "start": "19:00", "end": "23:30"},
]
FULL_DAY = [{"key": "full_day", "label": "Full day", "start": "08:00", "end": "23:00"}]
SLOTS = {"Hall": HALL_SLOTS, "Banquet": EVENT_SLOTS, "Lawn": EVENT_SLOTS, "Auditorium": FULL_DAY}

# City: (name, type, address,
#        lat, lng, capacity, sq ft, base price PKR, amenity letters, weekend surcharge %).
# Coordinates are those of the real neighbourhoods named in the addresses.
VENUES = {
    "Lahore": [
        ("Shalimar Grand Banquet", "Banquet", "Main Boulevard, Gulberg III",
         31.5120, 74.3440, 800, 14000, 650000, "pvwaesgbc", 20),
        ("Mall Road Heritage Hall", "Hall", "Near Alhamra Arts Council, The Mall",
         31.5585, 74.3306, 350, 5200, 180000, "wase", 0),
        ("DHA Phase 5 Garden Lawn", "Lawn", "Sector B, DHA Phase 5",
         31.4629, 74.4080, 1200, 30000, 900000, "pvwegbc", 25),
        ("Johar Town Marquee", "Banquet", "Block H, Johar Town",
         31.4697, 74.2728, 600, 11000, 420000, "pwaspgc", 0),
        ("Model Town Community Auditorium", "Auditorium", "Link Road, Model Town",
         31.4834, 74.3256, 450, 7000, 220000, "wasgS", 0),
        ("Bahria Town Grand Lawn", "Lawn", "Sector C, Bahria Town",
         31.3690, 74.1840, 1500, 40000, 1100000, "pvwesgbc", 20),
        ("Canal View Banquet", "Banquet", "Canal Bank Road, Garden Town",
         31.5040, 74.3240, 700, 12500, 520000, "pvwaesgb", 0),
        ("Walled City Courtyard Hall", "Hall", "Inside Delhi Gate, Walled City",
         31.5787, 74.3236, 150, 2600, 95000, "ws", 0),
        ("Raiwind Road Farmhouse Lawn", "Lawn", "Raiwind Road, near Thokar Niaz Baig",
         31.4100, 74.2450, 2000, 55000, 1200000, "pwegc", 0),
    ],
    "Karachi": [
        ("Clifton Seaview Banquet", "Banquet", "Block 5, Clifton",
         24.8138, 67.0300, 900, 16000, 780000, "pvwaesgbc", 20),
        ("DHA Phase 6 Marquee Lawn", "Lawn", "Khayaban-e-Shamsheer, DHA Phase 6",
         24.7935, 67.0645, 1500, 38000, 1050000, "pvwesgbc", 25),
        ("Shahrah-e-Faisal Convention Hall", "Hall", "Shahrah-e-Faisal, near Nursery",
         24.8620, 67.0740, 1000, 18000, 600000, "pwaspgS", 0),
        ("Gulshan Community Hall", "Hall", "Block 13-D, Gulshan-e-Iqbal",
         24.9214, 67.0945, 300, 4800, 120000, "wasp", 0),
        ("North Nazimabad Banquet", "Banquet", "Block L, North Nazimabad",
         24.9425, 67.0440, 650, 11500, 450000, "pwaesgbc", 0),
        ("Saddar Arts Auditorium", "Auditorium", "Abdullah Haroon Road, Saddar",
         24.8590, 67.0280, 500, 8000, 260000, "wasgS", 0),
        ("PECHS Garden Lawn", "Lawn", "Block 2, PECHS",
         24.8710, 67.0620, 800, 20000, 550000, "pwegc", 15),
        ("Malir Cantt Lawn", "Lawn", "Malir Cantonment",
         24.9420, 67.2050, 1200, 32000, 700000, "pwsgc", 0),
    ],
    "Islamabad": [
        ("F-7 Markaz Banquet", "Banquet", "Jinnah Super Market, F-7 Markaz",
         33.7214, 73.0560, 500, 9000, 480000, "pvwaesgbc", 0),
        ("Margalla View Lawn", "Lawn", "Margalla Road, F-6",
         33.7325, 73.0740, 900, 24000, 750000, "pvwesgc", 20),
        ("Blue Area Conference Hall", "Hall", "Jinnah Avenue, Blue Area",
         33.7104, 73.0588, 250, 4000, 150000, "wapsS", 0),
        ("F-9 Park Pavilion", "Lawn", "Fatima Jinnah Park, F-9",
         33.7000, 73.0220, 1000, 28000, 680000, "pwegc", 0),
        ("G-9 Markaz Banquet", "Banquet", "Karachi Company, G-9 Markaz",
         33.6936, 73.0333, 450, 8200, 320000, "pwaesgc", 0),
        ("H-8 Auditorium", "Auditorium", "Sector H-8/4",
         33.6780, 73.0710, 600, 9500, 240000, "wasgS", 0),
        ("DHA Phase 2 Marquee", "Banquet", "Sector E, DHA Phase 2",
         33.5300, 73.1560, 1100, 19000, 820000, "pvwaesgbc", 15),
        ("Bahria Enclave Hillside Lawn", "Lawn", "Sector H, Bahria Enclave",
         33.7097, 73.2095, 1400, 36000, 950000, "pvwesgbc", 0),
    ],
}  # fmt: skip

# One letter per amenity in the table above.
_LETTERS = {
    "p": "parking_valet",
    "e": "entry_package",
    "w": "water",
    "a": "air_conditioner",
    "S": "stage",
    "s": "sound_system",
    "g": "generator_backup",
    "b": "bridal_room",
    "c": "catering",
    "v": "partition_facility",
}


def _dates(today):
    start = dt.date.fromisoformat(today)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range(DAYS)]


def _weekend_overrides(dates, base_price, percent):
    # Wedding season pricing: Fridays to Sundays cost more at the venues that say so.
    if not percent:
        return []
    price = round(base_price * (100 + percent) / 100, -3)
    weekend = [d for d in dates if dt.date.fromisoformat(d).weekday() >= 4]
    return [{"date": d, "price": int(price)} for d in weekend]


def _venue_body(city, row, dates):
    # The body an owner would POST to /venues/register; it passes the same schema.
    name, kind, address, lat, lng, capacity, sqft, price, letters, weekend = row
    slug = name.lower().replace(" ", "-")
    return {
        "venue_name": name,
        "type": kind,
        "address": f"{address}, {city}",
        "city": city,
        "maps_location": {"lat": lat, "lng": lng},
        "capacity": capacity,
        "space_sqft": float(sqft),
        "amenities": {amenity: letter in letters for letter, amenity in _LETTERS.items()},
        "additional_description": f"A {kind.lower()} for up to {capacity} guests in {city}.",
        "pictures": [f"https://picsum.photos/seed/{slug}/1200/800"],
        "dates_available": dates,
        "pricing": {"base_price": price, "overrides": _weekend_overrides(dates, price, weekend)},
        "slots": [dict(slot) for slot in SLOTS[kind]],
        "timezone": "Asia/Karachi",
    }


def _create_user(full_name, email, is_venue_owner):
    issued = accounts.create_user(full_name, email, PASSWORD, "+923001234567", is_venue_owner)
    return issued["user"]


def seed_if_empty():
    """Load the demo accounts and venues once; a summary with the logins either way."""
    if current_app.config["HALLS_ENV"] == "production":
        raise ConfigError("Demo data has a published password; it is never loaded in production.")
    if db.users().find_one({"email": OWNER_EMAIL}, {"_id": 1}):
        return _summary("already loaded; nothing added")
    try:
        owner = _create_user("Demo Owner", OWNER_EMAIL, True)
    except Conflict:
        # Another worker loaded it between our check and this insert.
        return _summary("already loaded; nothing added")
    try:
        _create_user("Demo Customer", CUSTOMER_EMAIL, False)
    except Conflict:
        log.warning("demo: %s already exists; kept as it is", CUSTOMER_EMAIL)
    dates = _dates(local_today({}))
    schema = VenueIn()
    count = 0
    for city, rows in VENUES.items():
        for row in rows:
            venues.register_venue(owner, schema.load(_venue_body(city, row, dates)))
            count += 1
    return _summary(f"loaded {count} venues, {dates[0]} to {dates[-1]}")


def _summary(what):
    logins = [("owner", OWNER_EMAIL), ("customer", CUSTOMER_EMAIL)]
    lines = [f"demo data: {what}"]
    lines += [f"demo {role} login: {email} / {PASSWORD}" for role, email in logins]
    if not current_app.config.get("MONGO_URI"):
        lines.append("embedded database: this data lives only in this process's memory")
    for line in lines:
        log.info(line)
    return "\n".join(lines)

"""The demo venues: 25 around Lahore, Karachi and Islamabad, and the add-ons a few sell.

Each venue is the body an owner would POST to /venues/register and passes the same schema.
"""

import datetime as dt

DAYS_AHEAD = 90  # dates open for booking from today on

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

# What a few owners sell with a booking: key, name, price in PKR, unit.
ADDONS = {
    "Shalimar Grand Banquet": [
        ("catering", "Catering, three-course menu", 2500, "per_guest"),
        ("stage_decor", "Stage decor", 85000, "per_event"),
        ("photography", "Photography and video", 120000, "per_event"),
    ],
    "DHA Phase 5 Garden Lawn": [
        ("catering", "Catering", 2200, "per_guest"),
        ("lighting", "Fairy lights and lanterns", 60000, "per_event"),
        ("mehndi_decor", "Mehndi decor (مہندی سجاوٹ)", 75000, "per_event"),
    ],
    "Mall Road Heritage Hall": [
        ("tea_service", "Tea and snacks", 600, "per_guest"),
        ("sound_system", "Sound system", 15000, "per_event"),
    ],
    "Model Town Community Auditorium": [
        ("projector", "Projector and screen", 12000, "per_event"),
        ("stage_lights", "Stage lights", 18000, "per_event"),
    ],
    "Clifton Seaview Banquet": [
        ("catering", "Catering, seafood menu", 3000, "per_guest"),
        ("valet", "Valet parking", 25000, "per_event"),
    ],
    "F-7 Markaz Banquet": [
        ("catering", "Catering", 2800, "per_guest"),
        ("photography", "Photography", 90000, "per_event"),
    ],
    "Margalla View Lawn": [
        ("catering", "Catering", 2400, "per_guest"),
        ("generator", "Standby generator", 20000, "per_event"),
    ],
}

# Owners' own calendar settings at a few venues; the rest keep the defaults.
SETTINGS = {
    "Shalimar Grand Banquet": {"hold_minutes": 720},
    "Gulshan Community Hall": {"auto_confirm": True},
    "Blue Area Conference Hall": {"auto_confirm": True},
    "Bahria Town Grand Lawn": {
        "cancellation_policy": [
            {"min_hours_before": 720, "refund_pct": 100},
            {"min_hours_before": 168, "refund_pct": 50},
            {"min_hours_before": 0, "refund_pct": 0},
        ]
    },
}

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


def weekend_overrides(dates, base_price, percent):
    # Wedding season pricing: Fridays to Sundays cost more at the venues that say so.
    if not percent:
        return []
    price = round(base_price * (100 + percent) / 100, -3)
    weekend = [d for d in dates if dt.date.fromisoformat(d).weekday() >= 4]
    return [{"date": d, "price": int(price)} for d in weekend]


def venue_body(city, row, dates):
    """The body an owner would POST to /venues/register for a row of VENUES."""
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
        "pricing": {"base_price": price, "overrides": weekend_overrides(dates, price, weekend)},
        "slots": [dict(slot) for slot in SLOTS[kind]],
        "timezone": "Asia/Karachi",
        **SETTINGS.get(name, {}),
    }


def addon_bodies(venue_name):
    """The bodies an owner would POST to /venues/<id>/addons for the venue's add-ons."""
    rows = ADDONS.get(venue_name, [])
    return [
        {"key": key, "name": name, "price": price, "unit": unit} for key, name, price, unit in rows
    ]

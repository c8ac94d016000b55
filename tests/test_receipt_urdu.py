"""Receipts in Urdu: real glyphs, joined and right to left, checked on the rendered page.

The page is rendered to pixels (pdfium) and the booker's name is cut out of it and compared
with the same name drawn straight with the Arabic font and shaped as one run by HarfBuzz:
they match, and neither matches the missing-glyph boxes that Helvetica draws.
"""

import io
import logging

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops, ImageOps
from pypdf import PdfReader
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph

from halls import db
from halls.bookings import arabic_script, receipts
from tests.helpers import insert_booking

URDU_NAME = "عائشہ خان"
SCALE = 4  # pixels per PDF point: 288 dpi
FONT_SIZE = 10  # the receipt's body text


@pytest.fixture
def urdu_customer(make_user):
    return make_user(full_name=URDU_NAME)


def receipt_pdf(client, headers, booking):
    response = client.get(f"/bookings/{booking['_id']}/receipt.pdf", headers=headers)
    assert response.status_code == 200, response.data[:300]
    return response.data


def render(pdf_bytes):
    page = pdfium.PdfDocument(pdf_bytes)[0]
    return page, page.render(scale=SCALE).to_pil().convert("L")


def find_text(page, text):
    """The first place the text is on the page: (left, bottom, right, top) in points."""
    found = page.get_textpage().search(text).get_next()
    assert found is not None, f"{text!r} is not on the page"
    index, count = found
    boxes = [page.get_textpage().get_charbox(i) for i in range(index, index + count)]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def ink(image):
    """The image cut to the box around its dark pixels."""
    box = ImageOps.invert(image).point(lambda v: 255 if v > 64 else 0).getbbox()
    assert box is not None, "nothing drawn there"
    return image.crop(box)


def value_of_row(page, image, label, next_label):
    """The ink of a details row's value: right of its label, between it and the next row."""
    left, _, right, top = find_text(page, label)
    *_, next_top = find_text(page, next_label)
    height = page.get_height()
    # PDF points grow upwards, pixels downwards; the value column starts after the label.
    box = (right + 6, height - top - 3, page.get_width() - 40, height - next_top - 1)
    return ink(image.crop(tuple(round(v * SCALE) for v in box)))


def drawn_directly(text, font, shaping):
    """The text drawn on its own in one font, as pixels; shaped, HarfBuzz takes it as one run.

    A no-break space keeps reportlab from splitting the run into words: HarfBuzz then orders
    the words right to left itself, with nothing of halls' own in between.
    """
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=(300, 40))
    style = ParagraphStyle("direct", fontName=font, fontSize=FONT_SIZE, shaping=shaping)
    line = Paragraph(text.replace(" ", "\u00a0"), style)
    line.wrapOn(sheet, 260, 30)
    line.drawOn(sheet, 20, 10)
    sheet.save()
    return ink(render(buffer.getvalue())[1])


def difference(a, b):
    """Mean difference of two grey images in [0, 1], b resized to a."""
    b = b.resize(a.size, Image.Resampling.BILINEAR)
    histogram = ImageChops.difference(a, b).histogram()
    return sum(value * count for value, count in enumerate(histogram)) / (255 * a.width * a.height)


def test_an_urdu_name_prints_in_shaped_glyphs_not_boxes(client, owner, urdu_customer, make_venue):
    venue = make_venue(owner[0])
    booking = insert_booking(venue, urdu_customer[0])

    page, image = render(receipt_pdf(client, urdu_customer[1], booking))
    printed = value_of_row(page, image, "Booked by", "Booked on")

    font = arabic_script.font_name()
    assert font == arabic_script.FONT_NAME
    direct = drawn_directly(URDU_NAME, font, shaping=True)
    boxes = drawn_directly(URDU_NAME, "Helvetica", shaping=False)
    # The reference is real glyphs: nothing like the boxes a font without them draws.
    assert difference(direct, boxes) > 0.3
    assert abs(printed.width - direct.width) <= 2 * SCALE
    assert abs(printed.height - direct.height) <= SCALE
    assert difference(printed, direct) < 0.06
    assert difference(printed, boxes) > 0.3
    # And right to left: the same two words printed in the other order would not match.
    swapped = drawn_directly(" ".join(reversed(URDU_NAME.split())), font, shaping=True)
    assert difference(printed, swapped) > 0.15


def test_every_client_text_may_be_urdu_and_the_font_is_embedded(
    client, owner, urdu_customer, make_venue
):
    slots = [{"key": "dinner", "label": "عشائیہ", "start": "19:00", "end": "23:00"}]
    venue = make_venue(
        owner[0], venue_name="شالیمار ہال", address="مکان 12، گلبرگ", city="لاہور", slots=slots
    )
    addon = {"kind": "addon", "key": "food", "label": "کھانا (فی مہمان)", "unit_price": 2500}
    booking = insert_booking(venue, urdu_customer[0], status="cancelled", reason="معذرت، بیماری")
    locked = booking["price_locked"]
    lines = [*locked["lines"], {**addon, "qty": 10, "amount": 25000}]
    total = locked["total"] + 25000
    price = {**locked, "lines": lines, "subtotal": total, "total": total}
    db.bookings().update_one({"_id": booking["_id"]}, {"$set": {"price_locked": price}})

    reader = PdfReader(io.BytesIO(receipt_pdf(client, urdu_customer[1], booking)))

    assert len(reader.pages) == 1
    fonts = [
        str(font.get_object()["/BaseFont"])
        for font in reader.pages[0]["/Resources"]["/Font"].values()
    ]
    # A subset of the Arabic font carries a tag: AAAAAA+NotoSansArabic-Regular.
    assert any("+NotoSansArabic" in name for name in fonts), fonts
    assert "/Helvetica" in fonts  # the rest of the receipt keeps its font
    text = " ".join(reader.pages[0].extract_text().split())
    assert "19:00–23:00" in text and "Cancelled" in text and "PKR 25,000" in text


def test_a_mixed_name_keeps_each_script_in_its_font_and_order():
    markup = arabic_script.markup("شالیمار ہال Café")
    font = arabic_script.font_name()
    # Right to left from the first strong letter: Café prints left of the Urdu words, and
    # each Urdu word goes to HarfBuzz in reading order (it lays it out right to left).
    assert markup == f'Café <font name="{font}">ہال</font> <font name="{font}">شالیمار</font>'
    assert arabic_script.markup("Rose & Thorn") == "Rose &amp; Thorn"
    digits = arabic_script.markup("مکان 12")
    assert digits == f'12 <font name="{font}">مکان</font>'


def test_without_the_font_the_receipt_still_comes_and_says_why(
    client, owner, urdu_customer, make_venue, monkeypatch, caplog
):
    import fontpkg

    def missing(*args, **kwargs):
        raise fontpkg.FamilyNotInstalled("Noto Sans Arabic")

    monkeypatch.setattr(fontpkg, "path", missing)
    arabic_script.font_name.cache_clear()
    venue = make_venue(owner[0])
    booking = insert_booking(venue, urdu_customer[0])
    try:
        with caplog.at_level(logging.WARNING, logger="halls.receipts"):
            pdf = receipt_pdf(client, urdu_customer[1], booking)
    finally:
        arabic_script.font_name.cache_clear()

    assert "Noto Sans Arabic font is unavailable" in caplog.text
    reader = PdfReader(io.BytesIO(pdf))
    assert "Booked by" in reader.pages[0].extract_text()
    assert db.bookings().find_one({"_id": booking["_id"]}) == booking
    assert receipts.text(URDU_NAME) == URDU_NAME  # escaped text, no font to name

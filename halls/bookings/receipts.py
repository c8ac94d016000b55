"""Receipts: a booking as a one-page PDF that a person can print or keep.

The receipt is drawn from the booking's own snapshot (its slot details and `price_locked`), so
it shows what was agreed when booking, not what the venue charges today. Only the address and
time zone come from the venue as it is now: they are where and when to turn up.
"""

import datetime as dt
import re
from io import BytesIO
from zoneinfo import ZoneInfo

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    KeepInFrame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from halls import clock, db, rules
from halls.bookings import arabic_script, service
from halls.bookings.display import booked_slots, long_date

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#cbd2d9")
BAND = colors.HexColor("#f0f4f8")
STATUS_COLOURS = {
    "confirmed": colors.HexColor("#1b7f3b"),
    "completed": colors.HexColor("#1b7f3b"),
    "pending": colors.HexColor("#b7791f"),
    "cancelled": colors.HexColor("#b42318"),
    "rejected": colors.HexColor("#b42318"),
}
PAYMENT_METHODS = {"pay_at_venue": "Pay at the venue", "wallet": "halls wallet"}
CLOSING_NOTE = (
    "Prices are those agreed when the booking was made and do not change with the venue's later "
    "prices. Show this receipt, or its reference, at the venue."
)
MARGIN = 18 * mm
QR_SIZE = 34 * mm

TITLE = ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=22, leading=26, textColor=INK)
BRAND = ParagraphStyle("brand", fontName="Helvetica-Bold", fontSize=11, textColor=MUTED)
BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=13, textColor=INK)
LABEL = ParagraphStyle("label", parent=BODY, textColor=MUTED)
HEADING = ParagraphStyle("heading", parent=BODY, fontName="Helvetica-Bold", fontSize=12)
NUMBER = ParagraphStyle("number", parent=BODY, alignment=TA_RIGHT)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10, textColor=MUTED)


def booking_receipt(user, booking_id, now=None):
    """The PDF receipt of a booking its booker or its venue's owner may see (else 404)."""
    booking = service.get_booking(user, booking_id)
    # A deleted venue still has an address worth printing on a past booking's receipt.
    venue = db.venues().find_one({"_id": booking["venue_id"]}) or {}
    booker = db.users().find_one({"_id": booking["user_id"]}, {"full_name": 1}) or {}
    return receipt_pdf(booking, venue, booker.get("full_name"), now)


def headers(booking_id):
    """Response headers: a file name to save it under, and no copies in shared caches."""
    return {
        "Content-Disposition": f'inline; filename="halls-booking-{booking_id}.pdf"',
        "Cache-Control": "private, no-store",
    }


def receipt_pdf(booking, venue, booker_name=None, now=None):
    """Draw the receipt: title and QR code, the booking's details, the price table, a footer."""
    now = now or clock.now()
    reference = str(booking["_id"])
    zone = venue.get("timezone") or rules.DEFAULT_TIMEZONE
    content = [
        _header(reference),
        Spacer(1, 6 * mm),
        _details_table(booking, venue, booker_name, zone),
        Spacer(1, 8 * mm),
        Paragraph("Charges", HEADING),
        Spacer(1, 2 * mm),
        _price_table(booking["price_locked"], booking.get("currency") or "PKR"),
        Spacer(1, 6 * mm),
        Paragraph(CLOSING_NOTE, SMALL),
    ]
    return _render(content, reference, _footer_text(reference, zone, now))


def _header(reference):
    title = [
        Paragraph("halls", BRAND),
        Spacer(1, 2 * mm),
        Paragraph("Booking receipt", TITLE),
        Spacer(1, 2 * mm),
        Paragraph(f"Booking reference <b>{reference}</b>", BODY),
    ]
    qr = [_qr_code(reference), Paragraph("Scan for the reference", SMALL)]
    table = Table([[title, qr]], colWidths=[None, QR_SIZE + 4 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 1.2, INK),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ("LEFTPADDING", (0, 0), (0, 0), 0),
            ]
        )
    )
    return table


def _qr_code(reference):
    widget = QrCodeWidget(reference, barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(
        QR_SIZE, QR_SIZE, transform=[QR_SIZE / (right - left), 0, 0, QR_SIZE / (top - bottom), 0, 0]
    )
    drawing.add(widget)
    return drawing


def _details_table(booking, venue, booker_name, zone):
    venue_name = booking.get("venue", {}).get("venue_name") or venue.get("venue_name", "")
    rows = [
        ("Venue", text(venue_name)),
        ("Address", text(_address(venue)) or "-"),
        ("Date", long_date(booking["date"])),
        ("Time", "<br/>".join(_slot_text(slot) for slot in booked_slots(booking))),
        ("Guests", str(booking["guests"])),
    ]
    if booker_name:
        rows.append(("Booked by", text(booker_name)))
    rows.append(("Booked on", _local_time(booking["created_at"], zone)))
    rows.append(("Status", _status_text(booking, zone)))
    rows += _payment_rows(booking)
    data = [
        [Paragraph(label, LABEL), arabic_script.paragraph(value, BODY)] for label, value in rows
    ]
    table = Table(data, colWidths=[32 * mm, None])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -2), 0.4, RULE),
                ("LEFTPADDING", (0, 0), (0, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


def text(value):
    """A client's text as paragraph markup: escaped, Urdu and Arabic in a font that has them."""
    return arabic_script.markup(value or "")


def _address(venue):
    """The address, then the city unless the address already names it ("..., Lahore")."""
    address, city = (venue.get("address") or "").strip(), (venue.get("city") or "").strip()
    if city and re.search(rf"(?<!\w){re.escape(city)}(?!\w)", address, re.IGNORECASE):
        return address
    return ", ".join(part for part in (address, city) if part)


def _slot_text(slot):
    label = text(slot.get("label") or slot["key"])
    # reportlab shapes word by word, in one font: a comma glued to an Urdu word would join it.
    joiner = " " if label.endswith("</font>") else ", "
    return f"{label}{joiner}{slot['start']}–{slot['end']}"


def _status_text(booking, zone):
    status = booking["status"]  # get_booking already shows a lapsed hold as expired
    colour = STATUS_COLOURS.get(status, MUTED).hexval()[2:]
    shown = f'<font color="#{colour}"><b>{status.capitalize()}</b></font>'
    if status == "pending" and booking.get("expires_at"):
        shown += f" (held until {_local_time(booking['expires_at'], zone)})"
    if booking.get("reason"):
        shown += f"<br/>{text(booking['reason'])}"
    return shown


def _payment_rows(booking):
    payment = booking["payment"]
    currency = booking.get("currency") or "PKR"
    method = PAYMENT_METHODS.get(payment["method"], payment["method"])
    if not payment["paid"]:
        # Paid at the venue (or nothing to pay): nothing went through halls, so no refund row.
        return [("Payment", method)]
    rows = [("Payment", f"{method}; paid {money(payment['paid'], currency)}")]
    refund = booking.get("refund")
    if refund:
        rows.append(("Refund", _refund_text(refund, payment["method"], currency)))
    return rows


def _refund_text(refund, method, currency):
    amount, pct = refund.get("amount", 0), refund.get("pct", 0)
    if not amount:
        return f"None ({pct} % under the venue's cancellation policy)"
    where = " to the halls wallet" if method == "wallet" else ""
    return f"{money(amount, currency)} ({pct} %){where}"


def _price_table(prices, currency):
    data = [["Item", "Unit price", "Qty", "Amount"]]
    for line in prices["lines"]:
        data.append(
            [
                arabic_script.paragraph(text(str(line.get("label") or line.get("key", ""))), BODY),
                Paragraph(money(line["unit_price"], currency), NUMBER),
                Paragraph(str(line["qty"]), NUMBER),
                Paragraph(money(line["amount"], currency), NUMBER),
            ]
        )
    subtotal_row = len(data)
    data.append(["", "", "Subtotal", money(prices["subtotal"], currency)])
    data.append(["", "", "Total", money(prices["total"], currency)])
    table = Table(data, colWidths=[None, 34 * mm, 16 * mm, 38 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 10),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("BACKGROUND", (0, 0), (-1, 0), BAND),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
                ("LINEBELOW", (0, 1), (-1, subtotal_row - 1), 0.4, RULE),
                ("LINEABOVE", (2, -1), (-1, -1), 1.2, INK),
                ("FONTNAME", (2, -1), (-1, -1), "Helvetica-Bold"),
                ("FONTSIZE", (2, -1), (-1, -1), 12),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


def _footer_text(reference, zone, now):
    # One clock on the page: every time on it, this one too, is the venue's, named once here.
    issued = _local_time(now, zone)
    parts = [f"Booking {reference}", f"Issued {issued}", f"Times are local to the venue ({zone})"]
    return "  ·  ".join(["halls", *parts])


def _render(content, reference, footer):
    buffer = BytesIO()
    width, height = A4
    frame = Frame(MARGIN, MARGIN + 8 * mm, width - 2 * MARGIN, height - 2 * MARGIN - 8 * mm)

    def draw_footer(canvas, doc):
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.line(MARGIN, MARGIN + 5 * mm, width - MARGIN, MARGIN + 5 * mm)
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, MARGIN, footer)
        canvas.restoreState()

    document = BaseDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Booking receipt {reference}",
        author="halls",
        subject="Booking receipt",
        pageTemplates=[PageTemplate("receipt", [frame], onPage=draw_footer)],
    )
    # Shrinking to the frame keeps the receipt on one page however many lines it has.
    document.build([KeepInFrame(frame._width, frame._height, content, mode="shrink")])
    return buffer.getvalue()


def money(amount, currency):
    """An amount of whole currency units as people read it: PKR 150,000."""
    return f"{currency} {amount:,}"


def _local_time(moment, zone):
    local = _aware(moment).astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%b %Y, %H:%M}"


def _aware(moment):
    # A client without tz_aware hands back naive datetimes; ours are all UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

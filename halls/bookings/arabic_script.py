"""Urdu and Arabic on the receipt: a font with the glyphs, in the order a reader expects.

The PDF's standard fonts (Helvetica) have no Arabic-script glyphs, so names and addresses in
Urdu printed as boxes. Words in Arabic script are set in Noto Sans Arabic (the
fontpkg-noto-sans-arabic package ships it), joined into their contextual forms by reportlab's
shaping (HarfBuzz, through uharfbuzz), and placed right to left by the Unicode bidirectional
algorithm (python-bidi): reportlab's own bidi needs rlbidi, which PyPI does not offer for our
Python. Every other character stays in Helvetica, like the rest of the receipt.

How the pieces meet: `markup` puts the text in visual order (left to right as printed) with
python-bidi, one word at a time keeps its place, and each word with Arabic letters goes back to
reading order for HarfBuzz, which lays its glyphs out right to left again. A value that wraps
onto a second line keeps the visual order of its first (the receipt's values fit a line).
"""

import functools
import logging
import unicodedata
from xml.sax.saxutils import escape

from bidi import get_display
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph

log = logging.getLogger("halls.receipts")

FONT_NAME = "NotoSansArabic"
FAMILY = "Noto Sans Arabic"
# The Unicode blocks of the Arabic script: Arabic, its Supplement and Extended-A, and the
# presentation forms.
BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))


@functools.cache
def font_name():
    """The registered Arabic-script font's name, or None (logged once) when it is missing."""
    try:
        import fontpkg

        path = fontpkg.path(FAMILY)
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(path)))
    except Exception as error:  # noqa: BLE001 - any failure means the same: no such font
        log.warning(
            "receipts: the %s font is unavailable (%s); Urdu and Arabic print as boxes",
            FAMILY,
            error,
        )
        return None
    return FONT_NAME


def in_script(char):
    """The character belongs to the Arabic script's Unicode blocks."""
    code = ord(char)
    return any(first <= code <= last for first, last in BLOCKS)


def has_script(text):
    return any(in_script(char) for char in text)


def markup(text):
    """Paragraph markup for a client's text: escaped, Arabic-script words in the Arabic font."""
    font = font_name()
    if not font or not has_script(text):
        return escape(text)
    words = []
    for word in get_display(text).split(" "):
        if has_script(word):
            words.append(f'<font name="{font}">{escape(_for_shaping(word))}</font>')
        else:
            words.append(escape(word))
    return " ".join(words)


def _for_shaping(word):
    """A word in visual order as HarfBuzz wants it, so that it lays the glyphs out as shown.

    HarfBuzz reverses a run whose first letter is Arabic (right to left) and leaves any other
    as it is, so only such a word goes back to reading order. Digits inside stay left to right.
    """
    logical = word[::-1]
    first_letter = next((c for c in logical if unicodedata.category(c).startswith("L")), "")
    return logical if first_letter and in_script(first_letter) else word


def paragraph(text, style):
    """A Paragraph of our markup that shapes the Arabic-script words it holds.

    reportlab shapes a paragraph only when its style's own font can be shaped (a TrueType
    font), so such a paragraph gets the Arabic font as its style and wraps its text in the
    style's font; the Arabic words name theirs inside.
    """
    font = font_name()
    if not font or f'<font name="{font}">' not in text:
        return Paragraph(text, style)
    return Paragraph(f'<font name="{style.fontName}">{text}</font>', _shaping(style, font))


@functools.cache
def _shaping(style, font):
    return ParagraphStyle(f"{style.name}-shaping", parent=style, fontName=font, shaping=True)

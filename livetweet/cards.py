"""Quote cards: a speaker's words drawn as an image in the event's colours, with its alt text.

Live events post them all day. The font is Aileron, which Pillow carries with it (public
domain, CC0), so a card looks the same on every machine and needs no font installed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from .errors import MediaError
from .plan.media import MAX_QUOTE as MAX_QUOTE, CardText, card_alt, card_problems

WIDTH, HEIGHT = 1200, 675  # X shows 16:9 images whole in the timeline
MARGIN = 80


@dataclass(frozen=True)
class Card:
    """What a quote card says, and in which colours (hex, like "#0B57D0")."""

    quote: str
    speaker: str
    event: str = ""
    hashtag: str = ""
    background: str = "#0b3d6e"
    text: str = "#ffffff"
    accent: str = "#ffd27a"


def alt_text(card: Card) -> str:
    """The card's alt text: the quote and who said it (what the image shows, nothing else)."""
    return card_alt(card.quote, card.speaker, card.event)


def check(card: Card) -> None:
    """A card that cannot be drawn well is refused before anything is made."""
    for problem in card_problems(card.quote, card.speaker):
        raise MediaError(problem)
    for name in ("background", "text", "accent"):
        value = getattr(card, name)
        if not (len(value) == 7 and value[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in value[1:])):
            raise MediaError(f'a quote card\'s {name} colour "{value[:20]}" is not a colour like #0B57D0')


def render(card: Card) -> bytes:
    """The card as a PNG."""
    from PIL import Image, ImageDraw, ImageFont

    check(card)
    image = Image.new("RGB", (WIDTH, HEIGHT), card.background)
    draw = ImageDraw.Draw(image)
    size = 64
    while True:  # the largest size at which the quote fits in the space above the speaker
        font = ImageFont.load_default(size=size)
        lines = _wrap(draw, f"“{card.quote.strip()}”", font, WIDTH - 2 * MARGIN)
        height = len(lines) * int(size * 1.25)
        if height <= HEIGHT - 2 * MARGIN - 120 or size <= 28:
            break
        size -= 4
    draw.rectangle((MARGIN, MARGIN - 30, MARGIN + 120, MARGIN - 22), fill=card.accent)
    y = MARGIN
    for line in lines:
        draw.text((MARGIN, y), line, font=font, fill=card.text)
        y += int(size * 1.25)
    small = ImageFont.load_default(size=34)
    draw.text((MARGIN, HEIGHT - MARGIN - 70), f"— {card.speaker.strip()}", font=small, fill=card.accent)
    footer = "   ".join(x for x in (card.event.strip(), card.hashtag.strip()) if x)
    if footer:
        draw.text((MARGIN, HEIGHT - MARGIN - 20), footer, font=ImageFont.load_default(size=26), fill=card.text)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _wrap(draw: object, text: str, font: object, width: int) -> list[str]:
    """The words in lines no wider than `width` (a word longer than a line is cut)."""
    from PIL import ImageDraw, ImageFont

    assert isinstance(draw, ImageDraw.ImageDraw) and isinstance(font, ImageFont.FreeTypeFont)
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= width:
            current = trial
            continue
        if current:
            lines.append(current)
        while draw.textlength(word, font=font) > width:
            cut = len(word)
            while cut > 1 and draw.textlength(word[:cut], font=font) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def draw(text: CardText) -> bytes:
    """A slot's planned card (plan.media.CardText) as a PNG, in its colours or the defaults."""
    colours = dict(text.colours)
    return render(Card(text.quote, text.speaker, text.event, text.hashtag, **colours))

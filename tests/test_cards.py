"""Quote cards: drawn with Pillow's own font, in the event's colours, with the quote as alt text."""

from __future__ import annotations

import io

import pytest

from livetweet.cards import HEIGHT, MAX_QUOTE, WIDTH, Card, alt_text, render
from livetweet.errors import MediaError
from livetweet.media import reencode
from livetweet.plan.media import alt_problem

Image = pytest.importorskip("PIL.Image")


def test_a_card_is_a_16_9_png_in_the_events_colours() -> None:
    card = Card("Regular pathways are a shared responsibility", "Jane Doe", "Roundtable 2", "#GCM")
    data = render(card)
    image = Image.open(io.BytesIO(data))
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
    assert image.convert("RGB").getpixel((5, 5)) == (0x0B, 0x3D, 0x6E)  # the background colour
    assert len(image.convert("RGB").getcolors(WIDTH * HEIGHT) or []) > 2  # words are drawn on it
    assert reencode(data, "card.png").kind == "image/png"  # what X accepts, once re-encoded


def test_the_alt_text_is_the_quote_and_its_speaker_and_obeys_the_rules() -> None:
    card = Card("Skills travel with people", "A. Speaker", "Roundtable 2")
    alt = alt_text(card)
    assert alt == "Quote card: “Skills travel with people” — A. Speaker, at Roundtable 2"
    assert alt_problem(alt, "Our post about skills") is None


def test_the_longest_quote_still_fits_on_the_card() -> None:
    render(Card("word " * (MAX_QUOTE // 5 - 1) + "end", "Speaker"))
    render(Card("x" * MAX_QUOTE, "Speaker"))  # one word longer than a line is cut, not lost off the edge


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (Card("", "Speaker"), "needs the quote"),
        (Card("Words", " "), "needs the speaker"),
        (Card("x" * (MAX_QUOTE + 1), "Speaker"), "at most 280 fit"),
        (Card("Words", "Speaker", background="blue"), 'background colour "blue" is not a colour'),
    ],
)
def test_a_card_that_cannot_be_drawn_well_is_refused(card: Card, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        render(card)

"""X's rules for the images a post carries, as pure functions: which kinds, how many, how big, the alt text.

`livetweet.media` re-encodes the bytes (with Pillow, outside the planning pipeline); this module
only judges, so that `check` the day before and the service at approval say the same thing.
The alt text rules follow the UN's Disability-Inclusive Communications Guidelines: every image
has one, it describes the image (it does not repeat the post), and it does not start by saying
that it is an image (a screen reader already says so).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

JPEG, PNG, WEBP, GIF = "image/jpeg", "image/png", "image/webp", "image/gif"
KIND_NAMES = {JPEG: "JPEG", PNG: "PNG", WEBP: "WebP", GIF: "GIF"}  # what X takes, as people call them

MAX_IMAGES = 4  # a post carries up to 4 images, or one GIF
MAX_ALT_LENGTH = 1_000  # X's limit for alt text, in characters
MAX_IMAGE_BYTES = 5_000_000  # X's limit for an image (decimal MB: the safe reading of "5 MB")
MAX_GIF_BYTES = 15_000_000  # X's limit for an animated GIF
MAX_INPUT_BYTES = 30_000_000  # a file larger than this is refused before it is opened
MAX_SIDE = 4096  # a still image's longest side after re-encoding (larger ones are scaled down)
MAX_GIF_WIDTH, MAX_GIF_HEIGHT = 1280, 1080  # X's largest GIF (larger ones are scaled down)
MAX_GIF_FRAMES = 350  # X's limit
MAX_PIXELS = 64_000_000  # an image larger than this is refused before it is decoded (a "decompression bomb")
MAX_GIF_PIXELS = 100_000_000  # width x height x frames, before decoding (X allows 300 million; memory does not)

_SAYS_IMAGE = re.compile(r"^\W*(?:(?:an?|the)\s+)?(image|picture|photo|photograph|pic)\s+of\b", re.IGNORECASE)
_HASHTAG = re.compile(r"[#＃]\w+")
_WORD = re.compile(r"\w+")


class MediaItem(Protocol):
    """What the rules look at in an image: an `Attachment`, or a slot's planned image."""

    @property
    def alt(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...


class EncodedImage(Protocol):
    """An image as `livetweet.media` re-encodes it: what is kept and posted."""

    @property
    def data(self) -> bytes: ...

    @property
    def kind(self) -> str: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...


@dataclass(frozen=True)
class PlannedImage:
    """A slot's image once planned: its file, its alt text rendered, and (when `check` read the file)
    what re-encoding made of it."""

    file: str  # as the schedule writes it
    path: Path
    alt: str
    line: int  # the schedule's line of the item
    file_line: int
    alt_line: int
    encoded: EncodedImage | None = None

    @property
    def kind(self) -> str:
        return self.encoded.kind if self.encoded is not None else ""

    @property
    def name(self) -> str:
        return self.file


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes of a file say it is (JPEG, PNG, WebP, GIF), whatever its name says."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def byte_limit(kind: str) -> int:
    """The most bytes X takes for an image of this kind."""
    return MAX_GIF_BYTES if kind == GIF else MAX_IMAGE_BYTES


def megabytes(size: int) -> str:
    """A size as people read it: "5 MB", "4.7 MB"."""
    return f"{size / 1_000_000:.1f}".removesuffix(".0") + " MB"


def _words(text: str) -> str:
    return " ".join(_WORD.findall(_HASHTAG.sub(" ", text).casefold()))


def alt_problem(alt: str, post_text: str) -> str | None:
    """Why this alt text would not serve someone who cannot see the image (None when it would)."""
    described = alt.strip()
    if not described:
        return (
            "has no alt text: describe what the image shows, for people who cannot see it "
            f"(up to {MAX_ALT_LENGTH:,} characters)"
        )
    if len(described) > MAX_ALT_LENGTH:
        return (
            f"alt text is {len(described):,} characters: X allows {MAX_ALT_LENGTH:,}; "
            f"shorten it by {len(described) - MAX_ALT_LENGTH:,}"
        )
    said = _SAYS_IMAGE.match(described)
    if said:
        opening = described[: said.end()].strip()
        return (
            f'alt text starts with "{opening}": a screen reader already says it is an image; say what it shows instead'
        )
    words = _words(described)
    if words and words == _words(post_text):
        return "alt text repeats the post's text: describe what the image shows instead"
    return None


def count_problem(kinds: Sequence[str]) -> str | None:
    """Why X would not take these images together on one post (None when it would)."""
    gifs = sum(1 for k in kinds if k == GIF)
    if gifs and len(kinds) > 1:
        return f"a post carries one GIF on its own, or up to {MAX_IMAGES} images, not a GIF with other images"
    if len(kinds) > MAX_IMAGES:
        return f"a post carries at most {MAX_IMAGES} images, not {len(kinds)}"
    return None


def kind_problem(kind: str) -> str | None:
    """Why X would not take an image of this MIME type (None when it would)."""
    if kind in KIND_NAMES:
        return None
    return f"is {kind or 'of no known type'}: X takes JPEG, PNG, WebP and GIF images"


def media_problems(items: Sequence[MediaItem], text: str, *, require_alt: bool = True) -> list[str]:
    """Every reason these images cannot go out on a post with this text, one sentence each.

    `require_alt=False` lets an image without alt text pass (a draft may wait for it, pending;
    approving it needs it), and still refuses every other fault."""
    problems = []
    counted = count_problem([item.kind for item in items])
    if counted:
        problems.append(counted)
    for number, item in enumerate(items, 1):
        label = f"image {number}" + (f" ({item.name})" if item.name else "")
        wrong_kind = kind_problem(item.kind)
        if wrong_kind:
            problems.append(f"{label} {wrong_kind}")
        alt = alt_problem(item.alt, text) if item.alt.strip() or require_alt else None
        if alt:
            problems.append(f"{label} {alt}" if alt.startswith("has ") else f"{label}: {alt}")
    return problems


# --- quote cards ------------------------------------------------------------------------

MAX_QUOTE = 280  # characters of a quote that fit on a card
CARD_FILE = "quote card"  # how a slot's card is named among its images


@dataclass(frozen=True)
class CardText:
    """What a quote card says (its templates rendered): the quote, the speaker, the event and a hashtag."""

    quote: str
    speaker: str
    event: str = ""
    hashtag: str = ""
    colours: tuple[tuple[str, str], ...] = ()  # (background|text|accent, "#rrggbb")


def card_alt(quote: str, speaker: str, event: str = "") -> str:
    """A card's alt text: the quote and who said it (what the image shows, nothing else)."""
    where = f", at {event}" if event else ""
    return f"Quote card: “{quote}” — {speaker}{where}"[:MAX_ALT_LENGTH]


def card_problems(quote: str, speaker: str) -> list[str]:
    """What keeps a card from being drawn well: no quote, a quote too long to fit, no speaker."""
    problems = []
    if not quote.strip():
        problems.append("a quote card needs the quote: what the speaker said")
    elif len(quote) > MAX_QUOTE:
        problems.append(f"a quote card's quote is {len(quote)} characters: at most {MAX_QUOTE} fit on the card")
    if not speaker.strip():
        problems.append("a quote card needs the speaker's name")
    return problems

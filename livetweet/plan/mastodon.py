"""Mastodon's rules for a status: its length as the server counts it, its images and their descriptions.

Followed from Mastodon's own server code (app/validators/status_length_validator.rb, 4.x):

- the text is stripped of leading and trailing ASCII whitespace first (Status#prepare_contents);
- every URL that twitter-text extracts *with* its protocol (``http://``, ``https://``) counts as
  23 characters (``URL_PLACEHOLDER``), whatever its length; a bare ``example.org`` is plain text;
- a mention ``@user@domain`` counts as ``@user`` (Account::MENTION_RE, the domain at most 253
  characters, not followed by another ``@``, a Latin accent or ``://``);
- what is left is counted in grapheme clusters (Ruby's ``each_grapheme_cluster``): an emoji
  family, a flag, a letter with its combining accents are one character each; by Unicode 15.0's
  rules, as Ruby 3.4 and older count (a Devanagari or Bengali conjunct is two: no GB9c yet);
- the content warning (``spoiler_text``) shares the budget, counted as it is.

An image's description (alt text) is limited to 1,500 characters by a Rails length validation,
which counts code points, not grapheme clusters. A status carries at most 4 images.

Where this can differ from a real server: twitter-text's URL patterns are followed through
`plan.tweettext` with today's TLD list (Mastodon's gem froze its list in 2020), and an instance
may run with another limit (read it from the instance: `configuration.statuses.max_characters`).
"""

from __future__ import annotations

from collections.abc import Sequence

import regex

from .tweettext import extract_urls

__all__ = [
    "DEFAULT_MAX_CHARS",
    "MAX_ALT",
    "MAX_DOMAIN_LENGTH",
    "MAX_IMAGES",
    "URL_WEIGHT",
    "countable_text",
    "length",
    "mentions",
    "problems",
]

DEFAULT_MAX_CHARS = 500  # mastodon.social's and the default of every instance
URL_WEIGHT = 23  # StatusLengthValidator::URL_PLACEHOLDER_CHARS, also `characters_reserved_per_url`
MAX_ALT = 1500  # MediaAttachment::MAX_DESCRIPTION_LENGTH, in code points
MAX_IMAGES = 4  # Status::MEDIA_ATTACHMENTS_LIMIT
MAX_DOMAIN_LENGTH = 253  # Extractor::MAX_DOMAIN_LENGTH: a longer domain is no mention

_RUBY_WHITESPACE = " \t\n\v\f\r\0"  # what Ruby's String#strip removes
_WORD = r"[\p{L}\p{M}\p{Nd}\p{Pc}]"  # Onigmo's [[:word:]] on a Unicode string
# Account::MENTION_RE: the username part case-insensitive (USERNAME_RE carries /i), the domain any word.
_MENTION = regex.compile(
    rf"(?<![=/\p{{L}}\p{{M}}\p{{Nd}}\p{{Pc}}])@((?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@{_WORD}+(?:[.-]+{_WORD}+)*)?)"
)
# twitter-text's end_mention_match: a mention followed by one of these is not one.
_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268"
    "\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_END_MENTION = regex.compile(rf"(?i:[@\uff20]|[{_LATIN_ACCENTS}]|://)")
_PROTOCOL = regex.compile(r"(?i:https?://)")
_GRAPHEME = regex.compile(r"\X")
# Ruby 3.4 and older count graphemes by Unicode 15.0, before Indic conjuncts (GB9c, Unicode 15.1) held
# a consonant after a virama in its cluster: each such consonant starts a character of its own there.
_CONSONANT = regex.compile(r"\p{InCB=Consonant}")


def mentions(text: str) -> list[tuple[int, int, str]]:
    """(start, end, "@user") of each mention Mastodon's Extractor finds: where it links one, and what it counts."""
    if "@" not in text and "\uff20" not in text:
        return []
    found = []
    for m in _MENTION.finditer(text):
        if _END_MENTION.match(text, m.end()):
            continue
        name, _, domain = m.group(1).partition("@")
        if domain and len(domain) > MAX_DOMAIN_LENGTH:
            continue
        found.append((m.start(), m.end(), f"@{name}"))
    return found


def _urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, placeholder) of each URL with its protocol, as twitter-text extracts it."""
    if ":" not in text:
        return []
    return [(u.start, u.end, "x" * URL_WEIGHT) for u in extract_urls(text) if _PROTOCOL.match(u.value)]


def countable_text(text: str) -> str:
    """The text with each URL and remote mention replaced by what Mastodon counts in its place."""
    text = text.strip(_RUBY_WHITESPACE)
    if not text or text.isspace():
        return ""  # Rails' blank?: Unicode spaces alone count nothing
    entities = sorted(_urls(text) + mentions(text))
    out: list[str] = []
    last = 0
    for start, end, shown in entities:
        if start < last:
            continue  # remove_overlapping_entities: the earlier one wins
        out.append(text[last:start])
        out.append(shown)
        last = end
    out.append(text[last:])
    return "".join(out)


def _graphemes(text: str) -> int:
    if text.isascii() and "\r\n" not in text:
        return len(text)
    clusters = _GRAPHEME.findall(text)
    return len(clusters) + sum(len(_CONSONANT.findall(c, 1)) for c in clusters if len(c) > 2)


def length(text: str, spoiler_text: str = "") -> int:
    """The status's length as Mastodon's StatusLengthValidator counts it (the content warning included)."""
    return _graphemes(spoiler_text.strip(_RUBY_WHITESPACE) + countable_text(text))


def problems(
    text: str,
    max_chars: int = DEFAULT_MAX_CHARS,
    alts: Sequence[str] = (),
    spoiler_text: str = "",
) -> list[str]:
    """Everything a Mastodon server would refuse in this status (with these images' alt texts), in words."""
    found = []
    counted = length(text, spoiler_text)
    if counted > max_chars:
        what = "the post and its content warning are" if spoiler_text.strip(_RUBY_WHITESPACE) else "the post is"
        found.append(
            f"{what} {counted:,} characters long; this Mastodon server allows {max_chars:,} "
            f"(every link counts {URL_WEIGHT}, @user@domain counts as @user)"
        )
    if not text.strip() and not alts:
        found.append("the post is empty; Mastodon needs a text or an image")
    if len(alts) > MAX_IMAGES:
        found.append(f"the post has {len(alts)} images; Mastodon takes at most {MAX_IMAGES}")
    for number, alt in enumerate(alts, 1):
        if len(alt) > MAX_ALT:
            found.append(f"image {number}'s alt text is {len(alt):,} characters long; Mastodon allows {MAX_ALT:,}")
    return found

"""Tweet text rules: twitter-text v3 weighted length and entity extraction.

X counts a post's length by weight, not by characters: most Latin, Greek, Cyrillic
and punctuation weigh 1, everything else (CJK, emoji sequences) weighs 2, and every
URL weighs 23 whatever its length. This module follows the twitter-text v3 rules so
that `check` refuses exactly what X would refuse. Ranges reported by `parse_tweet`
are UTF-16 code-unit indices into the original text with inclusive ends, as
twitter-text reports them; entity positions from the `extract_*` functions are
Python string indices (code points), end exclusive.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import emoji
import regex

__all__ = [
    "CONFIG_V2",
    "CONFIG_V3",
    "Entity",
    "ParseResult",
    "TextConfig",
    "extract_hashtags",
    "extract_mentions",
    "extract_urls",
    "parse_tweet",
    "weighted_length",
]


@dataclass(frozen=True)
class TextConfig:
    """The twitter-text configuration (the content of config/v3.json)."""

    version: int = 3
    max_weighted_tweet_length: int = 280
    scale: int = 100
    default_weight: int = 200
    emoji_parsing_enabled: bool = True
    transformed_url_length: int = 23
    ranges: tuple[tuple[int, int, int], ...] = (
        (0, 4351, 100),
        (8192, 8205, 100),
        (8208, 8223, 100),
        (8242, 8247, 100),
    )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextConfig:
        """Read a twitter-text config file's JSON object."""
        return cls(
            version=int(data.get("version", 3)),
            max_weighted_tweet_length=int(data["maxWeightedTweetLength"]),
            scale=int(data["scale"]),
            default_weight=int(data["defaultWeight"]),
            emoji_parsing_enabled=bool(data.get("emojiParsingEnabled", False)),
            transformed_url_length=int(data["transformedURLLength"]),
            ranges=tuple((int(r["start"]), int(r["end"]), int(r["weight"])) for r in data["ranges"]),
        )


CONFIG_V3 = TextConfig()
CONFIG_V2 = TextConfig(version=2, emoji_parsing_enabled=False)


@dataclass(frozen=True)
class ParseResult:
    """What X would make of a text: its weighted length and whether it may be posted."""

    weighted_length: int
    valid: bool
    permillage: int
    display_range_start: int
    display_range_end: int
    valid_range_start: int
    valid_range_end: int


@dataclass(frozen=True)
class Entity:
    """A URL, hashtag or mention found in a text; `start`/`end` are str indices."""

    value: str
    start: int
    end: int


# --- character classes, as twitter-text defines them -------------------------------

_SPACES = "\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID_CHARS = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069"
_PUNCT = r"\!'#%&'\(\)*\+,\\\-\.\/:;<=>\?@\[\]\^_{|}~\$"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b"
    "\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"

_DOMAIN_CHARS = f"[^{_PUNCT}{_SPACES}{_INVALID_CHARS}{_DIRECTIONAL}]"
_SUBDOMAIN = f"(?:(?:{_DOMAIN_CHARS}(?:[_-]|{_DOMAIN_CHARS})*)?{_DOMAIN_CHARS}\\.)"
_DOMAIN_NAME = f"(?:(?:{_DOMAIN_CHARS}(?:-|{_DOMAIN_CHARS})*)?{_DOMAIN_CHARS}\\.)"
_TLD_END = r"(?=[^0-9a-zA-Z@+-]|$)"
_PUNYCODE = r"(?:xn--[\-0-9a-z]+)"
_SPECIAL_CCTLD = r"(?:(?:co|tv)(?=[^0-9a-zA-Z@]|$))"
_PRECEDING = f"(?:[^A-Za-z0-9@＠$#＃{_INVALID_CHARS}]|[{_DIRECTIONAL}]|^)"
_PATH_CHARS = f"[a-z{_CYRILLIC}0-9!\\*';:=\\+,\\.\\$\\/%#\\[\\]\\-\u2013_~&\\|@{_LATIN_ACCENTS}]"
_BALANCED_PARENS = f"\\((?:{_PATH_CHARS}+|(?:{_PATH_CHARS}*\\({_PATH_CHARS}+\\){_PATH_CHARS}*))\\)"
_PATH_ENDING = f"(?:[\\+\\-a-z{_CYRILLIC}0-9=_#\\/{_LATIN_ACCENTS}]|(?:{_BALANCED_PARENS}))"
_PATH = f"(?:(?:{_PATH_CHARS}*(?:{_BALANCED_PARENS}{_PATH_CHARS}*)*{_PATH_ENDING})|(?:@{_PATH_CHARS}+\\/))"
_QUERY_CHARS = r"[a-z0-9!?\*'@\(\);:&=\+\$\/%#\[\]\-_\.,~|]"
_QUERY_ENDING = r"[a-z0-9\-_&=#\/]"

_MAX_URL_LENGTH = 4096
_MAX_LABEL_LENGTH = 63
_MAX_TCO_SLUG_LENGTH = 40

_HASHTAG_BODY = (
    r"\p{L}\p{M}\p{Nd}_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c"
    r"\u30a0\u30fb\u3003\u0f0b\u0f0c\u00b7"
)
_HASHTAG = (
    rf"(?:^|(?<=[\ufe0e\ufe0f])|(?<=[^&{_HASHTAG_BODY}]))"
    rf"(?P<sign>[#＃])(?!\ufe0f|\u20e3)(?P<tag>[{_HASHTAG_BODY}]*[\p{{L}}\p{{M}}][{_HASHTAG_BODY}]*)"
)
_MENTION = (
    r"(?:^|(?<=[^a-zA-Z0-9_!#$%&*@＠])|(?<=(?:^|[^a-zA-Z0-9_+~.-])(?:rt|RT|rT|Rt):?))"
    r"(?P<at>[@＠])(?P<name>[a-zA-Z0-9_]{1,20})(?P<list>\/[a-zA-Z][a-zA-Z0-9_-]{0,24})?"
)


@lru_cache(maxsize=1)
def _tlds() -> tuple[list[str], list[str]]:
    """Top-level domains from the Public Suffix List shipped by `publicsuffixlist`.

    The list changes as ICANN delegates TLDs; the package is re-released with it, so
    upgrading the dependency is how the list is kept current.
    """
    data = resources.files("publicsuffixlist").joinpath("public_suffix_list.dat")
    text = data.read_text(encoding="utf-8")
    tlds: set[str] = set()
    in_icann = False
    for line in text.splitlines():
        if "===BEGIN ICANN DOMAINS===" in line:
            in_icann = True
        elif "===END ICANN DOMAINS===" in line:
            in_icann = False
        elif in_icann and line and not line.startswith("//"):
            tlds.add(line.split(".")[-1].lstrip("*!").lower())
    cctlds = sorted(t for t in tlds if len(t) == 2 and t.isascii())
    gtlds = sorted(t for t in tlds if t not in cctlds)
    return gtlds, cctlds


def _trie_pattern(words: list[str]) -> str:
    """An alternation of words as a trie: a backtracking engine tries far fewer branches.

    Optional branches are greedy, so the longest word is tried first, as twitter-text's
    longest-first TLD alternation does.
    """
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:  # type: ignore[type-arg]
        branches = [regex.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = "|".join(branches)
        if "" in node:
            return f"(?:{body})?"
        return f"(?:{body})" if len(branches) > 1 else branches[0]

    return emit(root)


def _char_class(chars: Iterable[str]) -> str:
    """The body of a character class for `chars`, with runs folded into ranges."""
    points = sorted({ord(c) for c in chars})
    parts = []
    i = 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        first, last = re.escape(chr(points[i])), re.escape(chr(points[j]))
        parts.append(first if i == j else f"{first}-{last}")
        i = j + 1
    return "".join(parts)


def _url_pattern(gtlds: list[str], cctlds: list[str]) -> tuple[str, str, str]:
    """The URL, ASCII-domain and short-domain patterns of twitter-text, with our TLD lists."""
    gtld = f"(?:{_trie_pattern(gtlds)}{_TLD_END})"
    cctld = f"(?:{_trie_pattern(cctlds)}{_TLD_END})"
    domain = f"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:{gtld}|{cctld}|{_PUNYCODE}))"
    url = (
        f"(?P<before>{_PRECEDING})"
        "(?P<url>"
        r"(?P<protocol>https?:\/\/)?"
        f"(?P<domain>{domain})"
        r"(?::(?P<port>[0-9]+))?"
        f"(?P<path>\\/{_PATH}*)?"
        f"(?P<query>\\?{_QUERY_CHARS}*{_QUERY_ENDING})?"
        ")"
    )
    ascii_domain = f"(?:(?:[\\-a-z0-9{_LATIN_ACCENTS}]+)\\.)+(?:{gtld}|{cctld}|{_PUNYCODE})"
    short_domain = f"^{_DOMAIN_NAME}{cctld}$"
    return url, ascii_domain, short_domain


class _Patterns:
    """Compiled patterns, built once on first use (building them reads the TLD list)."""

    def __init__(self) -> None:
        gtlds, cctlds = _tlds()
        flags = regex.IGNORECASE | regex.V0
        url, ascii_domain, short_domain = _url_pattern(gtlds, cctlds)
        self.url = regex.compile(url, flags)
        self.ascii_domain = regex.compile(ascii_domain, flags)
        self.invalid_short_domain = regex.compile(short_domain, flags)
        self.special_short_domain = regex.compile(f"^{_DOMAIN_NAME}{_SPECIAL_CCTLD}$", flags)
        self.tco = regex.compile(rf"^https?:\/\/t\.co\/([a-z0-9]+)(?:\?{_QUERY_CHARS}*{_QUERY_ENDING})?", flags)
        self.hashtag = regex.compile(_HASHTAG, flags)
        self.mention = regex.compile(_MENTION)
        # Every emoji sequence the `emoji` package knows (kept current by its releases);
        # a named list matches the longest sequence at each position.
        self.emoji_lengths: dict[str, tuple[int, ...]] = {}
        self.emoji_set = frozenset(emoji.EMOJI_DATA)
        by_first: dict[str, set[int]] = {}
        for seq in self.emoji_set:
            by_first.setdefault(seq[0], set()).add(len(seq))
        self.emoji_lengths = {k: tuple(sorted(v, reverse=True)) for k, v in by_first.items()}
        # Every URL holds "." and a TLD: where none is, no URL scan is needed.
        self.url_hint = re.compile(r"\.(?:xn--|" + _trie_pattern(gtlds + cctlds) + ")", re.IGNORECASE)
        # Only characters that may begin an emoji sequence are worth a look-up: a few
        # below U+2000 (©, ®), everything from U+2000 on, and keycaps ("1" U+FE0F U+20E3),
        # which are looked for only when the text holds a keycap's marks.
        low = _char_class(c for c in self.emoji_lengths if ord(c) < 0x2000 and c not in "#*0123456789")
        self.maybe_emoji = re.compile(f"[{low}\u2000-\U0010ffff]")
        self.maybe_emoji_or_keycap = re.compile(f"[{low}\u2000-\U0010ffff]|[#*0-9](?=[\ufe0f\u20e3])")
        self.invalid = re.compile(f"[{_INVALID_CHARS}]")


@lru_cache(maxsize=1)
def _patterns() -> _Patterns:
    return _Patterns()


def _idna_ok(domain: str) -> bool:
    """Each label must encode (punycode) to 1..63 characters, as twitter-text's idna does."""
    if domain[:4].lower() == "xn--" and not _patterns().ascii_domain.fullmatch(domain):
        return False
    for label in domain.split("."):
        if label.isascii():
            encoded_length = len(label)
        else:
            try:
                encoded_length = 4 + len(label.encode("punycode"))
            except UnicodeError:
                return False
        if encoded_length < 1 or encoded_length > _MAX_LABEL_LENGTH:
            return False
    return True


def _url_matches(p: _Patterns, text: str) -> Iterator[re.Match[str]]:
    """The URL pattern's matches, scanning only near a ".tld" (same result as a full scan).

    A URL holds no space, so a match around a ".tld" cannot start before the space
    that precedes it, and no match can lie wholly before the first ".tld".
    """
    pos = 0
    while True:
        hint = p.url_hint.search(text, pos)
        if hint is None:
            return
        # Starting at the last plain space or newline is never later than the last space
        # of any kind, so it is safe, and far cheaper than looking for every kind.
        space = max(text.rfind(" ", pos, hint.start()), text.rfind("\n", pos, hint.start()))
        m = p.url.search(text, space if space >= 0 else pos)
        if m is None:
            return
        yield m
        pos = m.end()


def extract_urls(text: str) -> list[Entity]:
    """URLs as X links them, with or without a protocol."""
    if "." not in text:
        return []
    p = _patterns()
    urls: list[Entity] = []
    for m in _url_matches(p, text):
        url, protocol, domain, path = m.group("url"), m.group("protocol"), m.group("domain"), m.group("path")
        start, end = m.start("url"), m.end("url")
        if not _idna_ok(domain) or len(protocol or "https://") + len(url) > _MAX_URL_LENGTH:
            continue
        if protocol:
            tco = p.tco.match(url)
            if tco:
                if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                    continue
                url = tco.group(0)
                end = start + len(url)
            urls.append(Entity(url, start, end))
            continue
        # Without a protocol only ASCII domains count, and a bare "name.cc" does not.
        before = m.group("before")
        if before and before[-1] in "-_./":
            continue
        last: Entity | None = None
        search_from = 0
        for am in p.ascii_domain.finditer(domain):
            ascii_domain = am.group(0)
            a_start = domain.index(ascii_domain, search_from)
            search_from = a_start + len(ascii_domain)
            last = Entity(ascii_domain, start + a_start, start + search_from)
            if path or p.special_short_domain.match(ascii_domain) or not p.invalid_short_domain.match(ascii_domain):
                urls.append(last)
        if last is None:
            continue
        if path and urls and urls[-1] is last:
            urls[-1] = Entity(text[last.start : end], last.start, end)
        elif path:
            urls.append(Entity(text[last.start : end], last.start, end))
    return urls


def extract_hashtags(text: str) -> list[Entity]:
    """Hashtags (value without the sign), skipping those inside URLs."""
    if "#" not in text and "＃" not in text:
        return []
    p = _patterns()
    urls = extract_urls(text)
    tags: list[Entity] = []
    for m in p.hashtag.finditer(text):
        after = text[m.end() : m.end() + 3]
        if after[:1] in ("#", "＃") or after.startswith("://"):
            continue
        start = m.start("sign")
        if any(u.start <= start < u.end for u in urls):
            continue
        tags.append(Entity(m.group("tag"), start, m.end()))
    return tags


def extract_mentions(text: str) -> list[Entity]:
    """@mentions of accounts (value without the sign); list references are skipped."""
    if "@" not in text and "＠" not in text:
        return []
    mentions: list[Entity] = []
    for m in _patterns().mention.finditer(text):
        after = text[m.end() : m.end() + 3]
        if after[:1] in ("@", "＠") or after.startswith("://") or (after[:1] and _is_latin_accent(after[0])):
            continue
        if m.group("list"):
            continue
        mentions.append(Entity(m.group("name"), m.start("at"), m.end()))
    return mentions


def _is_latin_accent(ch: str) -> bool:
    return regex.match(f"[{_LATIN_ACCENTS}]", ch) is not None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _char_weight(cp: int, config: TextConfig) -> int:
    for start, end, weight in config.ranges:
        if start <= cp <= end:
            return weight
    return config.default_weight


@lru_cache(maxsize=8)
def _plain_weight_pattern(config: TextConfig) -> tuple[re.Pattern[str], int, int]:
    """A pattern for characters outside the config's ranges, when all ranges share one weight."""
    weights = {w for _, _, w in config.ranges}
    in_weight = weights.pop() if len(weights) == 1 else -1
    cls = "".join(f"\\U{s:08x}-\\U{e:08x}" for s, e, _ in config.ranges)
    return re.compile(f"[^{cls}]"), in_weight, config.default_weight


def _plain_weight(text: str, config: TextConfig) -> int:
    heavy, in_weight, default = _plain_weight_pattern(config)
    if in_weight < 0:
        return sum(_char_weight(ord(c), config) for c in text)
    n_heavy = len(heavy.findall(text))
    return in_weight * (len(text) - n_heavy) + default * n_heavy


def _entities(normalized: str, config: TextConfig) -> list[tuple[int, int, int]]:
    """(start, end, weight) of every URL and emoji sequence, in order, not overlapping."""
    spans = [(u.start, u.end, config.transformed_url_length * config.scale) for u in extract_urls(normalized)]
    p = _patterns()
    if not config.emoji_parsing_enabled:
        return spans
    taken = [(s, e) for s, e, _ in spans]
    found = False
    resume = 0
    # Emoji are looked for only where one could start: far fewer positions than a scan.
    keycaps = "\u20e3" in normalized or "\ufe0f" in normalized
    for candidate in (p.maybe_emoji_or_keycap if keycaps else p.maybe_emoji).finditer(normalized):
        pos = candidate.start()
        if pos < resume:
            continue
        end = _emoji_end(p, normalized, pos)
        if end < 0:
            continue
        resume = end
        if not any(s < end and pos < e for s, e in taken):
            spans.append((pos, end, config.default_weight))
            found = True
    if found:
        spans.sort()
    return spans


def _emoji_end(p: _Patterns, text: str, pos: int) -> int:
    """End of the longest emoji sequence starting at `pos`, or -1."""
    for length in p.emoji_lengths.get(text[pos], ()):
        if text[pos : pos + length] in p.emoji_set:
            return pos + length
    return -1


def parse_tweet(text: str, config: TextConfig = CONFIG_V3) -> ParseResult:
    """Weigh a text as X does and say whether it can be posted."""
    normalized = unicodedata.normalize("NFC", text)
    text_len16 = _utf16_len(text)
    offset = text_len16 - _utf16_len(normalized)
    spans = _entities(normalized, config)
    max_weight = config.max_weighted_tweet_length * config.scale

    total = 0
    plain_from = 0
    for start, end, weight in spans:
        total += _plain_weight(normalized[plain_from:start], config) + weight
        plain_from = end
    total += _plain_weight(normalized[plain_from:], config)

    has_invalid = _patterns().invalid.search(normalized) is not None
    if total <= max_weight and not has_invalid:
        valid_end = max(text_len16 - 1, 0) if normalized else 0
    else:
        valid_end = _valid_display_index(normalized, spans, config) + offset

    weighted = total // config.scale
    return ParseResult(
        weighted_length=weighted,
        valid=(not has_invalid) and 0 < weighted <= config.max_weighted_tweet_length,
        permillage=(weighted * 1000) // config.max_weighted_tweet_length,
        display_range_start=0,
        display_range_end=text_len16 - 1 if text_len16 > 0 else 0,
        valid_range_start=0,
        valid_range_end=valid_end,
    )


def _valid_display_index(normalized: str, spans: list[tuple[int, int, int]], config: TextConfig) -> int:
    """The UTF-16 index of the last character that still fits, walking as twitter-text does."""
    by_start = {s: (e, w) for s, e, w in spans}
    max_weight = config.max_weighted_tweet_length * config.scale
    total = 0
    valid = True
    index = 0
    i16 = 0
    last_valid16 = 0
    n = len(normalized)
    while index < n:
        if index in by_start:
            end, weight = by_start[index]
            last16 = i16 + _utf16_len(normalized[index:end]) - 1
            last_char = normalized[end - 1]
            index = end
        else:
            last_char = normalized[index]
            cp = ord(last_char)
            weight = _char_weight(cp, config)
            last16 = i16 + (1 if cp > 0xFFFF else 0)
            index += 1
        total += weight
        i16 = last16 + 1
        if valid:
            valid = last_char not in _INVALID_CHARS
        if valid and total <= max_weight:
            last_valid16 = last16
    return last_valid16


def weighted_length(text: str) -> int:
    """Shorthand for `parse_tweet(text).weighted_length`."""
    return parse_tweet(text).weighted_length


def load_config(path: Path) -> TextConfig:
    """Read a twitter-text config JSON file."""
    return TextConfig.from_json(json.loads(path.read_text(encoding="utf-8")))

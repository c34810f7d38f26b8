"""Tweet text rules: twitter-text 3.1.0's weighted length and entity extraction.

X counts a post's length by weight, not by characters: most Latin, Greek, Cyrillic
and punctuation weigh 1, everything else (CJK, emoji sequences) weighs 2, and every
URL weighs 23 whatever its length. This module follows the official twitter-text
3.1.0 JavaScript library so that `check` refuses exactly what X would refuse, down to
where JavaScript and Python differ: its patterns see UTF-16 code units, its
case-insensitive matching never folds a non-ASCII character onto an ASCII one (``ſ``
is not ``s``, the Kelvin sign is not ``k``), and its hashtag and mention patterns
consume the character before the sign.

What changes with the date (which TLDs exist, which emoji, which characters are
letters) is data, not rules: a `TextData`, and `DATA` says which one is used.

Ranges reported by `parse_tweet` are UTF-16 code-unit indices into the original text
with inclusive ends, as twitter-text reports them; entity positions from the
`extract_*` functions are Python string indices (code points), end exclusive.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import emoji
import regex

__all__ = [
    "CONFIG_V2",
    "CONFIG_V3",
    "DATA",
    "TODAY",
    "Entity",
    "ParseResult",
    "TextConfig",
    "TextData",
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


@dataclass(frozen=True, eq=False)
class TextData:
    """The date-bound data that twitter-text's rules read.

    twitter-text 3.1.0 froze its data in 2020: a TLD list, the emoji of twemoji 11
    (Emoji 11.0) and letter tables from an older Unicode. X keeps its own copies
    current. A field left `None` takes today's data from the installed packages:
    the Public Suffix List of `publicsuffixlist`, every emoji the `emoji` package
    knows, and the Unicode letters, marks and digits of the `regex` module.
    """

    name: str
    gtlds: tuple[str, ...] | None = None
    """The generic TLDs a link may end in (None, with `cctlds`: today's Public Suffix List)."""
    cctlds: tuple[str, ...] | None = None
    """The country-code TLDs, tried after the generic ones."""
    emoji_version: float | None = None
    """The newest Emoji version whose sequences weigh as one emoji (None: all)."""
    emoji_text_forms: frozenset[str] | None = None
    """Emoji that also have a text form, and so take a VS16 (None: Unicode's list, as the
    `emoji` package has it; the list grew after Emoji 11, with ✅ and 🌍 among others)."""
    hashtag_letters: tuple[tuple[int, int], ...] | None = None
    """Runs of code points a hashtag needs one of (None: Unicode letters and marks)."""
    hashtag_characters: tuple[tuple[int, int], ...] | None = None
    """Runs of code points a hashtag may hold (None: letters, marks, digits, a few signs)."""


TODAY = TextData("today")

DATA = TODAY
"""The data every caller gets unless it passes its own: today's, as X uses today.

X's counter is not frozen at twitter-text 3.1.0's 2020 data: X links TLDs delegated
since, and its twemoji draws emoji added since. The other side of the choice is a
`TextData` built from twitter-text's own lists (the differential test builds one).
"""


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


# --- JavaScript's case-insensitive matching -----------------------------------------
#
# Without the `u` flag, JavaScript's /i compares code units by their upper case, and
# keeps a non-ASCII character whose upper case is ASCII as it is (ſ, ı) and one whose
# upper case is longer than one unit (ß). Python's IGNORECASE folds more, so the
# patterns below are compiled case-sensitive with every class and letter spelled out
# in all the forms JavaScript would accept.


@lru_cache(maxsize=1)
def _case_partners() -> dict[int, tuple[int, ...]]:
    """Each BMP code point that /i matches with others, and all of them (itself too)."""
    # A code point's canonical form is its single-character upper case (none for a non-ASCII one
    # whose upper case is ASCII, as JavaScript's /i); the others share it. Only the few code points
    # that change are looked at twice (every one of the 65,536 in a pass, a process's first check).
    canon: dict[int, int] = {}
    for cp, upper in enumerate(map(str.upper, map(chr, range(0x10000)))):
        if len(upper) == 1:
            u = ord(upper)
            if u != cp and not (cp >= 128 and u < 128):  # a lone surrogate is its own upper case
                canon[cp] = u
    groups: dict[int, list[int]] = {}
    for cp, u in canon.items():
        groups.setdefault(u, []).append(cp)
    partners: dict[int, tuple[int, ...]] = {}
    for u, members in groups.items():
        if u not in canon:  # its own canonical form: one of the group
            members.append(u)
        if len(members) > 1:
            for cp in members:
                partners[cp] = tuple(sorted(members))
    return partners


def _fold(points: Iterable[int]) -> set[int]:
    partners = _case_partners()
    out: set[int] = set()
    for cp in points:
        out.update(partners.get(cp, (cp,)))
    return out


def _runs(points: Iterable[int]) -> list[tuple[int, int]]:
    ordered = sorted(set(points))
    runs: list[tuple[int, int]] = []
    for cp in ordered:
        if runs and runs[-1][1] == cp - 1:
            runs[-1] = (runs[-1][0], cp)
        else:
            runs.append((cp, cp))
    return runs


def _class_body(runs: Iterable[tuple[int, int]]) -> str:
    parts = []
    for first, last in runs:
        a, b = re.escape(chr(first)), re.escape(chr(last))
        parts.append(a if first == last else f"{a}{b}" if last == first + 1 else f"{a}-{b}")
    return "".join(parts)


def _chars(spec: str) -> set[int]:
    """The code points of a class body written with `a-z` ranges (no escapes but `\\-`)."""
    points: set[int] = set()
    i = 0
    while i < len(spec):
        ch = spec[i]
        if ch == "\\":
            i += 1
            ch = spec[i]
        if i + 2 < len(spec) and spec[i + 1] == "-":
            points.update(range(ord(ch), ord(spec[i + 2]) + 1))
            i += 3
        else:
            points.add(ord(ch))
            i += 1
    return points


def _cls(spec: str | set[int], negate: bool = False) -> str:
    """A character class that matches what JavaScript's /i would match for `spec`."""
    points = _chars(spec) if isinstance(spec, str) else spec
    return f"[{'^' if negate else ''}{_class_body(_runs(_fold(points)))}]"


@lru_cache(maxsize=1024)
def _lit(ch: str) -> str:
    """One literal character as /i matches it (remembered: the TLD tries ask for the same few letters 9,000 times)."""
    partners = _case_partners().get(ord(ch))
    if partners is None:
        return re.escape(ch)
    return f"[{_class_body(_runs(partners))}]"


def _word(word: str) -> str:
    return "".join(_lit(ch) for ch in word)


# --- character classes, as twitter-text defines them -------------------------------

_PUNCT = "!'#%&()*+,\\-./:;<=>?@[]^_{|}~$\\\\"
_SPACES = "\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b"
    "\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_HASHTAG_SPECIALS = "_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003\u0f0b\u0f0c\xb7"

_DEFAULT_PROTOCOL = "https://"
_MAX_URL_LENGTH = 4096
_MAX_LABEL_LENGTH = 63
_MAX_TCO_SLUG_LENGTH = 40
_PUNYCODE_SEPARATORS = re.compile("[\u3002\uff0e\uff61]")
# punycode leaves a label of printable ASCII as it is.
_PRINTABLE_ASCII = re.compile("[\x20-\x7e]*")

_VS15, _VS16, _KEYCAP = "\ufe0e", "\ufe0f", "\u20e3"
_SEQUENCE_MARKS = frozenset((_VS16, "\u200d", _KEYCAP))
_SKIN_TONES = tuple(chr(cp) for cp in range(0x1F3FB, 0x1F400))
# twemoji draws these only when VS16 asks for an emoji; every other emoji that has a
# text form is drawn as one with or without VS16, unless VS15 asks for text.
_TEXT_STYLE = frozenset("\u00a9\u00ae\u2122\u265f")


def _psl_tlds() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Top-level domains of today's Public Suffix List (ICANN section), as (gTLDs, ccTLDs).

    The list changes as ICANN delegates TLDs; `publicsuffixlist` is re-released with
    it, so upgrading the dependency is how the list is kept current.
    """
    text = resources.files("publicsuffixlist").joinpath("public_suffix_list.dat").read_text(encoding="utf-8")
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
    return tuple(sorted(tlds - set(cctlds))), tuple(cctlds)


def _trie_pattern(words: Iterable[str]) -> str:
    """An alternation of words as a trie, each letter as /i matches it.

    Optional branches are greedy, so the longest word is tried first, as twitter-text's
    alternation (longest first among words that share a start) does.
    """
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = root
        for ch in word:
            partners = _case_partners().get(ord(ch))
            node = node.setdefault(chr(min(partners)) if partners else ch, {})
        node[""] = {}

    def emit(node: dict) -> str:  # type: ignore[type-arg]
        branches = [_lit(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = "|".join(branches)
        if "" in node:
            return f"(?:{body})?"
        return f"(?:{body})" if len(branches) > 1 else branches[0]

    return emit(root)


def _url_patterns(gtlds: tuple[str, ...], cctlds: tuple[str, ...]) -> dict[str, str]:
    """twitter-text's URL, ASCII-domain and t.co patterns, the URL and the ASCII domain
    once more for a search that skips the inside of a run, and a cheap hint of a URL;
    each but t.co also as a quick pattern (`*_quick`), whose ASCII TLD is checked after.

    A TLD alternation of 1,500 words costs a search a test per branch at each place
    where a TLD may start. An ASCII TLD must be followed by a character that is no
    ASCII letter, so it is the whole run of ASCII letters there: the quick patterns
    take any run (group "tld") and `_tld_ok` looks it up. Where that run is not a TLD
    the full pattern is searched again, so a quick search finds what the full one
    finds: at every place both try, the quick one accepts a superset, the same length.
    """
    tld_end = r"(?=[^0-9a-zA-Z@+\-]|$)"
    punycode = f"(?:{_word('xn--')}{_cls('-0-9a-z')}+)"
    gtld = f"(?:{_trie_pattern(gtlds)}{tld_end})"
    cctld = f"(?:{_trie_pattern(cctlds)}{tld_end})"
    tld = f"(?:{gtld}|{cctld}|{punycode})"
    hint_tld = f"(?:{_word('xn--')}|{_trie_pattern(list(gtlds) + list(cctlds))}{tld_end})"
    quick = _quick_tlds(gtlds + cctlds)
    if quick is not None:
        # TLDs that begin with a non-ASCII character keep their alternation, behind a
        # test of their first character.
        idn_g = [t for t in gtlds if not t[0].isascii()]
        idn_c = [t for t in cctlds if not t[0].isascii()]
        runs = quick[1]  # every run the group may take
        shortest, longest = min(map(len, runs), default=1), max(map(len, runs), default=1)
        ascii_run_tld = f"(?P<tld>(?>[a-zA-Z]{{{shortest},{longest}}})){tld_end}"
        tld_quick = f"(?:{ascii_run_tld}|{_idn_tlds(idn_g, tld_end)}{_idn_tlds(idn_c, tld_end)}{punycode})"
        hint_quick_tld = f"(?:{_word('xn--')}|{ascii_run_tld}|{_idn_tlds(idn_g + idn_c, tld_end)}(?!))"
    else:  # a TLD the quick patterns cannot tell: they are the full ones, with a "tld" group that never takes part
        tld_quick, hint_quick_tld = f"(?:{tld}(?P<tld>(?!))?)", f"(?:{hint_tld}(?P<tld>(?!))?)"
    not_domain = _chars(_PUNCT) | _chars(_SPACES) | _chars(_INVALID) | _chars(_DIRECTIONAL)
    domain_char = _cls(not_domain, negate=True)
    # twitter-text's labels, (?:(?:D(?:[_-]|D)*)?D\.) and the same without "_": a run
    # that begins and ends with a domain character, then a dot. A label ends at the
    # first dot whatever way it matches, so taking the run whole (atomic) changes no
    # match, and spares the scan a backtrack through every label at every start.
    label_or_underscore = _cls(not_domain - {ord("_"), ord("-")}, negate=True)
    label_or_hyphen = _cls(not_domain - {ord("-")}, negate=True)
    subdomain = f"(?:(?={domain_char})(?>{label_or_underscore}+)(?<={domain_char})\\.)"
    domain_name = f"(?:(?={domain_char})(?>{label_or_hyphen}+)(?<={domain_char})\\.)"
    # JavaScript sees a character above U+FFFF as two units: the first can be the
    # character before a domain that starts with the second. Here that is a domain that
    # starts with the whole character and nothing before it, tried first, as there.
    before_char = _cls("A-Za-z0-9@＠$#＃" + _INVALID, negate=True)
    preceding = f"(?:(?=[\U00010000-\U0010ffff])|{before_char}|{_cls(_DIRECTIONAL)}|^)"
    path_char = _cls("a-z" + _CYRILLIC + "0-9!*';:=+,.$/%#[]\\-\u2013_~@|&" + _LATIN_ACCENTS)
    parens = f"\\((?:{path_char}+|(?:{path_char}*\\({path_char}+\\){path_char}*))\\)"
    path_end_char = _cls("+\\-a-z" + _CYRILLIC + "0-9=_#/" + _LATIN_ACCENTS)
    path_end = f"(?:{path_end_char}|(?:{parens}))"
    path = f"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:@{path_char}+/))"
    query_char = _cls("a-z0-9!?*'@();:&=+$/%#[]\\-_.,~|")
    query_end = _cls("a-z0-9\\-_&=#/")
    protocol = f"{_word('http')}{_lit('s')}?://"
    ascii_char = _cls("\\-a-z0-9" + _LATIN_ACCENTS)
    patterns = {}
    for suffix, any_tld in (("", tld), ("_quick", tld_quick)):
        url = (
            f"(?P<before>{preceding})"
            "(?P<url>"
            f"(?P<protocol>{protocol})?"
            f"(?P<domain>{subdomain}*{domain_name}{any_tld})"
            "(?::(?P<port>[0-9]+))?"
            f"(?P<path>/{path}*)?"
            f"(?P<query>\\?{query_char}*{query_end})?"
            ")"
        )
        patterns["url" + suffix] = url
        # A search tries every start. Where the character before is one that may precede a
        # URL and this one is a domain character, the try before already failed with a URL
        # starting here, and one starting at the next character fails the same way: its
        # first label is a tail of that one, and all after it is the same. Unless a
        # protocol starts there. So those tries are skipped, sparing a search a pass over
        # the rest of a long label at each of its characters. Only for a search from the
        # start of a word: the character before `pos` has not been tried as the one before.
        patterns["url_from_start" + suffix] = f"(?!(?<={before_char}){domain_char}(?!{protocol})){url}"
        ascii_domain = f"(?:(?:{ascii_char}+)\\.)+{any_tld}"
        patterns["ascii_domain" + suffix] = ascii_domain
        # The first label of an ASCII domain runs to the first dot, so a match may start
        # anywhere in a run of its characters and end at the same place: whether a run
        # holds one is told at its first character, and the search skips the others.
        patterns["ascii_run" + suffix] = f"(?<!{ascii_char}){ascii_domain}"
    patterns["tco"] = f"^{protocol}{_lit('t')}\\.{_word('co')}/({_cls('a-z0-9')}+)(?:\\?{query_char}*{query_end})?"
    # Every URL holds a "." and a TLD that ends there: where none is, no URL scan is needed.
    # The hint runs on to the end of its word (the next space or newline), where a URL ends.
    patterns["hint"] = f"\\.{hint_tld}[^ \\n]*"
    patterns["hint_quick"] = f"\\.{hint_quick_tld}[^ \\n]*"
    return patterns


def _quick_tlds(tlds: Iterable[str]) -> tuple[frozenset[str], frozenset[str]] | None:
    """The ASCII runs the quick patterns' "tld" group may take: (those that are a TLD, for
    the URL and ASCII-domain patterns; those that may begin one, for the hint).

    A TLD that begins with ASCII letters and goes on with other characters is tried by
    the full pattern after the run, so its run is no TLD for the first set. None when
    a TLD holds an ASCII character that is no letter, which the run cannot take.
    """
    whole: set[str] = set()
    begun: set[str] = set()
    for t in tlds:
        run = len(t) - len(t.lstrip(string.ascii_letters))
        if run < len(t) and t[run].isascii():
            return None
        if run == len(t):
            whole.add(t.lower())
        elif run:
            begun.add(t[:run].lower())
    return frozenset(whole - begun), frozenset(whole | begun)


def _idn_tlds(tlds: list[str], tld_end: str) -> str:
    """An alternative (with its "|") for TLDs that begin with a non-ASCII character, behind a test of it."""
    if not tlds:
        return ""
    return f"(?:(?={_cls({ord(t[0]) for t in tlds})}){_trie_pattern(tlds)}{tld_end})|"


def _hashtag_patterns(data: TextData) -> tuple[str, str]:
    """twitter-text's hashtag after its sign, and the characters that cannot stand before it.

    twitter-text's pattern consumes the character before the sign (any but a letter,
    digit, "&" or lone surrogate, or a VS15 or VS16, or nothing at the start), so a
    hashtag cannot use the last character of the one before it.
    """
    letters, characters = data.hashtag_letters, data.hashtag_characters
    alpha = r"\p{L}\p{M}" if letters is None else _class_body(letters)
    specials = _class_body(_runs(_chars(_HASHTAG_SPECIALS)))
    alnum = rf"\p{{L}}\p{{M}}\p{{Nd}}{specials}" if characters is None else _class_body(characters)
    body = f"(?!\ufe0f|\u20e3)[{alnum}]*[{alpha}][{alnum}]*"
    not_before = f"(?![\ufe0e\ufe0f])[{alnum}&\ud800-\udfff]"
    return body, not_before


# twitter-text's mention, whose start consumes the character (or "RT:") before the sign.
_MENTION = (
    r"(?:^|[^a-zA-Z0-9_!#$%&*@＠]|(?:^|[^a-zA-Z0-9_+~.\-])(?:rt|RT|rT|Rt):?)"
    r"(?P<at>[@＠])(?P<name>[a-zA-Z0-9_]{1,20})(?P<list>/[a-zA-Z][a-zA-Z0-9_\-]{0,24})?"
)


_EMOJI_BLOCKS = ((0x1F000, 0x1FAFF), (0xE0000, 0xE007F))


def _bmp_or_blocks(points: set[int]) -> set[int]:
    """`points` below U+10000, and the whole of each emoji block that holds one above."""
    out = {cp for cp in points if cp <= 0xFFFF}
    for first, last in _EMOJI_BLOCKS:
        if any(first <= cp <= last for cp in points):
            out.update(range(first, last + 1))
    astray = {cp for cp in points if cp > 0xFFFF and not any(a <= cp <= b for a, b in _EMOJI_BLOCKS)}
    return out | astray


class _Emoji:
    """Which runs of a text twemoji draws as one emoji, from the `emoji` package's data.

    The shapes are twemoji's: every fully-qualified sequence; an emoji that has a text
    form, with its VS16 or alone (not before VS15); a skin-tone modifier after the
    emoji that take one (with or without VS16 between); a keycap with or without VS16.
    """

    def __init__(self, version: float | None, text_forms: frozenset[str] | None) -> None:
        fully_qualified = emoji.STATUS["fully_qualified"]
        singles: dict[str, str] = {}
        sequences: set[str] = set()
        variants: set[str] = set()
        for seq, info in emoji.EMOJI_DATA.items():
            if version is not None and float(info["E"]) > version:
                continue
            base = seq.replace(_VS16, "")
            if len(base) == 1:
                singles[base] = "plain"
                if info.get("variant") if text_forms is None else base in text_forms:
                    variants.add(base)
            elif info["status"] == fully_qualified:
                sequences.add(seq)
        bases = {s[0] for s in sequences if len(s) == 2 and s[1] in _SKIN_TONES}
        for ch in variants:
            singles[ch] = "text" if ch in _TEXT_STYLE else "variant"
            sequences.add(ch + _VS16)
            if ch in bases:
                sequences.update(ch + _VS16 + tone for tone in _SKIN_TONES)
        for seq in list(sequences):
            if len(seq) == 3 and seq[1] == _VS16 and seq[2] == _KEYCAP:
                sequences.add(seq[0] + _KEYCAP)
        singles[_VS16] = "plain"  # a VS16 that follows nothing it belongs to is one too
        self.singles = singles
        self.sequences = frozenset(sequences)
        by_first: dict[str, set[int]] = {}
        for seq in sequences:
            by_first.setdefault(seq[0], set()).add(len(seq))
        self.lengths = {k: tuple(sorted(v, reverse=True)) for k, v in by_first.items()}
        # The sequences as a trie of dicts, "" marking where one ends: a walk follows a
        # cluster down it as far as it goes, instead of trying each length in turn.
        trie: dict[str, Any] = {}
        for seq in sequences:
            node = trie
            for ch in seq:
                node = node.setdefault(ch, {})
            node[""] = True
        self.trie = trie
        self.seconds = frozenset(seq[1] for seq in sequences)
        # Whether every sequence holds a character above U+FFFF, a VS16, a ZWJ or a keycap
        # mark: then a text holding none of them holds no sequence.
        self.marked = all(max(seq) > "\uffff" or not _SEQUENCE_MARKS.isdisjoint(seq) for seq in sequences)
        # Emoji sit in clusters: a character that may begin one, then any that may follow
        # inside one. Keycaps ("1" VS16 U+20E3) begin with a digit, a start only before
        # the keycap mark. Only a cluster of two or more can hold a sequence.
        # Above U+FFFF, a whole block stands for the emoji in it: a class of many ranges
        # there costs the scan a test per range and character, and a loose cluster
        # costs only a look-up.
        starts = {ord(c) for c in set(singles) | set(by_first) if c not in "#*0123456789"}
        inside = {ord(c) for seq in sequences for c in seq[1:]}
        # A pattern that begins with one class is scanned fast; keycaps get patterns of
        # their own, used when a text holds a keycap mark: a class that holds the keycap
        # bases too, and a base only before the mark.
        start_body = _class_body(_runs(_bmp_or_blocks(starts)))
        start = f"[{start_body}]"
        keycap_start = f"[{start_body}#*0-9](?:(?<![#*0-9])|(?=\ufe0f?\u20e3))"
        more = f"[{_class_body(_runs(_bmp_or_blocks(inside)))}]"
        self.clusters = {
            (False, False): re.compile(f"{start}{more}+"),
            (False, True): re.compile(f"{keycap_start}{more}+"),
            (True, False): re.compile(f"{start}{more}*"),
            (True, True): re.compile(f"{keycap_start}{more}*"),
        }
        self._singles_matter: dict[_Weights, bool] = {}  # by identity
        self.walked: dict[str, list[tuple[int, int]]] = {}  # the sequences in clusters that are none
        self._drawn_singles = "".join(c for c, kind in singles.items() if kind != "text")

    def end(self, text: str, pos: int) -> int:
        """End of the emoji that starts at `pos`, or -1."""
        n = len(text)
        if pos + 1 < n and text[pos + 1] in self.seconds:
            for length in self.lengths.get(text[pos], ()):
                if pos + length <= n and text[pos : pos + length] in self.sequences:
                    return pos + length
        kind = self.singles.get(text[pos])
        if kind is None or kind == "text" or (kind == "variant" and pos + 1 < n and text[pos + 1] == _VS15):
            return -1
        return pos + 1

    def spans(self, text: str, w: _Weights, astral: bool = True) -> list[tuple[int, int, int]]:
        """(start, end, weight) of each emoji, left to right, as twemoji's pattern finds them.

        A lone emoji is left out when it weighs as much as the character it is, as
        under the official configs: the result is the same and far cheaper. `astral`:
        whether the text holds a character above U+FFFF, which most sequences do.
        """
        return self.weighed(text, w, astral)[0]

    def weighed(self, text: str, w: _Weights, astral: bool = True) -> tuple[list[tuple[int, int, int]], int]:
        """`spans`, and what they add to the text's weight (each weighs `w.default`, not its characters)."""
        singles = self._singles_matter.get(w)
        if singles is None:
            drawn = self._drawn_singles
            if w.uniform:  # each weighs `light` or `default`: one at `light` is enough
                singles = w.light != w.default and w.plain(drawn) != w.default * len(drawn)
            else:
                singles = any(w.char(c) != w.default for c in drawn)
            self._singles_matter[w] = singles
        if not singles:
            if not astral and self.marked and _VS16 not in text and "\u200d" not in text and _KEYCAP not in text:
                return [], 0
            return self._sequence_spans(text, w)
        spans = []
        sequences = self.sequences
        weight = w.default
        for cluster in self.clusters[singles, _KEYCAP in text].finditer(text):
            pos, stop = cluster.span()
            if stop - pos > 1 and cluster.group() in sequences:
                spans.append((pos, stop, weight))  # the usual case: the cluster is one emoji
                continue
            while pos < stop:
                end = self.end(text, pos)
                if end < 0:
                    pos += 1
                    continue
                if singles or end - pos > 1:
                    spans.append((pos, end, weight))
                pos = end
        return spans, sum(weight - w.plain_part(text[start:end]) for start, end, weight in spans)

    def _sequence_spans(self, text: str, w: _Weights) -> tuple[list[tuple[int, int, int]], int]:
        """`weighed` when lone emoji are left out: the sequences alone, leftmost and longest.

        A lone emoji or a character that is none both end where they start, so
        neither needs to be told apart from the other here. What each sequence adds is
        looked up by the sequence, which the cluster's look-up has hashed already.
        """
        spans = []
        added = 0
        weight = w.default
        sequences, walked, weights = self.sequences, self.walked, w.sequences
        for cluster in self.clusters[False, _KEYCAP in text].finditer(text):
            found = cluster.group()
            if found in sequences:
                pos, stop = cluster.span()
                spans.append((pos, stop, weight))  # the usual case: the cluster is one emoji
                plain = weights.get(found)
                if plain is None:
                    plain = weights[found] = w.plain(found)
                added += weight - plain
                continue
            inside = walked.get(found)
            if inside is None:
                inside = self._walk_trie(found)
                if len(walked) > 4096:
                    walked.clear()
                walked[found] = inside
            if inside:
                pos = cluster.start()
                for start, end in inside:
                    spans.append((pos + start, pos + end, weight))
                    added += weight - w.plain_part(found[start:end])
        if len(weights) > 4096:
            weights.clear()
        return spans, added

    def _walk_trie(self, cluster: str) -> list[tuple[int, int]]:
        """`_walk(cluster)`, down `self.trie`: at each place the longest sequence there."""
        trie = self.trie
        inside = []
        pos = 0
        stop = len(cluster)
        while pos < stop - 1:  # a sequence has two characters at least
            node = trie.get(cluster[pos])
            end = -1
            at = pos + 1
            while node is not None:
                if "" in node:
                    end = at
                if at == stop:
                    break
                node = node.get(cluster[at])
                at += 1
            if end < 0:
                pos += 1
            else:
                inside.append((pos, end))
                pos = end
        return inside

    def _walk(self, cluster: str) -> list[tuple[int, int]]:
        """(start, end) of the sequences in a cluster that is none, leftmost and longest.

        What a cluster holds depends on it alone, and the same ones come back: the
        callers remember it.
        """
        sequences, lengths, seconds = self.sequences, self.lengths, self.seconds
        inside = []
        pos = 0
        stop = len(cluster)
        last = stop - 1  # a sequence has two characters at least
        while pos < last:
            if cluster[pos + 1] in seconds:
                for length in lengths.get(cluster[pos], ()):
                    if pos + length <= stop and cluster[pos : pos + length] in sequences:
                        inside.append((pos, pos + length))
                        pos += length
                        break
                else:
                    pos += 1
            else:
                pos += 1
        return inside


class _Patterns:
    """Compiled patterns for one `TextData`, built once on first use."""

    def __init__(self, data: TextData) -> None:
        if data.gtlds is None or data.cctlds is None:
            gtlds, cctlds = _psl_tlds()
        else:
            gtlds, cctlds = data.gtlds, data.cctlds
        patterns = _url_patterns(gtlds, cctlds)
        # The full patterns (url, url_from_start, ascii_domain, ascii_run, url_hint) are compiled on
        # first use: they are only the quick ones' fallback, and compiling them costs a process that
        # checks a schedule 0.6 s.
        self._full = patterns
        self.tco = re.compile(patterns["tco"])
        # The same, but an ASCII TLD is any run of ASCII letters, looked up in `tlds` after.
        self.url_quick = re.compile(patterns["url_quick"])
        self.url_from_start_quick = re.compile(patterns["url_from_start_quick"])
        self.ascii_domain_quick = re.compile(patterns["ascii_domain_quick"])
        self.ascii_run_quick = re.compile(patterns["ascii_run_quick"])
        self.url_hint_quick = re.compile(patterns["hint_quick"])
        self.tlds, self.hint_tlds = _quick_tlds(gtlds + cctlds) or (frozenset(), frozenset())
        self.url_tld = self.url_quick.groupindex["tld"]
        body, not_before = _hashtag_patterns(data)
        self.hashtag_body = regex.compile(body, regex.V0)
        self.hashtag_not_before = regex.compile(not_before, regex.V0)
        self.hash_signs = re.compile("[#＃]")
        self.mention = re.compile(_MENTION)
        self.emoji = _Emoji(data.emoji_version, data.emoji_text_forms)
        self.invalid = re.compile(f"[{_INVALID}]")
        # Caches: the same domains and words come back.
        self.domains_ok: dict[str, bool] = {}
        self.labels_ok: dict[str, bool] = {}
        self.url_words: dict[str, list[tuple[str, int, int]]] = {}
        self.url_walks: dict[str, list[tuple[int, int]]] = {}
        self.latin_accent = re.compile(f"[{_LATIN_ACCENTS}]")

    @cached_property
    def url(self) -> re.Pattern[str]:
        return re.compile(self._full["url"])

    @cached_property
    def url_from_start(self) -> re.Pattern[str]:
        return re.compile(self._full["url_from_start"])

    @cached_property
    def ascii_domain(self) -> re.Pattern[str]:
        return re.compile(self._full["ascii_domain"])

    @cached_property
    def ascii_run(self) -> re.Pattern[str]:
        return re.compile(self._full["ascii_run"])

    @cached_property
    def url_hint(self) -> re.Pattern[str]:
        return re.compile(self._full["hint"])


_compiled: dict[TextData, _Patterns] = {}


def _patterns(data: TextData | None) -> _Patterns:
    data = data or DATA
    p = _compiled.get(data)
    if p is None:
        p = _compiled[data] = _Patterns(data)
    return p


def _utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _adapt(delta: int, points: int, first: bool) -> int:
    """RFC 3492's bias adaptation, which decides how many digits the next delta takes."""
    delta = delta // 700 if first else delta // 2
    delta += delta // points
    k = 0
    while delta > 455:  # ((base - tmin) * tmax) // 2
        delta //= 35
        k += 36
    return k + (36 * delta) // (delta + 38)


def _punycode_length(part: str) -> int:
    """The length of `part` encoded in punycode (RFC 3492) without "xn--", found without encoding.

    Python's codec builds its output with a scan of the whole part for every character
    it inserts, which is slow on the long labels that links hold; only the length
    matters here, and the deltas give it.
    """
    points = [ord(c) for c in part]
    basic = len(part.encode("ascii", "ignore"))
    length = basic + 1 if basic else 0
    n, delta, bias, handled = 0x80, 0, 72, basic
    for m in sorted({cp for cp in points if cp >= 0x80}):
        delta += (m - n) * (handled + 1)
        n = m
        for cp in points:
            if cp < n:
                delta += 1
            elif cp == n:
                if not delta:  # the same character again, the usual case: one digit, and no bias
                    length += 1
                    bias = 0
                    handled += 1
                    continue
                # A variable-length integer: a digit for each threshold it reaches, and a last one.
                q, k = delta, 36
                while True:
                    t = 1 if k <= bias else 26 if k >= bias + 26 else k - bias
                    if q < t:
                        break
                    length += 1
                    q = (q - t) // (36 - t)
                    k += 36
                length += 1
                bias = _adapt(delta, handled + 1, handled == basic)
                delta = 0
                handled += 1
        delta += 1
        n += 1
    return length


def _label_ok(label: str) -> bool:
    """A DNS label must encode (punycode, as twitter-text's punycode 1.4.1) to 1..63 characters."""
    if len(label) > _MAX_LABEL_LENGTH:
        return False  # punycode never makes a label shorter than its code points
    if _PRINTABLE_ASCII.fullmatch(label):
        return len(label) >= 1
    # punycode.toASCII splits at ideographic and full-width dots too. A part that is not
    # printable ASCII becomes "xn--", its basic characters and a "-", then digits for
    # each other character: one at least, nine at most in a label this short. The
    # exact length is worked out only when those bounds leave the answer open.
    parts = _PUNYCODE_SEPARATORS.split(label)
    least = most = len(parts) - 1
    for part in parts:
        if _PRINTABLE_ASCII.fullmatch(part):
            least, most = least + len(part), most + len(part)
            continue
        basic = len(part.encode("ascii", "ignore"))
        others = len(part) - basic
        least += 4 + basic + (1 if basic else 0) + others
        most += 4 + basic + (1 if basic else 0) + 9 * others
    if least > _MAX_LABEL_LENGTH:
        return False
    if most <= _MAX_LABEL_LENGTH:
        return least >= 1
    exact = len(parts) - 1
    for part in parts:
        if _PRINTABLE_ASCII.fullmatch(part):
            exact += len(part)
        else:
            exact += 4 + _punycode_length(part)
    return 1 <= exact <= _MAX_LABEL_LENGTH


def _url_ok(p: _Patterns, url: str, protocol: str | None, domain: str, split: bool) -> bool:
    """twitter-text's isValidUrl: encodable labels and at most 4,096 UTF-16 units.

    `split`: the URL starts with a character above U+FFFF that JavaScript split, so
    there the URL starts with that character's low surrogate.
    """
    if split:
        domain = chr(0xDC00 | ((ord(domain[0]) - 0x10000) & 0x3FF)) + domain[1:]
    ok = p.domains_ok.get(domain)
    if ok is None:
        ok = _domain_ok(p, domain)
    if not ok:
        return False
    if 2 * len(url) + len(_DEFAULT_PROTOCOL) <= _MAX_URL_LENGTH:
        return True  # a character is at most two UTF-16 units
    return len(protocol or _DEFAULT_PROTOCOL) + _utf16_len(url) - split <= _MAX_URL_LENGTH


def _domain_ok(p: _Patterns, domain: str) -> bool:
    """Whether each label of `domain` encodes to 1..63 characters, remembered in `p.domains_ok`."""
    if domain.isascii() and domain.isprintable():  # the usual case: punycode keeps each label
        ok = len(domain) <= _MAX_LABEL_LENGTH or max(map(len, domain.split("."))) <= _MAX_LABEL_LENGTH
    elif 5 + len(domain) + 8 * (len(domain) - len(domain.encode("ascii", "ignore"))) <= _MAX_LABEL_LENGTH:
        # A label becomes "xn--", its ASCII characters, "-" and nine digits at most for each
        # other one (see `_label_ok`; a full-width dot that splits it counts nine): if the
        # whole domain so encoded fits, each label does.
        ok = True
    else:
        labels_ok = p.labels_ok
        ok = True
        for label in domain.split("."):
            label_ok = labels_ok.get(label)
            if label_ok is None:
                label_ok = _label_ok(label)
                if len(labels_ok) > 4096:
                    labels_ok.clear()
                labels_ok[label] = label_ok
            if not label_ok:
                ok = False
                break
    if ok and domain.startswith("xn--"):
        ok = _ascii_domain(p, domain, 0) is not None
    if len(p.domains_ok) > 4096:
        p.domains_ok.clear()
    p.domains_ok[domain] = ok
    return ok


def _ascii_domain(p: _Patterns, domain: str, pos: int) -> re.Match[str] | None:
    """The first ASCII domain in `domain` from `pos`, as `p.ascii_domain.search` finds it.

    One may start at `pos` in the middle of a run; after it, only where a run starts.
    """
    m = p.ascii_domain_quick.match(domain, pos)
    if m is not None:
        tld = m.group(1)
        if tld is None or tld.lower() in p.tlds:
            return m
        m = p.ascii_domain.match(domain, pos)
        if m is not None:
            return m
    m = p.ascii_run_quick.search(domain, pos + 1)
    if m is not None:
        tld = m.group(1)
        if tld is not None and tld.lower() not in p.tlds:
            return p.ascii_run.search(domain, m.start())  # none starts before it: the quick one would have
    return m


def _extract_urls(p: _Patterns, text: str) -> list[tuple[str, int, int]]:
    """(value, start, end) of each URL, as twitter-text's extractUrlsWithIndices.

    A URL holds a ".tld" and no space or newline, so only the word around each ".tld"
    (from the space before it, which may be the character before the URL) is scanned.
    What a word holds depends on the word alone, so it is remembered: the same links
    come back from post to post, and the live counter weighs the same words at every
    keystroke.
    """
    urls: list[tuple[str, int, int]] = []
    pos = 0
    lines = "\n" in text
    words = p.url_words
    hint = _next_hint(p, text, 0)
    while hint is not None:
        at, stop = hint.span()  # the hint runs to the end of its word
        hint = _next_hint(p, text, stop)
        start = text.rfind(" ", pos, at)
        if lines:
            start = max(start, text.rfind("\n", pos, at))
        if start >= 0:  # not the start of the text, where "^" may match
            word = text[start:stop]
            found = words.get(word)
            if found is None:
                found = _urls_in(p, word, 0, len(word))
                if len(words) > 4096:
                    words.clear()
                words[word] = found
            if found:
                if start:
                    urls.extend([(value, start + s, start + e) for value, s, e in found])
                else:
                    urls.extend(found)
        else:
            urls.extend(_urls_in(p, text, pos, stop))
        pos = stop
    return urls


def _next_hint(p: _Patterns, text: str, pos: int) -> re.Match[str] | None:
    """`p.url_hint.search(text, pos)`, by the quick pattern and a look-up of its ASCII TLD."""
    hint = p.url_hint_quick.search(text, pos)
    if hint is None:
        return None
    tld = hint.group(1)
    if tld is None or tld in p.tlds:
        return hint
    return _checked_hint(p, text, hint, tld)


def _checked_hint(p: _Patterns, text: str, hint: re.Match[str], tld: str) -> re.Match[str] | None:
    """The hint `_next_hint` finds from the start of `hint`, whose run of letters `tld` may be no TLD."""
    search = p.url_hint_quick.search
    while True:
        folded = tld.lower()
        if folded in p.tlds:
            return hint
        if folded in p.hint_tlds:  # it may begin a TLD that goes on with other characters
            full = p.url_hint.match(text, hint.start())
            if full is not None:
                return full
        found = search(text, hint.start() + 1)
        if found is None:
            return None
        hint = found
        tld = hint.group(1)
        if tld is None or tld in p.tlds:
            return hint


def _url_search(p: _Patterns, text: str, pos: int, stop: int, first: bool) -> re.Match[str] | None:
    """`(p.url_from_start if first else p.url).search(text, pos, stop)`, by the quick pattern
    and a look-up of its ASCII TLD (groups 1 to 4 and those by name are the same).

    Where the run is no TLD the full pattern searches again, from where the quick one
    matched: no match starts before, or the quick one, which accepts more, would have.
    """
    m = (p.url_from_start_quick if first else p.url_quick).search(text, pos, stop)
    if m is not None:
        tld = m.group(p.url_tld)
        if tld is not None and tld not in p.tlds and tld.lower() not in p.tlds:  # no TLD: the full search
            return (p.url_from_start if first else p.url).search(text, m.start(), stop)  # none starts before m
    return m


def _urls_in(p: _Patterns, text: str, pos: int, stop: int) -> list[tuple[str, int, int]]:
    """The URLs in text[pos:stop], a word that may begin with the character before one.

    At `stop` the pattern sees the end of the text: "$" matches there as the space or
    newline after it would. A URL holds a dot: where none is left, none is.
    """
    urls: list[tuple[str, int, int]] = []
    first = pos == 0
    search = p.url_from_start_quick.search if first else p.url_quick.search
    domains_ok, tlds, tld_group = p.domains_ok, p.tlds, p.url_tld
    while first or text.find(".", pos, stop) >= 0:  # a word holds a dot: its hint's
        m = search(text, pos, stop)  # `_url_search`, inline
        if m is None:
            break
        before, url, protocol, domain, tld = m.group(1, 2, 3, 4, tld_group)
        if tld is not None and tld not in tlds and tld.lower() not in tlds:  # no TLD: the full search
            m = (p.url_from_start if first else p.url).search(text, m.start(), stop)  # none starts before m
            if m is None:
                break
            before, url, protocol, domain = m.group(1, 2, 3, 4)
        first = False
        search = p.url_quick.search
        pos = m.end()
        if not protocol and before and before[-1] in "-_./":
            continue  # refused below whatever its domain: told before the domain is checked
        start = m.start(2)
        end = pos
        if before or protocol or url[0] <= "\uffff":  # the usual case, in short
            ok = domains_ok.get(domain)
            if ok is None:
                ok = _domain_ok(p, domain)
            if not ok or (
                2 * len(url) + len(_DEFAULT_PROTOCOL) > _MAX_URL_LENGTH and not _url_ok(p, url, protocol, domain, False)
            ):
                continue
        elif not _url_ok(p, url, protocol, domain, True):
            continue
        if protocol:
            if url[len(protocol)] in "tT":
                tco = p.tco.match(url)
                if tco:
                    if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                        continue
                    url = tco.group(0)
                    end = start + len(url)
            urls.append((url, start, end))
            continue
        # Without a protocol, each ASCII domain inside the match is a URL of its own;
        # the last one takes the path and query (one after "-", "_", "." or "/" is none).
        found: list[tuple[str, int, int]] = []
        ascii_end = 0
        am = _ascii_domain(p, domain, 0)
        while am is not None:
            ascii_domain = am.group()
            ascii_start = domain.index(ascii_domain, ascii_end)
            ascii_end = ascii_start + len(ascii_domain)
            found.append((ascii_domain, start + ascii_start, start + ascii_end))
            next_pos = am.end()
            am = _ascii_domain(p, domain, next_pos) if next_pos < len(domain) else None
        if not found:
            continue
        if m.group("path") is not None:
            value, last_start, _ = found[-1]
            found[-1] = (value + url[len(domain) :], last_start, end)
        urls.extend(found)
    return urls


def extract_urls(text: str, data: TextData | None = None) -> list[Entity]:
    """URLs as X links them, with or without a protocol."""
    if "." not in text:
        return []
    return [Entity(*u) for u in _extract_urls(_patterns(data), text)]


def _without_overlaps(tags: list[Entity], urls: list[tuple[str, int, int]]) -> list[Entity]:
    """The hashtags that twitter-text's removeOverlappingEntities keeps among the URLs.

    Entities are taken by start (a hashtag before a URL on a tie); one that begins
    before the last kept one ends is dropped, and does not itself block what follows.
    """
    kept = []
    last_end = -1
    ordered = sorted(
        [(t.start, 0, t.end, t) for t in tags] + [(s, 1, e, None) for _, s, e in urls], key=lambda x: x[:2]
    )
    for start, _, end, tag in ordered:
        if start < last_end:
            continue
        last_end = end
        if tag is not None:
            kept.append(tag)
    return kept


def extract_hashtags(text: str, data: TextData | None = None) -> list[Entity]:
    """Hashtags (value without the sign), except those a URL overlaps first."""
    if "#" not in text and "＃" not in text:
        return []
    p = _patterns(data)
    tags: list[Entity] = []
    consumed = 0
    for sign in p.hash_signs.finditer(text):
        at = sign.start()
        if at > 0 and (at - 1 < consumed or p.hashtag_not_before.match(text, at - 1)):
            continue
        m = p.hashtag_body.match(text, at + 1)
        if m is None:
            continue
        consumed = m.end()
        after = text[consumed : consumed + 3]
        if after[:1] in ("#", "＃") or after == "://":
            continue
        tags.append(Entity(m.group(), at, consumed))
    if not tags or "." not in text:
        return tags
    urls = _extract_urls(p, text)
    return _without_overlaps(tags, urls) if urls else tags


def extract_mentions(text: str, data: TextData | None = None) -> list[Entity]:
    """@mentions of accounts (value without the sign); list references are skipped."""
    if "@" not in text and "＠" not in text:
        return []
    p = _patterns(data)
    mentions: list[Entity] = []
    for m in p.mention.finditer(text):
        after = text[m.end() : m.end() + 3]
        if after[:1] in ("@", "＠") or after == "://" or (after and p.latin_accent.match(after)):
            continue
        if m.group("list"):
            continue
        mentions.append(Entity(m.group("name"), m.start("at"), m.end()))
    return mentions


# --- weighing ------------------------------------------------------------------------


class _Weights:
    """A config's character weights, as twitter-text reads them: one UTF-16 unit each."""

    def __init__(self, config: TextConfig) -> None:
        self.config = config
        self.default = config.default_weight
        self.url = config.transformed_url_length * config.scale
        self.max = config.max_weighted_tweet_length * config.scale
        weights = {w for _, _, w in config.ranges}
        # twitter-text weighs a character above U+FFFF by its low surrogate.
        low_surrogates = any(s <= 0xDFFF and e >= 0xDC00 for s, e, _ in config.ranges)
        self.uniform = len(weights) == 1 and not low_surrogates
        self.light = weights.pop() if self.uniform else self.default
        cls = "".join(f"\\U{max(s, 0):08x}-\\U{min(e, 0xFFFF):08x}" for s, e, _ in config.ranges if s <= 0xFFFF)
        self.heavy = re.compile(f"[^{cls}]" if cls else "[\\s\\S]")
        self._blocks(config)
        self.ascii = self.uniform and any(s <= 0 and e >= 127 for s, e, _ in config.ranges)
        self.parts: dict[str, int] = {}
        self.sequences: dict[str, int] = {}  # `plain` of emoji sequences, apart: links come and go in `parts`
        every = [w for _, _, w in config.ranges] + [self.default]
        self.heaviest, self.lightest = max(every), min(every)

    def _blocks(self, config: TextConfig) -> None:
        """What the high byte of a UTF-16 unit tells of its weight, for `plain16`.

        In most blocks of 256 units all weigh `light` or all `default`; in the few where a
        range starts or ends (at most 8), the low byte tells. The high surrogates must
        weigh as one, so that a character above U+FFFF (always heavy) is told by its units.
        """
        self.by_units = False
        if not self.uniform:
            return
        light = sorted((max(s, 0), min(e, 0xFFFF)) for s, e, _ in config.ranges if s <= 0xFFFF)
        not_heavy = bytearray()
        self.mixed: list[tuple[int, bytes]] = []
        for hi in range(256):
            first, last = hi << 8, (hi << 8) | 0xFF
            lows = {cp & 0xFF for s, e in light for cp in range(max(s, first), min(e, last) + 1)}
            if len(lows) == 256:
                not_heavy.append(hi)
            elif lows:
                not_heavy.append(hi)
                self.mixed.append((hi, bytes(sorted(lows))))
        high_surrogates = set(range(0xD8, 0xDC))
        if len(self.mixed) > 8 or not (high_surrogates <= set(not_heavy) or high_surrogates.isdisjoint(not_heavy)):
            return
        self.not_heavy = bytes(not_heavy)
        self.astral_twice = high_surrogates.isdisjoint(not_heavy)  # both units of one count as heavy
        # Mixed block k has bit k: a unit is heavy there when the bit of its high byte
        # (`block_bits`) is also one of its low byte (`low_bits`, the blocks where that low
        # byte is heavy). Both tables applied to all units at once, one AND of the two
        # as integers, and its bits counted: no unit is looked at in Python.
        block_bits = bytearray(256)
        low_bits = bytearray(256)
        for k, (hi, light_lows) in enumerate(self.mixed):
            block_bits[hi] = 1 << k
            for lo in range(256):
                if lo not in light_lows:
                    low_bits[lo] |= 1 << k
        self.block_bits, self.low_bits = bytes(block_bits), bytes(low_bits)
        self.one_mixed = self.mixed[0][0] if len(self.mixed) == 1 else -1
        self.by_units = True

    def char(self, ch: str) -> int:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp = 0xDC00 | ((cp - 0x10000) & 0x3FF)
        for start, end, weight in self.config.ranges:
            if start <= cp <= end:
                return weight
        return self.default

    def plain_part(self, text: str) -> int:
        """`plain` for the short runs that entities are, which come back often."""
        weight = self.parts.get(text)
        if weight is None:
            weight = self.plain(text)
            if len(self.parts) > 4096:
                self.parts.clear()
            self.parts[text] = weight
        return weight

    def plain16(self, text: str) -> tuple[int, int]:
        """`plain(text)` and the length of `text` in UTF-16 units.

        Weighed by the high bytes of its UTF-16 units: bytes are counted far faster
        than a pattern tests characters, and the units are needed anyway.
        """
        units = text.encode("utf-16-le", "surrogatepass")
        n_units = len(units) >> 1
        if not self.by_units:
            return self.plain(text), n_units
        high = units[1::2]
        n_heavy = len(high.translate(None, self.not_heavy))
        if self.mixed and (self.one_mixed < 0 or self.one_mixed in high):
            in_mixed = int.from_bytes(high.translate(self.block_bits), "little")
            n_heavy += (in_mixed & int.from_bytes(units[::2].translate(self.low_bits), "little")).bit_count()
        if self.astral_twice:
            n_heavy -= n_units - len(text)
        return self.light * (len(text) - n_heavy) + self.default * n_heavy, n_units

    def plain(self, text: str) -> int:
        if not self.uniform:
            return sum(self.char(c) for c in text)
        if self.ascii and text.isascii():
            return self.light * len(text)
        n_heavy = len(self.heavy.findall(text))
        return self.light * (len(text) - n_heavy) + self.default * n_heavy


_weighed: dict[int, tuple[TextConfig, _Weights]] = {}


def _weights(config: TextConfig) -> _Weights:
    # By identity: hashing a config on every call would cost more than the rest.
    known = _weighed.get(id(config))
    if known is None or known[0] is not config:
        if len(_weighed) > 64:
            _weighed.clear()
        known = _weighed[id(config)] = (config, _Weights(config))
    return known[1]


def parse_tweet(text: str, config: TextConfig = CONFIG_V3, data: TextData | None = None) -> ParseResult:
    """Weigh a text as X does and say whether it can be posted."""
    p = _compiled.get(data or DATA) or _patterns(data)
    known = _weighed.get(id(config))
    w = known[1] if known is not None and known[0] is config else _weights(config)
    if text.isascii():
        normalized = text
        text_len16 = len(text)
        offset = 0
        spans = _url_walk(p, text, w.url) if "." in text else []
        has_invalid = False
        total = w.plain(text)
        if spans:
            plain_part = w.plain_part
            for start, end, weight in spans:
                total += weight - plain_part(normalized[start:end])
        normalized_len16 = text_len16
    else:
        normalized = unicodedata.normalize("NFC", text)
        total, normalized_len16 = w.plain16(normalized)
        text_len16 = normalized_len16 if normalized is text else _utf16_len(text)
        offset = text_len16 - normalized_len16
        has_invalid = "\ufffe" in normalized or "\ufeff" in normalized or "\uffff" in normalized
        # The whole text weighed character by character, then each entity's weight for its characters'.
        spans, added = _weighed_spans(p, normalized, w, normalized_len16 != len(normalized))
        total += added

    if total <= w.max and not has_invalid:
        valid_end = text_len16 - 1 if text_len16 else 0
    else:
        found = None
        if not has_invalid and w.uniform and w.lightest > 0 and total - w.max <= w.max // 2:
            found = _last_valid16_from_end(normalized, spans, w, total, normalized_len16)
        if found is None:
            found = _last_valid16(p, normalized, spans, w, total, has_invalid)
        valid_end = found + offset

    weighted = total // config.scale
    return _parse_result(
        weighted_length=weighted,
        valid=(not has_invalid) and 0 < weighted <= config.max_weighted_tweet_length,
        # twitter-text divides in floating point: 4522 / 280 * 1000 floors to 16149.
        permillage=int(weighted / config.max_weighted_tweet_length * 1000),
        display_range_start=0,
        display_range_end=text_len16 - 1 if text_len16 > 0 else 0,
        valid_range_start=0,
        valid_range_end=valid_end,
    )


def _parse_result(**fields: Any) -> ParseResult:
    """A `ParseResult` with these fields, made in a third of the time its frozen `__init__` takes.

    That `__init__` sets each field through `object.__setattr__`; a result per text is
    made, so it shows among the costs of weighing.
    """
    result = object.__new__(ParseResult)
    result.__dict__.update(fields)
    return result


def _entity_spans(p: _Patterns, normalized: str, w: _Weights, astral: bool = True) -> list[tuple[int, int, int]]:
    """(start, end, weight) of each URL and emoji that twitter-text's walk counts, in order.

    The walk takes a URL before an emoji that starts at the same place, and skips any
    entity that starts inside one already taken.
    """
    return _weighed_spans(p, normalized, w, astral)[0]


def _weighed_spans(p: _Patterns, normalized: str, w: _Weights, astral: bool) -> tuple[list[tuple[int, int, int]], int]:
    """`_entity_spans`, and what they add to the text's weight (their own weight, not their characters')."""
    urls = _url_walk(p, normalized, w.url) if "." in normalized else []
    plain_part = w.plain_part
    if w.config.emoji_parsing_enabled:
        emoji_spans, added = p.emoji.weighed(normalized, w, astral)
        if not urls:
            return emoji_spans, added
        if emoji_spans:
            # What the emoji add is known; a link adds its own, an emoji left out takes its back.
            merged = sorted(
                [(s, 0, e, weight) for s, e, weight in urls] + [(s, 1, e, weight) for s, e, weight in emoji_spans]
            )
            spans = []
            pos = 0
            for start, is_emoji, end, weight in merged:
                if start >= pos:
                    spans.append((start, end, weight))
                    pos = end
                    if not is_emoji:
                        added += weight - plain_part(normalized[start:end])
                elif is_emoji:
                    added -= weight - plain_part(normalized[start:end])
            return spans, added
    return urls, sum(weight - plain_part(normalized[start:end]) for start, end, weight in urls)


def _url_walk(p: _Patterns, text: str, weight: int) -> list[tuple[int, int, int]]:
    """`_url_spans(text, _extract_urls(p, text), ...)`, each link weighing `weight`.

    The same walk over the same words: where a link is found in a word, and where
    the walk steps over it, depend on the word alone, so both are remembered. A word
    at the start of the text is one from there (where "^" matches, as at its start).
    """
    spans: list[tuple[int, int, int]] = []
    pos = 0
    lines = "\n" in text
    walks = p.url_walks
    search, tlds = p.url_hint_quick.search, p.tlds
    hint = search(text)
    while hint is not None:
        at, stop = hint.span()  # the hint runs to the end of its word
        tld = hint.group(1)
        if tld is not None and tld not in tlds:  # `_next_hint`, inline: this runs for every word with a dot
            checked = _checked_hint(p, text, hint, tld)
            if checked is None:
                break
            at, stop = checked.span()
        hint = search(text, stop)
        start = text.rfind(" ", pos, at)
        if lines:
            newline = text.rfind("\n", pos, at)
            if newline > start:
                start = newline
        if start < 0:
            start = 0
        word = text[start:stop]
        walk = walks.get(word)
        if walk is None:
            walk = _word_walk(p, word)
            if len(walks) > 4096:
                walks.clear()
            walks[word] = walk
        if walk:
            spans += [(start + s, start + e, weight) for s, e in walk]
        pos = stop
    return spans


def _word_walk(p: _Patterns, word: str) -> list[tuple[int, int]]:
    """(start, end) of each link in a word as the walk steps over it (see `_url_spans`)."""
    found = _urls_in(p, word, 0, len(word))
    if not found:
        return []
    walk = [(s, e) for value, s, e in found if len(value) == e - s]
    if len(walk) != len(found):  # one keeps a part of its domain: step as the walk does
        walk = [(s, e) for s, e, _ in _url_spans(word, found, 0)]
    return walk


def _url_spans(text: str, urls: list[tuple[str, int, int]], weight: int) -> list[tuple[int, int, int]]:
    """(start, end, weight) of each URL as twitter-text's walk steps over it.

    The walk steps by the length of the URL's value, not of its place in the text. They
    differ when a URL without protocol keeps only the ASCII part of its domain: the walk
    then lands inside the URL and weighs the rest as text.
    """
    spans = []
    for value, start, end in urls:
        if len(value) != end - start:
            target = _utf16_len(value)
            units = 0
            end = start
            while units < target:
                units += 2 if text[end] > "\uffff" else 1
                end += 1
            if units > target:
                end -= 1  # it landed on a low surrogate, which it weighs as a character
        spans.append((start, end, weight))
    return spans


def _last_valid16(
    p: _Patterns, normalized: str, spans: list[tuple[int, int, int]], w: _Weights, whole: int, has_invalid: bool
) -> int:
    """The UTF-16 index of the last unit that still fits, as twitter-text's walk finds it.

    The walk keeps the last index at which the running weight is within the limit and
    no invalid character has been met; weights are never negative, so that index is
    the end of the longest prefix meeting both, found segment by segment. `whole` is
    the weight of the whole text; `has_invalid`, whether it holds an invalid character.
    """
    invalid = p.invalid.search(normalized) if has_invalid else None
    stop = invalid.start() if invalid else len(normalized)
    total = 0
    last_end = 0  # code point index just past the last element that fits
    pos = 0

    def walk_plain(segment_end: int, weight: int | None = None) -> bool:
        """Take plain characters up to `segment_end` (weighing `weight` if known); False once one does not fit."""
        nonlocal total, last_end, pos
        segment = normalized[pos:segment_end]
        if weight is None:
            weight = w.plain(segment)
        if total + weight <= w.max:
            total += weight
            pos = last_end = segment_end
            return True
        room = w.max - total
        # The longest prefix that fits, by halving, between what fits surely (every
        # character at the heaviest weight) and what cannot (all at the lightest); each
        # step weighs only the characters between the prefix that fits and the middle.
        fits = min(len(segment), room // w.heaviest) if w.heaviest > 0 else 0
        fails = min(len(segment), room // w.lightest + 1) if w.lightest > 0 else len(segment)
        if w.uniform:
            # Each character weighs `light` or `default`: a prefix weighs by its length and
            # the heavy characters in it, found once.
            light, extra = w.light, w.default - w.light
            heavy = [m.start() for m in w.heavy.finditer(segment, 0, fails)]
            fits = bisect_right(range(fails + 1), room, fits, key=lambda k: light * k + extra * bisect_left(heavy, k))
            pos = last_end = pos + fits - 1
            return False
        fitting = w.plain(segment[:fits])
        while fails - fits > 1:
            mid = (fits + fails) // 2
            weight = fitting + w.plain(segment[fits:mid])
            if weight <= room:
                fits, fitting = mid, weight
            else:
                fails = mid
        pos = last_end = pos + fits
        return False

    for start, end, weight in spans:
        if start >= stop:
            break  # an entity never holds an invalid character
        if not walk_plain(start) or total + weight > w.max:
            return _last16(normalized, last_end)
        total += weight
        pos = last_end = end
    walk_plain(stop, whole - total if stop == len(normalized) else None)
    return _last16(normalized, last_end)


def _last_valid16_from_end(
    normalized: str, spans: list[tuple[int, int, int]], w: _Weights, whole: int, normalized_len16: int
) -> int | None:
    """`_last_valid16` for a text a little over the limit, from its end; None if it cannot tell.

    The longest prefix that fits leaves the shortest tail that weighs what the text is
    over by. Most such texts end in plain characters that hold it: then only those
    are weighed, and in UTF-16 units only the tail is counted. Weights are uniform.
    """
    need = whole - w.max
    end = len(normalized)
    last = min(end - (spans[-1][1] if spans else 0), -(-need // w.lightest))
    tail = normalized[end - last :]
    light, extra = w.light, w.default - w.light
    heavy = [m.start() for m in w.heavy.finditer(tail)]
    n_heavy = len(heavy)
    if light * last + extra * n_heavy < need:
        return None  # the tail of plain characters does not hold it
    # The fewest characters from the end that weigh `need`.
    dropped = bisect_left(
        range(last + 1),
        need,
        -(-need // w.heaviest),
        key=lambda k: light * k + extra * (n_heavy - bisect_left(heavy, last - k)),
    )
    if dropped == end:
        return 0
    return normalized_len16 - _utf16_len(tail[last - dropped :]) - 1


def _last16(normalized: str, end: int) -> int:
    """The UTF-16 index of the last unit before code point index `end` (0 for none)."""
    return _utf16_len(normalized[:end]) - 1 if end else 0


def weighted_length(text: str) -> int:
    """Shorthand for `parse_tweet(text).weighted_length`."""
    return parse_tweet(text).weighted_length


def load_config(path: Path) -> TextConfig:
    """Read a twitter-text config JSON file."""
    return TextConfig.from_json(json.loads(path.read_text(encoding="utf-8")))

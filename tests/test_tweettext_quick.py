"""The quick URL patterns of livetweet.plan.tweettext against the full ones they stand for.

The quick patterns take any run of ASCII letters as a TLD and look it up after; where
the run is none they search again with the full pattern (a TLD alternation of 1,500
words). Each must find exactly what the full pattern finds, with today's data, with a
list where a TLD begins with ASCII letters and goes on with others (and its ASCII part
is a TLD too), and with a list the quick patterns cannot take (a digit in a TLD).
"""

from __future__ import annotations

import random
import re

import pytest

from livetweet.plan import tweettext as tt

from .support.corpus import generate_texts

DATAS = {
    "today": tt.TextData("quick: today"),
    "mixed": tt.TextData(
        "quick: a TLD that goes on past ASCII",
        gtlds=("com", "org", "verm", "vermögensberater", "vermögen", "рф", "中国", "xyz"),
        cctlds=("de", "jp", "co", "uk", "ελ"),
    ),
    "digits": tt.TextData("quick: a TLD with a digit", gtlds=("com", "a1", "org"), cctlds=("de", "jp")),
}

PIECES = [
    "a",
    "ab",
    "com",
    "COM",
    "Org",
    "de",
    "jp",
    "uk",
    "co",
    "verm",
    "vermögen",
    "vermögensberater",
    "vermx",
    "a1",
    "xyz",
    "xn--p1ai",
    "XN--",
    "рф",
    "РФ",
    "中国",
    "ελ",
    "ϵλ",
    "ü",
    "日本",
    "😀",
    "_",
    "-",
    "1",
    ".",
    ".",
    ".",
    "/",
    ":8080",
    "?q=1",
    "@",
    "#",
    "\u200e",
    "\ufffe",
    "http://",
    "HTTPS://",
    "https:/",
    "\u212aey",
    "ſ",
    "aaaaaaaaaaaaaaaaaaaaaaaa",
]


def _words(seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [text[:300] for text in generate_texts(1500, seed) if "." in text]
    for _ in range(4_000):
        words.append(rng.choice(["", " ", "\n"]) + "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12))))
    return words


def _groups(m: re.Match[str] | None) -> object:
    if m is None:
        return None
    return m.span(), m.group(1, 2, 3, 4), m.group("port"), m.group("path"), m.group("query")


@pytest.mark.parametrize("name", list(DATAS))
def test_the_quick_url_search_finds_what_the_full_search_finds(name: str) -> None:
    p = tt._patterns(DATAS[name])
    rng = random.Random(1)
    for word in _words(2):
        for pos in {0, rng.randint(0, len(word))}:
            for first in (True, False):
                full = (p.url_from_start if first else p.url).search(word, pos, len(word))
                assert _groups(tt._url_search(p, word, pos, len(word), first)) == _groups(full), (name, ascii(word))


@pytest.mark.parametrize("name", list(DATAS))
def test_the_quick_hint_finds_what_the_full_hint_finds(name: str) -> None:
    p = tt._patterns(DATAS[name])
    for text in _words(3):
        for pos in range(0, len(text), 7):
            full = p.url_hint.search(text, pos)
            quick = tt._next_hint(p, text, pos)
            assert (quick and quick.span()) == (full and full.span()), (name, ascii(text), pos)


@pytest.mark.parametrize("name", list(DATAS))
def test_the_quick_ascii_domain_finds_what_the_full_one_finds(name: str) -> None:
    p = tt._patterns(DATAS[name])
    rng = random.Random(4)
    labels = ["a", "com", "verm", "vermögensberater", "xn--p1ai", "é", "ü", "-", "x-y", "co", "1", "рф", "a1", "jp"]
    for _ in range(5_000):
        domain = ".".join(rng.choice(labels) + rng.choice(["", "é", "-", "q"]) for _ in range(rng.randint(1, 5)))
        for pos in range(len(domain)):
            full = p.ascii_domain.match(domain, pos) or p.ascii_run.search(domain, pos + 1)
            quick = tt._ascii_domain(p, domain, pos)
            assert (quick and quick.span()) == (full and full.span()), (name, domain, pos)


def test_the_lists_say_when_the_quick_patterns_may_be_used() -> None:
    assert tt._quick_tlds(("com", "de")) == (frozenset({"com", "de"}), frozenset({"com", "de"}))
    assert tt._quick_tlds(("COM", "verm", "vermögen", "рф")) == (
        frozenset({"com"}),
        frozenset({"com", "verm"}),
    )
    assert tt._quick_tlds(("com", "a1")) is None
    assert tt._quick_tlds(("com", "a-b")) is None
    assert tt._patterns(DATAS["today"]).tlds, "today's TLDs can be looked up"


def test_every_link_of_the_corpus_is_found_as_before() -> None:
    # The same links as the full patterns find, through the walk parse_tweet takes.
    for name, data in DATAS.items():
        p = tt._patterns(data)
        for text in generate_texts(2000, 6):
            expected = _full_extract(p, text)
            assert [(u.value, u.start, u.end) for u in tt.extract_urls(text, data)] == expected, (name, ascii(text))


def _full_extract(p: tt._Patterns, text: str) -> list[tuple[str, int, int]]:
    """The links twitter-text extracts, by the full patterns alone (no hint, no quick search)."""
    out: list[tuple[str, int, int]] = []
    for m in p.url.finditer(text):
        before, url, protocol, domain = m.group(1, 2, 3, 4)
        start, end = m.start(2), m.end()
        split = not before and not protocol and url[0] > "\uffff"
        if not tt._url_ok(p, url, protocol, domain, split):
            continue
        if protocol:
            tco = p.tco.match(url)
            if tco:
                if len(tco.group(1)) > 40:
                    continue
                url = tco.group(0)
                end = start + len(url)
            out.append((url, start, end))
            continue
        if before and before[-1] in "-_./":
            continue
        found = [(a.group(), start + a.start(), start + a.end()) for a in p.ascii_domain.finditer(domain)]
        if not found:
            continue
        if m.group("path") is not None:
            value, last_start, _ = found[-1]
            found[-1] = (value + url[len(domain) :], last_start, end)
        out.extend(found)
    return out


def _labels_ok(domain: str) -> bool:
    return all(tt._label_ok(label) for label in domain.split("."))


def test_a_short_domain_is_ok_as_its_labels_are() -> None:
    p = tt._patterns(tt.TextData("quick: domains"))
    rng = random.Random(8)
    pieces = ["a", "ü", "日本", "😀", "-", "\x01", "。", "．", "｡", "xn--", "ß", "\ud800"]
    for _ in range(20_000):
        domain = ".".join(
            "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(1, 3))
        )
        p.domains_ok.clear()
        ok = tt._domain_ok(p, domain)
        if not domain.startswith("xn--"):
            assert ok == _labels_ok(domain), ascii(domain)


def test_the_clusters_remembered_give_what_a_fresh_walk_gives() -> None:
    w = tt._weights(tt.CONFIG_V3)
    texts = generate_texts(3000, 7)
    warm = tt._patterns(tt.TextData("quick: clusters")).emoji
    first = [warm.spans(t, w) for t in texts]
    again = [warm.spans(t, w) for t in texts]
    assert first == again
    assert len(warm.walked) > 50, "some clusters are no sequence and were walked"
    for text, spans in zip(texts, first, strict=True):
        warm.walked.clear()
        assert warm.spans(text, w) == spans, ascii(text)


def test_the_bound_on_a_labels_length_holds_for_the_widest_characters() -> None:
    # "xn--", the ASCII characters, "-" and at most nine digits for each other character.
    rng = random.Random(9)
    wide = ["\U0010fffd", "\U000e0100", "😀", "\u0080", "ü", "日", "\ud800", "\U00020000"]
    for _ in range(20_000):
        label = "".join(rng.choice([*wide, "a", "1"]) for _ in range(rng.randint(1, 12)))
        if label.isascii():
            continue
        others = sum(1 for c in label if not c.isascii())
        assert 4 + len(label.encode("punycode")) <= 5 + len(label) + 8 * others, ascii(label)

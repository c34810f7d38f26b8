"""The fast paths of livetweet.plan.tweettext against the plain ways they stand for.

Each fast path must give what the slower, obvious computation gives, on the differential
test's generated texts and on random strings built to hit the edges (surrogates, the
blocks where a weight range starts or ends, combining marks, long labels).
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from livetweet.plan import tweettext as tt

from .support.corpus import generate_texts

CONFIGS = [
    tt.CONFIG_V3,
    tt.CONFIG_V2,
    # A range over the high surrogates, one that ends inside a block, one that makes a few letters heavy.
    tt.TextConfig(ranges=((0, 0xDBFF, 100),)),
    tt.TextConfig(ranges=((0, 0x2033, 100), (0x2040, 0x3000, 100))),
    tt.TextConfig(default_weight=100, ranges=((0x41, 0x5A, 300),)),
    # Two weights: not uniform, so the fast paths step aside.
    tt.TextConfig(ranges=((0, 0x7F, 100), (0x80, 0x10FF, 150))),
]


def _random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    picks = [
        lambda: chr(rng.randint(0x20, 0x7E)),
        lambda: chr(rng.randint(0x80, 0x3000)),
        lambda: chr(rng.randint(0x2000, 0x2040)),
        lambda: chr(rng.randint(0xD800, 0xDFFF)),
        lambda: chr(rng.randint(0x10000, 0x10FFFF)),
        lambda: chr(rng.randint(0x1F300, 0x1F64F)),
        lambda: rng.choice(["\ufe0f", "\u200d", "\u20e3", "\ufe0e", "\u0301", "\ufffe"]),
    ]
    return ["".join(rng.choice(picks)() for _ in range(rng.randint(0, 60))) for _ in range(n)]


TEXTS = generate_texts(3000, 5) + _random_texts(3000, 7)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: repr(c.ranges))
def test_weighing_by_utf16_units_is_weighing_by_characters(config: tt.TextConfig) -> None:
    w = tt._Weights(config)
    for text in TEXTS:
        assert w.plain16(text) == (w.plain(text), tt._utf16_len(text)), ascii(text)
    assert w.by_units == w.uniform  # none of these configs needs the pattern instead


def test_the_punycode_length_is_the_codecs() -> None:
    rng = random.Random(11)
    pools = [
        "abc-9",
        "üöäß",
        "日本語中国",
        "\U0001f600\U0001f601",
        "\ud800\udc00",
        "".join(map(chr, range(0x80, 0x300))),
    ]
    for _ in range(3_000):
        pool = "".join(rng.sample(pools, rng.randint(1, len(pools))))
        part = "".join(
            rng.choice(pool) if rng.random() < 0.9 else chr(rng.randint(0x80, 0x10FFFF))
            for _ in range(rng.randint(0, 70))
        )
        assert tt._punycode_length(part) == len(part.encode("punycode")), ascii(part)


def _the_slow_label_check(label: str) -> bool:
    if len(label) > 63:
        return False
    parts = tt._PUNYCODE_SEPARATORS.split(label)
    length = len(parts) - 1
    for part in parts:
        length += len(part) if tt._PRINTABLE_ASCII.fullmatch(part) else 4 + len(part.encode("punycode"))
    return 1 <= length <= 63


def test_labels_are_checked_as_punycode_would_encode_them() -> None:
    rng = random.Random(3)
    for _ in range(5_000):
        label = "".join(
            rng.choice(["a", "-", "ü", "日", "。", "．", "\x01", "😀", "xn--"]) for _ in range(rng.randint(0, 40))
        )
        label += "ü" * rng.choice([0, 0, 10, 25, 40])
        assert tt._label_ok(label) == _the_slow_label_check(label), ascii(label)


def test_the_ascii_domain_search_finds_what_finditer_finds() -> None:
    p = tt._patterns(None)
    rng = random.Random(5)
    labels = ["a", "com", "xn--p1ai", "é", "ü", "_", "-", "x-y", "co", "1", "日本", "org", "comé", "jp", "a_b"]
    for _ in range(5_000):
        domain = ".".join(rng.choice(labels) + rng.choice(["", "é", "-", "_"]) for _ in range(rng.randint(1, 5)))
        expected = [m.group() for m in p.ascii_domain.finditer(domain)]
        found = []
        m = tt._ascii_domain(p, domain, 0)
        while m is not None:
            found.append(m.group())
            m = tt._ascii_domain(p, domain, m.end()) if m.end() < len(domain) else None
        assert found == expected, domain


def _spans_and_weight(w: tt._Weights, text: str) -> tuple[list[tuple[int, int, int]], int, int]:
    p = tt._patterns(None)
    spans = tt._entity_spans(p, text, w)
    whole = w.plain(text) + sum(weight - w.plain(text[s:e]) for s, e, weight in spans)
    return spans, whole, tt._utf16_len(text)


@pytest.mark.parametrize("config", CONFIGS[:5], ids=lambda c: repr(c.ranges))
def test_the_cut_found_from_the_end_is_the_walks(config: tt.TextConfig) -> None:
    w = tt._Weights(config)
    p = tt._patterns(None)
    told = 0
    for text in TEXTS:
        if "\ufffe" in text or "\ufeff" in text or "\uffff" in text:
            continue
        for stretched in (text, text * 3, text + " " + "移民" * 70):
            spans, whole, len16 = _spans_and_weight(w, stretched)
            if whole <= w.max:
                continue
            found = tt._last_valid16_from_end(stretched, spans, w, whole, len16)
            if found is not None:
                told += 1
                assert found == tt._last_valid16(p, stretched, spans, w, whole, False), ascii(stretched)
    assert told > 500


def test_a_text_without_a_character_above_uffff_or_a_mark_holds_no_emoji_sequence() -> None:
    p = tt._patterns(None)
    w = tt._weights(tt.CONFIG_V3)
    assert p.emoji.marked
    for text in TEXTS:
        if max(text, default="a") <= "\uffff":
            assert p.emoji.spans(text, w, astral=False) == p.emoji.spans(text, w), ascii(text)


def test_a_result_made_fast_is_a_result() -> None:
    fields = dict(
        weighted_length=3,
        valid=True,
        permillage=10,
        display_range_start=0,
        display_range_end=2,
        valid_range_start=0,
        valid_range_end=2,
    )
    fast, slow = tt._parse_result(**fields), tt.ParseResult(**fields)  # type: ignore[arg-type]
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(AttributeError):
        fast.valid = False  # type: ignore[misc]


def test_the_url_search_from_a_words_start_finds_what_the_full_search_finds() -> None:
    p = tt._patterns(None)
    rng = random.Random(9)
    pieces = ["ü", "üü", "日本", "a", "x-", "_", ".", "-", "com", "jp", "рф", "😀", "/", "\u200e", "@"]
    pieces += ["http://", "HTTPS://", "https:/"]
    words = [text[:200] for text in TEXTS if "." in text]
    words += [" " + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))) for _ in range(5_000)]
    for word in words:
        a, b = p.url.search(word), p.url_from_start.search(word)
        assert (a and (a.span(), a.groups())) == (b and (b.span(), b.groups())), ascii(word)


def test_the_walk_over_links_is_the_walk_over_the_extracted_links() -> None:
    p = tt._patterns(tt.TextData("a cache of its own"))
    for text in TEXTS + [t * 2 for t in TEXTS[:500]]:
        assert tt._url_walk(p, text, 2300) == tt._url_spans(text, tt._extract_urls(p, text), 2300), ascii(text)


def test_the_walk_down_the_trie_is_the_walk_by_lengths() -> None:
    emoji = tt._patterns(None).emoji
    rng = random.Random(17)
    sequences = sorted(emoji.sequences)
    chars = sorted({c for s in sequences for c in s})
    clusters = [m.group() for text in TEXTS for k in (False, True) for m in emoji.clusters[False, k].finditer(text)]
    clusters += [
        "".join(rng.choice(sequences) if rng.random() < 0.3 else rng.choice(chars) for _ in range(rng.randint(1, 8)))
        for _ in range(20_000)
    ]
    for cluster in clusters:
        assert emoji._walk_trie(cluster) == emoji._walk(cluster), ascii(cluster)


def test_the_entities_kept_add_what_their_characters_are_told_apart_by() -> None:
    p = tt._patterns(None)
    rng = random.Random(19)
    # Emoji inside links, which the walk leaves out for the link.
    inside = [
        text
        for seq in rng.sample(sorted(p.emoji.sequences), 300)
        for text in (f"https://{seq}.com/a {seq}", f"a {seq}x.com b", f"({seq}{seq}.jp/{seq})")
    ]
    left_out = 0
    for config in CONFIGS:
        w = tt._Weights(config)
        for text in TEXTS + [t * 2 for t in TEXTS[:500]] + inside:
            normalized = unicodedata.normalize("NFC", text)
            spans, added = tt._weighed_spans(p, normalized, w, True)
            assert added == sum(weight - w.plain(normalized[s:e]) for s, e, weight in spans), ascii(text)
            if config.emoji_parsing_enabled:
                left_out += len(p.emoji.spans(normalized, w)) + len(tt._url_walk(p, normalized, w.url)) - len(spans)
    assert left_out > 100


def test_weighing_by_units_with_several_mixed_blocks() -> None:
    for ranges in [
        ((0, 0x2033, 100), (0x2040, 0x3010, 100), (0x3050, 0x30A0, 100), (0x4E05, 0x9F00, 100)),
        tuple((0x100 * k + 3, 0x100 * k + 0x80, 100) for k in range(8)),
    ]:
        w = tt._Weights(tt.TextConfig(ranges=ranges))
        assert w.by_units and len(w.mixed) > 1
        for text in TEXTS:
            assert w.plain16(text) == (w.plain(text), tt._utf16_len(text)), ascii(text)


def test_a_result_parse_tweet_makes_is_a_result() -> None:
    for text in ["", "abc", "移民 " * 200, "\ufffe"]:
        fast = tt.parse_tweet(text)
        slow = tt.ParseResult(**fast.__dict__)
        assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)

"""The seeded generator of tweet texts (tests/support/corpus.py): the same texts for the same
seed, and every kind of text it promises.

`generate_texts` is also found here by bench/bench_text.py.
"""

from __future__ import annotations

from .support.corpus import _VS15, _VS16, _ZWJ, _generate, generate_texts

__all__ = ["generate_texts"]


def test_the_same_seed_gives_the_same_texts() -> None:
    assert _generate.__wrapped__(200, 3) == _generate.__wrapped__(200, 3)


def test_the_corpus_covers_every_kind() -> None:
    texts = generate_texts(20_000)
    joined = "\n".join(texts)
    for needle in [
        _VS16,
        _VS15,
        _ZWJ,
        "\u20e3",
        "🇺🇳",
        "\U000e007f",
        "🏽",
        "®",
        "🐦\u200d🔥",
        "https://",
        "xn--",
        "рф",
        ".jp",
        "bücher",
        "t.co/",
        "@",
        "＠",
        "#",
        "＃",
        "\ufffe",
        "\u2028",
        "\r\n",
        "移民",
        "𝐀",
        "e\u0301",
        "\u212a",
        "ſ",
    ]:
        assert needle in joined, needle
    assert any(0xD800 <= ord(c) <= 0xDFFF for t in texts for c in t), "no lone surrogate"
    assert sum(1 for t in texts if 270 <= len(t) <= 290) > 1000
    assert any(len(t) > 4096 for t in texts)

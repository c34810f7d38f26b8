"""A seeded generator of tweet texts, for the differential test and bench/bench_text.py
(which finds it as tests.test_tweettext_corpus.generate_texts).

It mixes every kind of emoji (VS16 and VS15, ZWJ sequences, skin tones, flags, keycaps,
unqualified and newer ones), many scripts, URLs with and without a protocol (ccTLD,
gTLD, IDN, punycode, t.co, at the 4,096 limit), mentions, hashtags, texts weighing
around 280, lone surrogates, invalid characters, every kind of space and newlines.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable

import emoji

_VS15, _VS16, _ZWJ = "\ufe0e", "\ufe0f", "\u200d"
_TONES = [chr(cp) for cp in range(0x1F3FB, 0x1F400)]

_EMOJI_ALL = sorted(emoji.EMOJI_DATA)
_EMOJI_TRICKY = [
    "⭐\ufe0f",
    "☕\ufe0f",
    "⚡\ufe0f",
    "⚽\ufe0f",
    "⭐",
    "⭐\ufe0e",
    "☕\ufe0e",
    "®",
    "©",
    "™",
    "♟",
    "®\ufe0f",
    "©\ufe0f",
    "™\ufe0f",
    "♟\ufe0f",
    "©\ufe0e",
    "❤",
    "❤\ufe0f",
    "❤\ufe0e",
    "☺",
    "☺\ufe0f",
    "↔",
    "↔\ufe0f",
    "‼",
    "‼\ufe0f",
    "ℹ",
    "☝",
    "☝\ufe0f",
    "☝🏽",
    "☝\ufe0f🏽",
    "☝\ufe0e🏽",
    "✌🏿",
    "🕵\ufe0f\u200d♀\ufe0f",
    "🕵🏽\u200d♀\ufe0f",
    "👋",
    "👋🏽",
    "🏽",
    "😀\ufe0f",
    "😀🏽",
    "👍🏻🏻",
    "🏃\u200d♂",
    "🏃\u200d♂\ufe0f",
    "🏃🏽\u200d♂\ufe0f",
    "1\ufe0f\u20e3",
    "1\u20e3",
    "#\u20e3",
    "#\ufe0f\u20e3",
    "*\ufe0f\u20e3",
    "1\ufe0f",
    "\u20e3",
    "\ufe0f",
    "🔟",
    "🇺🇳",
    "🇨🇭",
    "🇦",
    "🇦🇦",
    "🇦🇨🇩",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "🏳\ufe0f\u200d🌈",
    "🏳\u200d🌈",
    "🏴\u200d☠\ufe0f",
    "👁\ufe0f\u200d🗨\ufe0f",
    "👁\u200d🗨",
    "👨\u200d👩\u200d👧\u200d👦",
    "👩🏽\u200d💼",
    "👩\u200d💼",
    "🧑\u200d🤝\u200d🧑",
    "👨\u200d⚕\ufe0f",
    "👨\u200d⚕",
    "👩\u200d❤\ufe0f\u200d💋\u200d👨",
    "👨🏻\u200d❤\ufe0f\u200d💋\u200d👨🏿",
    "🧔\u200d♀\ufe0f",
    "🐦\u200d🔥",
    "🫨",
    "🙂\u200d↔\ufe0f",
    "🫃🏽",
    "🧑\u200d🦰",
    "👨\u200d🦰",
    "🦰",
    "\U0001faea",
    "\u200d",
    "\ue50a",
    "🌍",
    "📢",
    "💬",
]

_WORDS = {
    "latin": ["migration", "Geneva", "policy", "the", "and", "of", "regular", "pathways", "GCM", "UN", "IOM", "A"],
    "accented": ["migración", "Türkiye", "çà", "Ærø", "İstanbul", "ſtraße", "\u212aelvin", "ǅemal", "Øre", "ıi", "ẞ"],
    "greek": ["μετανάστευση", "ΕΛΛΑΔΑ", "ϵλ", "ς"],
    "cyrillic": ["миграция", "Україна", "Ѐ", "\u1c80"],
    "rtl": ["الهجرة", "הגירה", "پاکستان"],
    "indic": ["प्रवास", "இடம்பெயர்வு", "ভারত"],
    "thai": ["การย้ายถิ่น", "ລາວ"],
    "cjk": ["移民", "移住者", "ミグレーション", "이주", "中文", "香港", "一"],
    "combining": ["e\u0301", "A\u030a", "\u1100\u1161", "n\u0303o", "\u0915\u093c"],
    "astral": ["𝐀𝐁", "𐌰𐌱", "𠀀", "\U0001e900", "\U00011f04"],
    "other": ["ስደት", "ᠮᠣᠩᠭᠣᠯ", "ＡＢＣ", "١٢٣", "ꦗꦮ", "\u1e9e"],
    "digits": ["2020", "12", "1", "0", "280", "4096"],
}
_PUNCT = [
    ",",
    ".",
    "!",
    "?",
    ":",
    ";",
    "…",
    "—",
    "–",
    "“",
    "”",
    "(",
    ")",
    "&",
    "$",
    "'",
    '"',
    "-",
    "_",
    "/",
    "*",
    "%",
    "+",
    "~",
    "|",
    "«",
]
_SPACES = [" ", "  ", "\n", "\n\n", "\t", "\r\n", "\u3000", "\xa0", "\u2028", "\u200b", "\u202f", "\x85", "\u180e"]
_ODD = [
    "\u200e",
    "\u200f",
    "\u202a",
    "\u2066",
    "\u061c",
    "\ufffe",
    "\ufeff",
    "\uffff",
    "\u200d",
    "\u200c",
    "\x00",
    "\x7f",
]

_PROTOCOLS = ["", "", "", "http://", "https://", "https://", "HTTPS://", "Http://", "ftp://", "https:/"]
_NAMES = [
    "un",
    "example",
    "ilo",
    "migrationnetwork",
    "bücher",
    "xn--bcher-kva",
    "日本語",
    "пример",
    "münchen",
    "x-y",
    "-x",
    "x-",
    "a_b",
    "ſite",
    "\u212aey",
    "İst",
    "1",
    "123",
    "t",
    "name",
    "foo",
    "www",
    "ÖBB",
    "ﬁ",
    "a\u0301b",
    "😀",
    "e🙂",
    "\u00ad",
    "xn--",
    "XN--p1ai",
    "a。b",
    "bad\x01label",
]
_TLDS = {
    "gtld": ["com", "org", "net", "int", "info", "COM", "Org", "app", "dev", "online"],
    "cctld": ["jp", "de", "cc", "co", "tv", "uk", "ch", "io", "JP", "fr", "ru", "cn", "Jp", "ke"],
    "idn": ["рф", "中国", "ελ", "한국", "香港", "РФ", "ευ", "ΕΛ", "ϵλ", "مصر", "ไทย"],
    "punycode": ["xn--p1ai", "xn--fiqs8s", "XN--P1AI", "xn--", "xn--a-"],
    # TLDs that today's Public Suffix List and twitter-text's 2020 list disagree on.
    "dated": ["music", "kids", "spa", "web", "hotel", "amazon", "duck", "off", "goo", "mcd", "tp", "an", "bl", "um"],
    "none": ["foo", "x", "localhost", "comx", "c", "co2", "com-", "com_", "co@", "com+"],
}
_PATHS = [
    "/",
    "/gcm",
    "/a/b/c",
    "/path_(with)_parens",
    "/wiki/Foo_(bar)",
    "/@user/",
    "/#anchor",
    "/a.",
    "/a,",
    "/привет",
    "/ärger",
    "/%20x",
    "/a-b~c",
    "/?",
    "/a(b(c)d)e",
    "/a)",
    "/–x",
    "/x!",
    "/x'",
    "/x=",
    "/x+",
    "/#tag",
    "/ſ",
    "/\u212a",
    "/x/#a/#b",
    "/@a",
    "/日本",
]
_QUERIES = ["?a=1&b=2", "?q=x.", "?", "?x=#", "?a=b_c-d", "?x=(1)", "?u=ſ", "?amp=1"]
_BEFORE = [
    "",
    " ",
    " ",
    "-",
    "_",
    ".",
    "/",
    "@",
    "$",
    "#",
    "＃",
    "a",
    "(",
    "«",
    "\u200e",
    "\ufffe",
    "ü",
    "😀",
    "\n",
    "1",
]
_AFTER = ["", "", ".", ",", ")", "!", "?", "'", "s", "…", ":", "-", "@", "#x", "/"]


def _pick_word(rng: random.Random) -> str:
    return rng.choice(_WORDS[rng.choice(list(_WORDS))])


def _emoji(rng: random.Random) -> str:
    seq = rng.choice(_EMOJI_TRICKY) if rng.random() < 0.45 else rng.choice(_EMOJI_ALL)
    mutate = rng.random()
    if mutate < 0.08:
        seq = seq.replace(_VS16, "")
    elif mutate < 0.14:
        seq = seq[0] + _VS16 + seq[1:]
    elif mutate < 0.18:
        seq = seq + _VS15
    elif mutate < 0.24:
        seq = seq + rng.choice(_TONES)
    elif mutate < 0.28:
        seq = seq + _ZWJ + rng.choice(_EMOJI_ALL)
    elif mutate < 0.30:
        seq = _ZWJ + seq
    return seq


def _label(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.03:
        return "a" * rng.randint(60, 66)
    if roll < 0.05:
        return "ü" * rng.randint(25, 60)
    return rng.choice(_NAMES)


def _url(rng: random.Random) -> str:
    if rng.random() < 0.06:
        slug = "".join(rng.choice("abcXYZ0189") for _ in range(rng.choice([1, 10, 40, 41, 45])))
        return "https://t.co/" + slug + rng.choice(["", "/extra", "?amp=1", ".", "#x"])
    if rng.random() < 0.05:
        return rng.choice(["info@example.org", "a.b@c.com", "x@un.org/path", "mail@bücher.de"])
    host = ".".join(_label(rng) for _ in range(rng.choice([1, 1, 1, 2, 2, 3])))
    tld = rng.choice(_TLDS[rng.choice(list(_TLDS))])
    url = rng.choice(_PROTOCOLS) + host + "." + tld
    if rng.random() < 0.1:
        url += rng.choice([":8080", ":1", ":", ":x"])
    if rng.random() < 0.45:
        url += "".join(rng.choice(_PATHS) for _ in range(rng.choice([1, 1, 2, 3])))
    if rng.random() < 0.2:
        url += rng.choice(_QUERIES)
    return rng.choice(_BEFORE) + url + rng.choice(_AFTER)


def _long_url(rng: random.Random) -> str:
    """A URL whose length lands on either side of twitter-text's 4,096 limit."""
    start = rng.choice(["https://", "", "http://"]) + rng.choice(["un.org", "bücher.de", "日本.jp"]) + "/"
    filler = rng.choice(["a", "é", "b/"])
    target = rng.randint(4080, 4100) - len("https://") - len(start)
    path = (filler * (target // len(filler) + 1))[: max(target, 1)]
    return start + path + rng.choice(["", "x", ".", "😀"])


def _mention(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice(
            ["cc @IOM/staff-@UNHCR", "@a@b", "RT@IOM:", "rt:@x", "xRT @y", ".@IOM", "@IOM's", "@_", "@" * 2 + "x"]
        )
    name = "".join(rng.choice("abcXYZ_019") for _ in range(rng.choice([1, 3, 8, 15, 20, 21, 25])))
    text = rng.choice(["@", "@", "＠"]) + name
    if rng.random() < 0.12:
        text += "/" + rng.choice(["list", "staff-2", "1x", "a" * 26])
    before = rng.choice(
        ["", " ", " ", "RT ", "RT:", "rt", "a", "_", "!", "#", "@", ".", "-", "é", "😀", "cc ", "+", "~"]
    )
    after = rng.choice(["", "", " ", "@", "é", "://", "/", "-", ".", ":", "x"])
    return before + text + after


def _hashtag(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice(
            ["#a\ufe0f#a", "#\ufe0f", "#\u20e3", "#1\ufe0f\u20e3", "#a#b", "#GCM#GCM", "&#39;", "#_", "#٣"]
        )
    body = rng.choice(
        [
            "GCM",
            "2020",
            "2020GCM",
            "a_b",
            "migración",
            "移民",
            "миграция",
            "الهجرة",
            "a\u200db",
            "a\u200cb",
            "x・y",
            "GlobalCompactforMigration",
            "ſ",
            "K",
            "e\u0301",
            "\U0001e900",
            "ꦗꦮ",
            "🌍",
            "a🌍",
            "١٢٣x",
            "a\u05f3b",
        ]
    )
    sign = rng.choice(["#", "#", "＃"])
    before = rng.choice(
        ["", " ", " ", "a", "&", "\ufe0f", "\ufe0e", "😀", "\ud800", "\udc00", "#", "_", "é", "1", "(", "\n"]
    )
    after = rng.choice(["", "", " ", "#x", "://", ".", "é", "😀", "\ufe0f"])
    return before + sign + body + after


def _odd(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return chr(rng.choice([rng.randint(0xD800, 0xDBFF), rng.randint(0xDC00, 0xDFFF)]))
    return rng.choice(_ODD)


_KINDS: list[tuple[Callable[[random.Random], str], int]] = [
    (_pick_word, 30),
    (_emoji, 15),
    (_url, 13),
    (_mention, 8),
    (_hashtag, 10),
    (lambda rng: rng.choice(_PUNCT), 8),
    (lambda rng: rng.choice(_SPACES), 6),
    (_odd, 3),
]
_KIND_FUNCS = [k for k, _ in _KINDS]
_KIND_WEIGHTS = [w for _, w in _KINDS]
_SEPARATORS = [" "] * 14 + [""] * 3 + ["\n"] + ["\n\n", "\u3000", "\t", "  "]


def _pad(rng: random.Random, text: str) -> str:
    """Grow a text to land near 280 weight: Latin words weigh 1 a character, CJK 2."""
    heavy = rng.random() < 0.3
    goal = rng.choice([rng.randint(265, 295), rng.randint(276, 284), rng.randint(135, 145)])
    while len(text) < (goal // 2 if heavy else goal):
        text += " " + (rng.choice(_WORDS["cjk"]) if heavy else rng.choice(_WORDS["latin"]))
    return text


def generate_texts(n: int, seed: int = 11) -> list[str]:
    """`n` texts, the same for the same seed."""
    return list(_generate(n, seed))


@functools.lru_cache(maxsize=4)
def _generate(n: int, seed: int) -> tuple[str, ...]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        k = rng.choice([1, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 40])
        parts = []
        for _ in range(k):
            parts.append(rng.choices(_KIND_FUNCS, _KIND_WEIGHTS)[0](rng))
            parts.append(rng.choice(_SEPARATORS))
        text = "".join(parts[:-1])
        shape = rng.random()
        if shape < 0.35:
            text = _pad(rng, text)
            if rng.random() < 0.6:
                text += rng.choice([" ", ""]) + rng.choices(_KIND_FUNCS, _KIND_WEIGHTS)[0](rng)
        elif shape < 0.40:
            text = (text + " ") * rng.randint(2, 20)
        elif shape < 0.41:
            text = text + " " + _long_url(rng)
        elif shape < 0.43:
            text = "a" * rng.randint(270, 290) + _emoji(rng)
        texts.append(text)
    # The texts travel as JSON to the JavaScript library: a lone high surrogate that lands
    # before a lone low one becomes a pair there, so let it become one here too.
    return tuple(json.loads(json.dumps(t)) for t in texts)

"""Bluesky's rules for a post's text (livetweet/plan/bluesky.py): graphemes, bytes, facets, TIDs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from atproto_client.utils import facet_detection
from hypothesis import example, given, strategies as st

from livetweet.plan.bluesky import (
    MAX_IMAGE_BYTES,
    Facet,
    alt_problems,
    byte_length,
    facet_records,
    facets,
    is_tid,
    length,
    mentioned_handles,
    tid,
    tid_at,
    tid_parts,
    weight_problems,
)

FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # one grapheme of 7 code points, 25 bytes
FLAG = "🇫🇷"
COMBINING = "e\u0301"  # e and a combining acute accent: one grapheme


def spans(text: str) -> list[tuple[str, str, str]]:
    """What each facet covers, as the text's own characters (its UTF-8 bytes decoded back)."""
    data = text.encode()
    return [(f.kind, data[f.start : f.end].decode(), f.value) for f in facets(text)]


# --- length ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "graphemes"),
    [
        ("", 0),
        ("abc", 3),
        (FAMILY, 1),
        (FLAG + FLAG, 2),
        (COMBINING * 3, 3),
        ("👋🏽", 1),  # a skin tone joins its emoji
        ("1\ufe0f\u20e3", 1),  # a keycap
        ("Ελληνικά", 8),
        ("中文字", 3),
        ("\r\n", 1),
    ],
)
def test_length_counts_graphemes(text: str, graphemes: int) -> None:
    assert length(text) == graphemes


def test_three_hundred_graphemes_fit_and_one_more_does_not() -> None:
    assert weight_problems("é" * 300) == []
    assert weight_problems("é" * 301) == ["the post is 301 characters long; Bluesky allows 300"]


def test_a_post_of_emoji_sequences_is_short_in_graphemes_but_too_many_bytes() -> None:
    text = FAMILY * 150  # 150 graphemes, 3,750 bytes
    assert length(text) == 150
    assert byte_length(text) == 3750
    assert weight_problems(text) == ["the post is 3,750 bytes long in UTF-8; Bluesky allows 3,000"]


def test_both_limits_are_told_at_once() -> None:
    assert weight_problems(FAMILY * 301) == [
        "the post is 301 characters long; Bluesky allows 300",
        "the post is 7,525 bytes long in UTF-8; Bluesky allows 3,000",
    ]


def test_alt_text_is_limited_to_two_thousand_graphemes() -> None:
    assert alt_problems(FLAG * 2000) == []
    assert alt_problems("a" * 2001) == ["the alt text is 2,001 characters long; Bluesky allows 2,000"]


def test_the_image_limit_is_the_current_lexicons() -> None:
    assert MAX_IMAGE_BYTES == 2_000_000  # app.bsky.embed.images#image maxSize, "formerly limited to 1 MB"


# --- facets ------------------------------------------------------------------------------------


def test_facets_are_at_utf8_byte_offsets_after_emoji_and_accents() -> None:
    text = f"Café {FAMILY} {FLAG} ré{COMBINING}sumé: https://un.org/migration #Migración @iom.bsky.social"
    found = facets(text)
    assert spans(text) == [
        ("link", "https://un.org/migration", "https://un.org/migration"),
        ("tag", "#Migración", "Migración"),
        ("mention", "@iom.bsky.social", "iom.bsky.social"),
    ]
    prefix = f"Café {FAMILY} {FLAG} ré{COMBINING}sumé: "
    assert found[0].start == len(prefix.encode()) == 54  # not the 36 code points nor 47 UTF-16 units before it
    assert found[0].end == found[0].start + len("https://un.org/migration")


def test_facets_after_non_latin_scripts() -> None:
    text = "Привет мир! مرحبا 你好 #移民 @unhcr.bsky.social un.org"
    assert spans(text) == [
        ("tag", "#移民", "移民"),
        ("mention", "@unhcr.bsky.social", "unhcr.bsky.social"),
        ("link", "un.org", "https://un.org"),
    ]
    tag = facets(text)[0]
    assert tag.start == len("Привет мир! مرحبا 你好 ".encode())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see un.org/fr.", [("link", "un.org/fr", "https://un.org/fr")]),  # the full stop is not the link's
        ("(see https://un.org/a)", [("link", "https://un.org/a", "https://un.org/a")]),
        ("https://en.wikipedia.org/wiki/Migration_(human)", [
            ("link", "https://en.wikipedia.org/wiki/Migration_(human)",
             "https://en.wikipedia.org/wiki/Migration_(human)")]),
        ("example.notatld and file.txt", []),  # no known TLD
        ("write to bob@un.org", []),  # an e-mail address is neither a link nor a mention
        ("Vote now!https://un.org", []),  # a link starts after a space, a bracket or the start
        ("http://localhost:8000/x", [("link", "http://localhost:8000/x", "http://localhost:8000/x")]),
    ],
)  # fmt: skip
def test_links_are_found_as_bluesky_finds_them(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#tag!", [("tag", "#tag", "tag")]),  # trailing punctuation is not the tag's
        ("#123", []),  # all digits: no tag
        ("#2026goals", [("tag", "#2026goals", "2026goals")]),
        ("＃wide", [("tag", "＃wide", "wide")]),  # the full-width sign counts
        ("#\ufe0f\u20e3 keycap", []),
        ("a#b", []),  # a tag starts after a space or at the start
        ("#" + "x" * 64, [("tag", "#" + "x" * 64, "x" * 64)]),
        ("#" + "x" * 65, []),  # over 64 graphemes
        ("#" + FLAG * 64, [("tag", "#" + FLAG * 64, FLAG * 64)]),  # 64 graphemes of 2 code points each
    ],
)
def test_hashtags_follow_blueskys_rules(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @iom.bsky.social.", [("mention", "@iom.bsky.social", "iom.bsky.social")]),
        ("(@alice.test)", [("mention", "@alice.test", "alice.test")]),  # .test is for tests
        ("@nodomain", []),
        ("@alice.notatld", []),
        ("@-bad-.bsky.social", []),  # not a handle
    ],
)
def test_mentions_are_handles_with_a_domain(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert spans(text) == expected


def test_facet_records_write_the_lexicons_json_and_leave_out_unresolved_mentions() -> None:
    text = "#UNMig @iom.bsky.social @ghost.bsky.social un.org"
    found = facets(text)
    assert mentioned_handles(found) == ["iom.bsky.social", "ghost.bsky.social"]
    records = facet_records(found, {"iom.bsky.social": "did:plc:iom"})
    assert records == [
        {"$type": "app.bsky.richtext.facet", "index": {"byteStart": 0, "byteEnd": 6},
         "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "UNMig"}]},
        {"$type": "app.bsky.richtext.facet", "index": {"byteStart": 7, "byteEnd": 23},
         "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:iom"}]},
        {"$type": "app.bsky.richtext.facet", "index": {"byteStart": 43, "byteEnd": 49},
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://un.org"}]},
    ]  # fmt: skip


def test_mentions_resolve_whatever_their_case() -> None:
    found = facets("@IOM.bsky.social")
    assert found == [Facet("mention", 0, 16, "IOM.bsky.social")]
    assert facet_records(found, {"iom.bsky.social": "did:plc:iom"})[0]["features"][0]["did"] == "did:plc:iom"


PIECES = [
    " ", "\n", "(", ")", ".", ",", "!", "?", "é", COMBINING, FAMILY, FLAG, "Привет", "中文", "a", "1",
    "#", "＃", "#tag", "#123", "#tag.", "#Migración", "#\ufe0f", "@", "@iom.bsky.social", "@alice.test",
    "@x", "bob@un.org", "un.org", "un.org/fr", "example.notatld", "https://", "https://un.org/a_(b)",
    "http://x.y", "www.un.org", "\u200b", "\u00a0", "\u3000", "$UN", "-",
]  # fmt: skip


@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
@example("#$UN $UN")  # a hashtag of "$UN" (a hashtag to both), then a cashtag (theirs alone)
def test_facets_equal_those_of_the_atproto_sdks_port_of_blueskys_detection(text: str) -> None:
    ours = {(f.kind, f.start, f.end, f.value) for f in facets(text)}
    theirs: set[tuple[str, int, int, str]] = set()
    for facet in facet_detection.detect_facets(text):
        feature = facet.features[0]
        if hasattr(feature, "uri"):
            theirs.add(("link", facet.index.byte_start, facet.index.byte_end, feature.uri))
        elif text.encode()[facet.index.byte_start : facet.index.byte_start + 1] != b"$":  # cashtags: not ours
            theirs.add(("tag", facet.index.byte_start, facet.index.byte_end, feature.tag))
    for mention in facet_detection.detect_mentions(text):
        theirs.add(("mention", mention.byte_start, mention.byte_end, mention.handle))
    assert ours == theirs


# --- TIDs --------------------------------------------------------------------------------------


def test_a_tid_is_thirteen_base32_sortable_characters() -> None:
    assert tid(0, 0) == "2222222222222"
    assert tid(1, 0) == "2222222222322"  # one microsecond is bit 10: the 3rd character from the end moves
    assert tid(2**53 - 1, 1023) == "bzzzzzzzzzzzz"
    assert tid_parts(tid(1_777_777_777_123_456, 42)) == (1_777_777_777_123_456, 42)


def test_a_tid_at_an_instant_counts_its_microseconds_since_1970() -> None:
    when = datetime(2026, 5, 4, 9, 30, 15, 123456, tzinfo=UTC)
    assert tid_parts(tid_at(when, 7)) == (int(when.timestamp()) * 1_000_000 + 123456, 7)
    assert is_tid(tid_at(when, 7))
    with pytest.raises(ValueError, match="aware"):
        tid_at(datetime(2026, 5, 4), 7)  # naive: the mistake under test


@pytest.mark.parametrize(
    ("text", "valid"),
    [("3jzfcijpj2z2a", True), ("2222222222222", True), ("3jzfcijpj2z2", False), ("3jzfcijpj2z2aa", False),
     ("kjzfcijpj2z2a", False), ("3jzfcijpj2z21", False), ("3JZFCIJPJ2Z2A", False), ("self", False)],
)  # fmt: skip
def test_is_tid(text: str, valid: bool) -> None:
    assert is_tid(text) is valid


def test_a_tid_refuses_values_out_of_its_bits() -> None:
    with pytest.raises(ValueError, match="micros"):
        tid(2**53, 0)
    with pytest.raises(ValueError, match="clock_id"):
        tid(0, 1024)


@given(
    st.tuples(st.integers(0, 2**53 - 1), st.integers(0, 1023)),
    st.tuples(st.integers(0, 2**53 - 1), st.integers(0, 1023)),
)
def test_tids_sort_as_their_times_do(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert (tid(*a) < tid(*b)) == (a < b)
    assert (tid(*a) == tid(*b)) == (a == b)

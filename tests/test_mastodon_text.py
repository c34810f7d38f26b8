"""plan/mastodon: a status's length as Mastodon's StatusLengthValidator counts it, and what it refuses."""

from __future__ import annotations

import pytest

from livetweet.plan.mastodon import (
    DEFAULT_MAX_CHARS,
    MAX_ALT,
    URL_WEIGHT,
    countable_text,
    length,
    mentions,
    problems,
)


def test_plain_text_counts_its_characters() -> None:
    assert length("Opening session of the Migration Network") == 40


def test_every_url_with_its_protocol_counts_23_whatever_its_length() -> None:
    long_url = "https://www.un.org/en/migration/" + "a" * 200
    assert length(long_url) == URL_WEIGHT
    assert length("Read: https://un.org") == len("Read: ") + URL_WEIGHT
    assert length("two http://a.org/x https://b.org/y") == len("two  ") + 2 * URL_WEIGHT


def test_a_url_without_its_protocol_counts_as_written() -> None:
    bare = "migrationnetwork.un.org/" + "b" * 60
    assert length(bare) == len(bare)


def test_a_remote_mention_counts_as_the_username_alone() -> None:
    assert length("@alice@mastodon.social thanks") == len("@alice thanks")
    assert length("@alice thanks") == len("@alice thanks")


def test_a_mention_followed_by_another_at_sign_is_no_mention() -> None:
    # "@bob@a.org@c": Mastodon's Extractor drops a mention that is followed by "@".
    assert countable_text("hi @bob@a.org@c") == "hi @bob@a.org@c"


def test_an_email_address_is_no_mention() -> None:
    assert countable_text("write to info@un.org") == "write to info@un.org"


def test_a_mention_with_a_domain_over_253_characters_counts_in_full() -> None:
    domain = "d" * 250 + ".org"
    assert countable_text(f"@bob@{domain}") == f"@bob@{domain}"
    assert mentions(f"@bob@{domain}") == []


def test_emoji_sequences_and_combining_marks_count_as_one_character_each() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one grapheme of 7 code points
    flag = "\U0001f1fa\U0001f1f3"  # UN flag letters: one grapheme of 2
    accented = "e\u0301"  # e and a combining acute accent
    assert length(family) == 1
    assert length(flag) == 1
    assert length(accented) == 1
    assert length("a\r\nb") == 3  # a CRLF is one grapheme, as Ruby counts it


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Миграция и развитие", 19),  # Cyrillic
        ("الهجرة والتنمية", 15),  # Arabic
        ("移民与发展", 5),  # CJK: one each, not two as on X
        ("हिन्दी", 3),  # Devanagari: 6 code points; न्द is two characters by Unicode 15.0, as Ruby 3.4 counts
        ("ক্ষমা", 3),  # Bengali: the same, কষ split after the virama
    ],
)
def test_non_latin_scripts_count_graphemes(text: str, expected: int) -> None:
    assert length(text) == expected


def test_leading_and_trailing_whitespace_are_not_counted() -> None:
    assert length("  \n hello \t\n") == 5


def test_the_content_warning_shares_the_budget() -> None:
    assert length("body", spoiler_text="CW: loss") == len("CW: lossbody")


def test_a_url_inside_a_mention_is_not_counted_twice() -> None:
    text = "see https://example.org/@alice@mastodon.social"
    assert countable_text(text) == "see " + "x" * URL_WEIGHT


def test_problems_says_how_long_and_what_is_allowed() -> None:
    found = problems("x" * 512, DEFAULT_MAX_CHARS)
    assert len(found) == 1
    assert "the post is 512 characters long; this Mastodon server allows 500" in found[0]


def test_problems_follows_the_instances_limit() -> None:
    assert problems("x" * 512, 1000) == []
    assert "allows 1,000" in problems("x" * 1001, 1000)[0]


def test_a_text_just_at_the_limit_with_a_long_link_passes() -> None:
    text = "y" * (DEFAULT_MAX_CHARS - URL_WEIGHT - 1) + " https://example.org/" + "z" * 300
    assert length(text) == DEFAULT_MAX_CHARS
    assert problems(text) == []


def test_problems_refuses_an_empty_post_without_images() -> None:
    assert "empty" in problems("   ")[0]
    assert problems("", alts=["a chart"]) == []


def test_problems_refuses_more_than_four_images_and_long_alt_texts() -> None:
    found = problems("five", alts=["a"] * 5)
    assert any("5 images" in p for p in found)
    found = problems("long alt", alts=["ok", "w" * (MAX_ALT + 1)])
    assert found == [f"image 2's alt text is 1,501 characters long; Mastodon allows {MAX_ALT:,}"]


def test_an_alt_text_counts_code_points() -> None:
    # Rails' length validation counts code points: an emoji family is 7 of them.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    assert problems("x", alts=[family * 214]) == []  # 1,498 code points
    assert problems("x", alts=[family * 215]) != []  # 1,505

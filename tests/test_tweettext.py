"""parse_tweet against the official twitter-text conformance cases, and the extractors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from livetweet.plan.tweettext import (
    CONFIG_V2,
    CONFIG_V3,
    DATA,
    TextData,
    extract_hashtags,
    extract_mentions,
    extract_urls,
    parse_tweet,
)

from .support.events import shared_testdata

CASES_FILE = shared_testdata() / "twitter-text" / "validate_weighted.json"


def _cases() -> list[Any]:
    if not CASES_FILE.is_file():
        return [
            pytest.param(
                None,
                marks=pytest.mark.skip(
                    reason=f"twitter-text conformance data not found at {CASES_FILE}: put shared/testdata "
                    "beside the checkout or set LIVETWEET_TESTDATA"
                ),
            )
        ]
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    return [pytest.param(c, id=f"{i:02d}-{c['config']}-{c['description'][:50]}") for i, c in enumerate(cases)]


def test_the_conformance_file_has_all_44_cases() -> None:
    if not CASES_FILE.is_file():
        pytest.skip(f"twitter-text conformance data not found at {CASES_FILE}")
    assert len(json.loads(CASES_FILE.read_text(encoding="utf-8"))) == 44


@pytest.mark.parametrize("case", _cases())
def test_conformance(case: dict[str, Any]) -> None:
    # The README of the data says which config the official harnesses pass for each section.
    config = CONFIG_V2 if case["config"] == "v2" else CONFIG_V3
    result = parse_tweet(case["text"], config)
    got = {
        "weightedLength": result.weighted_length,
        "valid": result.valid,
        "permillage": result.permillage,
        "displayRangeStart": result.display_range_start,
        "displayRangeEnd": result.display_range_end,
        "validRangeStart": result.valid_range_start,
        "validRangeEnd": result.valid_range_end,
    }
    assert got == case["expected"]


def test_our_v3_config_is_the_official_one() -> None:
    from livetweet.plan.tweettext import load_config

    official = shared_testdata() / "twitter-text" / "config_v3.json"
    if not official.is_file():
        pytest.skip(f"twitter-text config not found at {official}")
    assert load_config(official) == CONFIG_V3


def test_empty_text_is_not_valid() -> None:
    result = parse_tweet("")
    assert (result.weighted_length, result.valid, result.display_range_end) == (0, False, 0)


def test_a_url_counts_23_whatever_its_length() -> None:
    short = parse_tweet("See https://un.org")
    long = parse_tweet("See https://migrationnetwork.un.org/sites/default/files/a-very-long-document-name.pdf")
    assert short.weighted_length == long.weighted_length == 4 + 23


def test_emoji_sequences_count_two_in_v3() -> None:
    assert parse_tweet("🌍").weighted_length == 2
    assert parse_tweet("👩🏽‍💼").weighted_length == 2  # woman office worker, medium skin tone: 4 code points


def test_cjk_weighs_two_and_latin_one() -> None:
    assert parse_tweet("移民").weighted_length == 4
    assert parse_tweet("migración").weighted_length == 9


def test_extract_urls_with_and_without_protocol() -> None:
    text = "Read https://migrationnetwork.un.org/gcm and un.org/migration, not example.jq"
    assert [u.value for u in extract_urls(text)] == [
        "https://migrationnetwork.un.org/gcm",
        "un.org/migration",
    ]


def test_a_bare_cctld_domain_is_a_link_as_in_twitter_text_3() -> None:
    assert [u.value for u in extract_urls("see name.jp and foo.cc")] == ["name.jp", "foo.cc"]


def test_a_bare_idn_domain_is_a_link() -> None:
    assert [u.value for u in extract_urls("at bücher.de today")] == ["bücher.de"]


def test_extract_urls_positions_are_string_indices() -> None:
    text = "🌍 see un.org"
    (url,) = extract_urls(text)
    assert text[url.start : url.end] == "un.org"


def test_extract_hashtags_skips_urls_and_numbers() -> None:
    text = "#GCM and #GlobalCompactforMigration, not #2020 nor https://un.org/#anchor"
    assert [h.value for h in extract_hashtags(text)] == ["GCM", "GlobalCompactforMigration"]


def test_extract_hashtags_in_other_scripts() -> None:
    assert [h.value for h in extract_hashtags("#миграция #移民 #migración")] == ["миграция", "移民", "migración"]


def test_extract_mentions() -> None:
    text = "Thanks @UNMigNetwork and @IOM! Mail info@example.org, list @un/migration"
    assert [m.value for m in extract_mentions(text)] == ["UNMigNetwork", "IOM"]


# Each rule of issue 11, with what the official twitter-text 3.1.0 says (checked in node).


def test_an_emoji_at_the_end_of_an_over_long_text_does_not_crash() -> None:
    result = parse_tweet("a" * 280 + "👋")
    assert (result.weighted_length, result.valid, result.valid_range_end) == (282, False, 279)


def test_vs16_makes_one_emoji_of_a_symbol_that_has_a_text_form() -> None:
    assert parse_tweet("⭐\ufe0f").weighted_length == 2
    assert parse_tweet("☕\ufe0f ⚡\ufe0f ⚽\ufe0f").weighted_length == 8


def test_a_vs16_after_an_emoji_without_a_text_form_weighs_on_its_own() -> None:
    assert parse_tweet("😀\ufe0f").weighted_length == 4


def test_a_symbol_drawn_as_text_weighs_one_and_as_emoji_two() -> None:
    assert parse_tweet("®").weighted_length == 1
    assert parse_tweet("®\ufe0f").weighted_length == 2


def test_only_a_fully_qualified_sequence_is_one_emoji() -> None:
    assert parse_tweet("👨\u200d⚕\ufe0f").weighted_length == 2  # health worker
    assert parse_tweet("👨\u200d⚕").weighted_length == 5  # man, joiner, staff of Aesculapius


def test_keycaps_with_and_without_vs16_are_one_emoji() -> None:
    assert parse_tweet("1\ufe0f\u20e3").weighted_length == parse_tweet("1\u20e3").weighted_length == 2


def test_case_folds_as_in_javascript_not_python() -> None:
    # JavaScript's /i leaves ſ and İ apart from s and i: they are characters before a domain.
    assert [(u.value, u.start) for u in extract_urls("ſite.com")] == [("ite.com", 1)]
    assert [(u.value, u.start) for u in extract_urls("İst.com")] == [("st.com", 1)]


def test_the_first_half_of_an_emoji_can_stand_before_a_domain() -> None:
    # In UTF-16, 😀 is two units: the first is the character before the domain "\ude00.example.name".
    assert [u.value for u in extract_urls("😀.example.name")] == ["example.name"]


def test_the_url_limit_is_counted_in_utf16_units() -> None:
    label = "😀" * 10 + "."
    assert extract_urls("https://" + label * 194 + "com")  # 4,093 units with its protocol, twice
    assert not extract_urls("https://" + label * 195 + "com")  # 4,114 units, only 2,156 characters


def test_a_domain_that_starts_with_xn_must_hold_an_ascii_domain() -> None:
    assert [u.value for u in extract_urls("xn--bcher-kva.de")] == ["xn--bcher-kva.de"]
    assert extract_urls("xn--.com") == []


def test_a_hashtag_cannot_use_the_character_that_ended_the_one_before() -> None:
    assert extract_hashtags("#a\ufe0f#a") == []
    assert extract_hashtags("#GCM#GCM") == []


def test_a_lone_surrogate_before_the_sign_blocks_a_hashtag() -> None:
    assert extract_hashtags("\ud800#x") == []


def test_a_hashtag_inside_a_url_that_lost_to_an_earlier_hashtag_is_kept() -> None:
    text = "#foobücher.de/#x"  # the URL "cher.de/#x" overlaps #foobücher, so #x stays
    assert [(h.value, h.start) for h in extract_hashtags(text)] == [("foobücher", 0), ("x", 14)]


def test_a_mention_cannot_use_the_character_that_ended_a_list_before() -> None:
    assert extract_mentions("cc @IOM/staff-@UNHCR") == []


def test_a_url_without_protocol_is_stepped_over_by_its_value() -> None:
    # Only the ASCII part of the domain is the link; twitter-text then weighs the rest as text.
    text = "migrationnetwork.xn--bcher-kva.ﬁ.ΕΛ/ärger/a-b~c"
    assert [u.value for u in extract_urls(text)] == ["migrationnetwork.xn--bcher-kva/ärger/a-b~c"]
    assert parse_tweet(text).weighted_length == 28


def test_permillage_divides_in_floating_point_as_twitter_text() -> None:
    assert parse_tweet("a" * 4522).permillage == 16149  # 4522 / 280 * 1000 = 16149.999...


def test_the_data_of_another_date_is_one_setting_away() -> None:
    then = TextData("before .music and the phoenix", gtlds=("com", "org"), cctlds=("jp",), emoji_version=11.0)
    assert [u.value for u in extract_urls("listen.music", DATA)] == ["listen.music"]
    assert extract_urls("listen.music", then) == []
    phoenix = "🐦\u200d🔥"  # Emoji 15.1
    assert parse_tweet(phoenix).weighted_length == 2
    assert parse_tweet(phoenix, data=then).weighted_length == 5

"""parse_tweet against the official twitter-text conformance cases, and the extractors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from livetweet.tweettext import (
    CONFIG_V2,
    CONFIG_V3,
    extract_hashtags,
    extract_mentions,
    extract_urls,
    parse_tweet,
)

from .conftest import shared_testdata

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
    from livetweet.tweettext import load_config

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

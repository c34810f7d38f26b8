"""parse_tweet and the extractors against the official twitter-text 3.1.0, on 20,000 generated texts.

One node process (tests/twitter_text_node/harness.js) runs the JavaScript library over
every text while Python weighs them. Two comparisons:

- with twitter-text's own 2020 data (its TLD lists and hashtag letter tables, read from
  the library; the emoji of its twemoji 11), every field and entity must agree: this
  checks the rules;
- with livetweet's default data (today's), a text may differ only where it holds
  something the two dates disagree on: this checks that the difference is the data.

It skips when node or the harness's node_modules are missing (.ci/run installs them:
`npm ci --prefix tests/twitter_text_node`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import emoji
import pytest
import regex

from livetweet.plan.tweettext import DATA, TextData, extract_hashtags, extract_mentions, extract_urls, parse_tweet

from .support.corpus import generate_texts

HARNESS_DIR = Path(__file__).parent / "twitter_text_node"
HARNESS = HARNESS_DIR / "harness.js"
N_TEXTS = 20_000

# Where twemoji 11's own emoji list is not Unicode's Emoji 11.0, and no data setting of
# ours follows it: it spells the eye in a speech bubble without its VS16s (👁‍🗨, where
# Unicode's is 👁️‍🗨️), and it draws a gender or skin tone on the person in a tuxedo, the
# man levitating (🤵‍♀️, 🕴️‍♂️: not Unicode sequences until Emoji 13) and the skier (⛷🏽:
# never one). Texts holding one of these are left out of both comparisons.
TWEMOJI_11_QUIRKS = re.compile(
    "\U0001f441\ufe0f?\u200d"
    "|[\U0001f935\U0001f574][\ufe0f\U0001f3fb-\U0001f3ff]?\u200d[\u2640\u2642]"
    "|\u26f7\ufe0f?[\U0001f3fb-\U0001f3ff]"
)


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed: the differential test needs it to run twitter-text"
    if not (HARNESS_DIR / "node_modules" / "twitter-text").is_dir():
        return (
            f"twitter-text is not installed in {HARNESS_DIR}/node_modules: "
            "run `npm ci --prefix tests/twitter_text_node` (the CI script does)"
        )
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def _ours(text: str, data: TextData) -> dict[str, Any]:
    r = parse_tweet(text, data=data)
    return {
        "p": [
            r.weighted_length,
            r.valid,
            r.permillage,
            r.valid_range_start,
            r.valid_range_end,
            r.display_range_start,
            r.display_range_end,
        ],
        "u": [[e.value, e.start, e.end] for e in extract_urls(text, data)],
        "h": [[e.value, e.start, e.end] for e in extract_hashtags(text, data)],
        "m": [[e.value, e.start, e.end] for e in extract_mentions(text, data)],
    }


@dataclass
class Official:
    texts: list[str]
    results: list[dict[str, Any]]  # twitter-text's, for each text
    data: TextData  # twitter-text 3.1.0's own data
    ours_own: list[dict[str, Any]]  # ours with that data
    ours_today: list[dict[str, Any] | None]  # ours with today's, where the two data agree


@pytest.fixture(scope="module")
def official() -> Official:
    node = shutil.which("node") or "node"
    own = json.loads(subprocess.run([node, str(HARNESS), "data"], capture_output=True, check=True, text=True).stdout)
    data = TextData(
        "twitter-text 3.1.0",
        gtlds=tuple(own["gtlds"]),
        cctlds=tuple(own["cctlds"]),
        emoji_version=11.0,  # twemoji-parser 11.0.2, the version twitter-text 3.1.0 pins
        emoji_text_forms=frozenset(own["emoji_text_forms"]),
        hashtag_letters=tuple((a, b) for a, b in own["hashtag_alpha"]),
        hashtag_characters=tuple((a, b) for a, b in own["hashtag_alphanumeric"]),
    )
    texts = generate_texts(N_TEXTS)
    # node works through the texts while Python weighs them.
    run = subprocess.Popen(
        [node, str(HARNESS), "parse"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )
    assert run.stdin is not None and run.stdout is not None
    run.stdin.write("".join(json.dumps(t) + "\n" for t in texts))
    run.stdin.close()
    dated = _dated(data)
    ours_own = [_ours(t, data) for t in texts]
    ours_today = [None if dated(t) else _ours(t, DATA) for t in texts]
    results = [json.loads(line) for line in run.stdout.read().splitlines()]
    assert run.wait(timeout=120) == 0
    assert len(results) == len(texts)
    return Official(texts, results, data, ours_own, ours_today)


def _disagreements(official: Official, ours: list[dict[str, Any] | None]) -> list[tuple[str, str, Any, Any]]:
    """(entity kind, text, ours, theirs) for each text that disagrees, but the quirky ones."""
    out = []
    for text, mine, theirs in zip(official.texts, ours, official.results, strict=True):
        assert "error" not in theirs, f"twitter-text threw on {text!r}: {theirs['error']}"
        if mine is None or TWEMOJI_11_QUIRKS.search(text):
            continue
        for key in "puhm":
            if mine[key] != theirs[key]:
                out.append((key, text, mine[key], theirs[key]))
                break
    return out


def _report(bad: list[tuple[str, str, Any, Any]]) -> str:
    names = {"p": "parse_tweet", "u": "extract_urls", "h": "extract_hashtags", "m": "extract_mentions"}
    lines = [f"{len(bad)} texts disagree; the first ones:"]
    for key, text, mine, theirs in bad[:8]:
        lines.append(f"  {names[key]}({text!r}):\n    livetweet    {mine}\n    twitter-text {theirs}")
    return "\n".join(lines)


def test_the_corpus_is_large_enough(official: Official) -> None:
    assert len(official.texts) >= 20_000


def test_with_twitter_texts_own_data_every_field_and_entity_agrees(official: Official) -> None:
    bad = _disagreements(official, list(official.ours_own))
    assert not bad, _report(bad)
    quirky = sum(1 for t in official.texts if TWEMOJI_11_QUIRKS.search(t))
    assert quirky < len(official.texts) // 20, "the quirks exclusion should stay narrow"


def _alternation(words: list[str]) -> str:
    """A regex alternation of words as a trie (a flat one of thousands is slow)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in node.items() if ch]
        if not branches:
            return ""
        body = "(?:" + "|".join(branches) + ")"
        return body + "?" if "" in node else body

    return emit(trie)


def _dated(data: TextData) -> Callable[[str], bool]:
    """Whether a text holds something today's data and twitter-text's own disagree on."""
    theirs = set(data.gtlds or ()) | set(data.cctlds or ())
    tld = re.compile(r"\.(?:" + _alternation(sorted(_psl_tlds() ^ theirs)) + r")(?![0-9a-z@+\-])", re.IGNORECASE)
    # Emoji sequences newer than Emoji 11, and an emoji whose text form (whether it takes
    # a VS16) is listed otherwise today, with what it would take.
    newer = [k for k, v in emoji.EMOJI_DATA.items() if len(k) > 1 and float(v["E"]) > 11.0]
    forms = {k for k, v in emoji.EMOJI_DATA.items() if len(k) == 1 and v.get("variant")}
    changed_forms = "".join(sorted(forms ^ set(data.emoji_text_forms or ())))
    newer_emoji = re.compile(_alternation(newer) + f"|[{re.escape(changed_forms)}][\ufe0f\ufe0e\U0001f3fb-\U0001f3ff]")
    emoji_starts = {k[0] for k in newer} | set(changed_forms)
    # Characters that are hashtag letters (or may be in one) by one Unicode and not the other.
    everything = "".join(map(chr, range(0x110000)))
    letters_today = {ord(c) for c in regex.findall(r"[\p{L}\p{M}]", everything)}
    chars_today = letters_today | {ord(c) for c in regex.findall(r"[\p{Nd}]", everything)}
    letters_then = {cp for a, b in data.hashtag_letters or () for cp in range(a, b + 1)}
    chars_then = {cp for a, b in data.hashtag_characters or () for cp in range(a, b + 1)}
    changed = (letters_today ^ letters_then) | ((chars_today ^ chars_then) - {ord(c) for c in _HASHTAG_SPECIALS})
    changed_letters = {chr(cp) for cp in changed}

    def dated(text: str) -> bool:
        return (
            ("." in text and tld.search(text) is not None)
            or (not emoji_starts.isdisjoint(text) and newer_emoji.search(text) is not None)
            or not changed_letters.isdisjoint(text)
        )

    return dated


_HASHTAG_SPECIALS = "_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003\u0f0b\u0f0c\xb7"


def _psl_tlds() -> set[str]:
    from livetweet.plan import tweettext

    gtlds, cctlds = tweettext._psl_tlds()
    return set(gtlds) | set(cctlds)


def test_with_todays_data_texts_differ_only_where_the_data_does(official: Official) -> None:
    # Texts that hold a TLD, emoji or letter the two dates disagree on are not compared.
    compared = sum(1 for r in official.ours_today if r is not None)
    assert compared > len(official.texts) // 2, "the dated exclusion should stay narrow"
    bad = _disagreements(official, official.ours_today)
    assert not bad, _report(bad)

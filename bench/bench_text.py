"""Benchmark: parse_tweet throughput beside the official twitter-text, and `check` throughput.

Run:  .venv/bin/python bench/bench_text.py
Targets: parse >= 50,000 tweets/s on one core (issue 2) and no slower than the official
JavaScript library on the same texts (issue 11), on realistic event tweets and on texts
from the differential test's generator; check >= 5,000 slots/s. The JavaScript figures
come from node timing its own loop over the same texts, in the same run
(tests/twitter_text_node/harness.js; `npm ci --prefix tests/twitter_text_node` first).
Figures are printed, never asserted: they depend on the machine.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from livetweet.plan.check import check_schedule
from livetweet.plan.tweettext import TextData, parse_tweet

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "twitter_text_node" / "harness.js"
PARSE_TARGET = 50_000
CHECK_TARGET = 5_000
ROUNDS = 7

OPENERS = [
    "Now at the roundtable:",
    '"Regular pathways save lives," says the representative of',
    "Guiding question 2:",
    "Live from Geneva:",
    "Key message from",
    "📢 Happening now:",
    "Quote of the session 💬",
    "In the words of the Minister of Labour of",
    "Bilateral labour migration agreements discussed by",
    "Objective 12 in focus:",
]
SUBJECTS = [
    "Albania",
    "Germany",
    "Kyrgyzstan",
    "the Republic of Moldova",
    "Switzerland",
    "Türkiye",
    "Ukraine",
    "@IOM",
    "@ILO",
    "@UNECE",
    "@UNHCR",
    "@UN_Women",
    "the Major Group for Children and Youth",
]
BODIES = [
    "skills portability is key to decent work for migrants and their families.",
    "COVID-19 has shown how essential migrant workers are to our economies.",
    "fair recruitment and social protection must go hand in hand.",
    "whole-of-society approaches need trade unions, employers and migrant associations at the table.",
    "certainty and predictability in migration procedures protect rights.",
    "les voies de migration régulières doivent être élargies.",
    "регулярные пути миграции должны быть расширены.",
    "climate resilience starts with inclusive development in communities of origin 🌍",
    "women migrant workers must be part of every policy strategy 👩🏽‍💼",
]
LINKS = [
    "",
    "",
    " Read more: https://migrationnetwork.un.org/",
    " Statement: https://www.ilo.org/global/topics/labour-migration/lang--en/index.htm",
    " Policy brief: migrationnetwork.un.org/resources",
]
TAGS = ["#GlobalCompactforMigration #GCM", "#GCM #Skills", "#GCM #RegularPathways #DecentWork", "#GCM #SDGs"]


def realistic_tweets(n: int, seed: int = 2020) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(OPENERS)} {rng.choice(SUBJECTS)}: {rng.choice(BODIES)}{rng.choice(LINKS)}\n\n"
        f"{rng.choice(TAGS)} ({i})"
        for i in range(n)
    ]


def generated_tweets(n: int, seed: int = 2020) -> list[str]:
    """Texts from the differential test's generator (every kind of emoji, URL, script...)."""
    sys.path.insert(0, str(REPO))
    from tests.test_tweettext_corpus import generate_texts

    return generate_texts(n, seed)


def bench_parse(tweets: list[str], rounds: int = ROUNDS) -> tuple[float, float]:
    """Texts/s in the best of `rounds` loops (the least disturbed), after one to warm up, and the median.

    Each round weighs with a data object of its own, so that it starts with its
    patterns compiled but nothing remembered from the round before (tweettext keeps
    the domains and linked words it has seen with the data they were found with):
    what a round gains from its cache it gains from the texts it weighs.
    """
    for text in tweets:
        parse_tweet(text)
    rates = []
    for i in range(rounds):
        data = TextData(f"round {i}")  # today's data, like DATA, and an empty cache
        parse_tweet("compile the patterns", data=data)
        start = time.perf_counter()
        for text in tweets:
            parse_tweet(text, data=data)
        rates.append(len(tweets) / (time.perf_counter() - start))
    return max(rates), statistics.median(rates)


def generated_schedule(folder: Path, n_slots: int, inside_segments: bool = False) -> Path:
    """A schedule with `n_slots` slots over 47 half-hour segments, each with its own text (the
    benchmarks' shared event). A segment's slots are 10 s apart; `inside_segments` spreads them
    so that every one stays inside its half hour, however many there are."""
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "post.j2").write_text(
        "Segment {{ segment.title }}, post {{ slot.vars.n }}: {{ slot.vars.line }}\n", encoding="utf-8"
    )
    lines = [
        "event:",
        "  id: bench",
        "  title: Benchmark event",
        '  account: "@bench"',
        "  date: 2020-11-12",
        '  start: "00:00"',
        '  end: "23:30"',
        "  timezone: Europe/Zurich",
        '  posts_from: "00:00"',
        '  hashtags: ["#GlobalCompactforMigration", "#GCM"]',
        "templates: templates",
        "objectives:",
        "  - number: 5",
        "    title: Regular pathways",
        '    hashtags: ["#RegularPathways"]',
        "segments:",
    ]
    n_segments = 47
    for s in range(n_segments):
        h0, m0 = divmod(s * 30, 60)
        h1, m1 = divmod(s * 30 + 30, 60)
        lines += [
            f"  - id: s{s}",
            f"    title: Segment {s}",
            "    objectives: [5]",
            f'    start: "{h0:02d}:{m0:02d}"',
            f'    end: "{h1:02d}:{m1:02d}"',
        ]
    step = max(1, 1790 // -(-n_slots // n_segments)) if inside_segments else 10  # seconds between a segment's slots
    lines.append("slots:")
    rng = random.Random(7)
    for i in range(n_slots):
        seg = i % n_segments
        lines += [
            f"  - id: p{i}",
            "    template: post",
            f"    at: s{seg}.start + {(i // n_segments) * step}s",
            "    vars:",
            f"      n: {i}",
            f'      line: "{rng.choice(BODIES)}"',
        ]
    path = folder / "bench.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bench_check(n_slots: int = 5_000, rounds: int = 3) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = generated_schedule(Path(tmp), n_slots)
        rates = []
        errors = 0
        for _ in range(rounds):
            start = time.perf_counter()
            report = check_schedule(path)
            rates.append(n_slots / (time.perf_counter() - start))
            errors = len(report.errors)
            assert len(report.posts) == n_slots, report.errors[:3]
        return statistics.median(rates), errors


def bench_js(tweets: list[str], rounds: int = ROUNDS) -> tuple[float, float] | str:
    """twitter-text's parseTweet in node, timing its own loop (best and median round); or why it could not run."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    if not (HARNESS.parent / "node_modules" / "twitter-text").is_dir():
        return "twitter-text is not installed (npm ci --prefix tests/twitter_text_node)"
    run = subprocess.run(
        [node, str(HARNESS), "bench", str(rounds)],
        input="".join(json.dumps(t) + "\n" for t in tweets),
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    if run.returncode != 0:
        return f"node failed: {run.stderr.strip()[:200]}"
    figures = json.loads(run.stdout)
    return float(figures["rate"]), float(figures["median"])


def main() -> int:
    corpora = [
        ("10,000 event tweets", realistic_tweets(10_000)),
        ("1,000 generated texts", generated_tweets(1_000)),
    ]
    print(
        f"python {sys.version.split()[0]}, one process, one core; best of {ROUNDS} rounds after a warm-up, both sides"
    )
    print(f"load average before: {_load()} (over {os.cpu_count()} cores; a busy machine slows both sides unevenly)")
    print(f"{'parse_tweet on':<24}{'livetweet':>14}{'twitter-text JS':>18}   targets (best rounds; medians below)")
    for name, tweets in corpora:
        ours, ours_median = bench_parse(tweets)
        theirs = bench_js(tweets)
        target = "meets" if ours >= PARSE_TARGET else "MISSES"
        if isinstance(theirs, str):
            js, js_median, versus = "-", "-", f"vs JS: not measured ({theirs})"
        else:
            js, js_median = f"{theirs[0]:,.0f}/s", f"{theirs[1]:,.0f}/s"
            versus = f"vs JS: {'meets' if ours >= theirs[0] else 'MISSES'} ({ours / theirs[0]:.2f}x)"
        print(f"{name:<24}{ours:>12,.0f}/s{js:>18}   >= {PARSE_TARGET:,}: {target}; {versus}")
        print(f"{'  median round':<24}{ours_median:>12,.0f}/s{js_median:>18}")
    check_rate, errors = bench_check()
    verdict = "meets" if check_rate >= CHECK_TARGET else "MISSES"
    print(
        f"check: {check_rate:,.0f} slots/s on a generated 5,000-slot schedule "
        f"({errors} errors; {verdict} target {CHECK_TARGET:,})"
    )
    print(f"load average after: {_load()}")
    return 0


def _load() -> str:
    """The 1, 5 and 15 minute load averages, which say how far the figures can be trusted."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())

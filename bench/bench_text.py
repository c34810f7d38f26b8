"""Benchmark: parse_tweet throughput on realistic event tweets, and `check` throughput.

Run:  .venv/bin/python bench/bench_text.py
Targets (issue 2): parse >= 50,000 tweets/s and check >= 5,000 slots/s on one core.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from livetweet.check import check_schedule
from livetweet.tweettext import parse_tweet

PARSE_TARGET = 50_000
CHECK_TARGET = 5_000

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


def bench_parse(tweets: list[str], rounds: int = 5) -> float:
    parse_tweet("warm up the patterns")
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for text in tweets:
            parse_tweet(text)
        rates.append(len(tweets) / (time.perf_counter() - start))
    return statistics.median(rates)


def generated_schedule(folder: Path, n_slots: int) -> Path:
    """A schedule with `n_slots` slots over 47 half-hour segments, each with its own text."""
    (folder / "templates").mkdir()
    (folder / "templates" / "post.j2").write_text(
        "Segment {{ segment.title }}, post {{ slot.vars.n }}: {{ slot.vars.line }}\n"
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
    lines.append("slots:")
    rng = random.Random(7)
    for i in range(n_slots):
        seg = i % n_segments
        lines += [
            f"  - id: p{i}",
            "    template: post",
            f"    at: s{seg}.start + {(i // n_segments) * 10}s",
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


def main() -> int:
    tweets = realistic_tweets(10_000)
    parse_rate = bench_parse(tweets)
    check_rate, errors = bench_check()
    print(f"python {sys.version.split()[0]}, one process, one core")
    verdict = "meets" if parse_rate >= PARSE_TARGET else "MISSES"
    print(f"parse_tweet: {parse_rate:,.0f} tweets/s on 10,000 event tweets ({verdict} target {PARSE_TARGET:,})")
    verdict = "meets" if check_rate >= CHECK_TARGET else "MISSES"
    print(
        f"check:       {check_rate:,.0f} slots/s on a generated 5,000-slot schedule "
        f"({errors} errors; {verdict} target {CHECK_TARGET:,})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

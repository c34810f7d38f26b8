"""An event's accounts (issue 15's planning half): X, Bluesky and Mastodon listed in the schedule,
slots naming the accounts they post to, and `check` and `preview` counting each delivery by its
network's own rule. Every bad account is one line naming the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livetweet.plan.check import check_schedule
from livetweet.plan.schedule import load_schedule

from .support.cli import cli
from .support.events import MINI_SCHEDULE, write_event

BASE = MINI_SCHEDULE.count("\n")  # the accounts block starts on the line after the mini schedule
ACCOUNTS = """accounts:
  - id: x
    network: x
    handle: "@demo"
  - id: bsky
    network: bluesky
    handle: "@Demo.bsky.social"
  - id: masto
    network: mastodon
    handle: "@demo@Mastodon.Social"
"""


def event(tmp_path: Path, accounts: str = ACCOUNTS, schedule: str = MINI_SCHEDULE, hello: str | None = None) -> Path:
    templates = {"hello.j2": hello or "Welcome to {{ event.title }}!\n", "question.j2": "Now: {{ segment.title }}.\n"}
    return write_event(tmp_path, schedule + accounts, templates)


def hello_to(*accounts: str) -> str:
    """The mini schedule with its "hello" slot naming these accounts."""
    at = "    at: opening.start + 1m\n"
    return MINI_SCHEDULE.replace(at, f"{at}    accounts: [{', '.join(accounts)}]\n")


def problems(path: Path) -> list[str]:
    return [f"{p.line}: {p.message}" for p in check_schedule(path).problems]


def test_without_accounts_the_event_posts_to_its_x_account_alone(tmp_path: Path) -> None:
    schedule = load_schedule(event(tmp_path, accounts=""))
    assert [(a.id, a.network, a.handle) for a in schedule.accounts] == [("x", "x", "@demo")]


def test_accounts_are_read_in_one_normal_form_per_network(tmp_path: Path) -> None:
    schedule = load_schedule(event(tmp_path))
    assert [(a.id, a.network, a.handle, a.line) for a in schedule.accounts] == [
        ("x", "x", "@demo", BASE + 2),
        ("bsky", "bluesky", "demo.bsky.social", BASE + 5),
        ("masto", "mastodon", "@demo@mastodon.social", BASE + 8),
    ]
    assert all(schedule.accounts_of(slot) == schedule.accounts for slot in schedule.slots)


def test_a_slot_posts_to_the_accounts_it_names(tmp_path: Path) -> None:
    schedule_text = MINI_SCHEDULE.replace(
        "    at: opening.start + 1m\n", "    at: opening.start + 1m\n    accounts: [bsky]\n"
    )
    schedule = load_schedule(event(tmp_path, schedule=schedule_text))
    hello = next(s for s in schedule.slots if s.id == "hello")
    assert [a.id for a in schedule.accounts_of(hello)] == ["bsky"]


@pytest.mark.parametrize(
    ("block", "offset", "expected"),
    [
        ("accounts: x\n", 1, "accounts must be a list, not a text"),
        ("accounts: []\n", 1, "accounts lists no account: leave it out to post to the event account on X alone"),
        (
            'accounts:\n  - id: b\n    network: threads\n    handle: "@demo"\n',
            3,
            'account "b" network "threads" is not one livetweet posts to: write x, bluesky or mastodon',
        ),
        (
            'accounts:\n  - id: b\n    network: bluesky\n    handle: "not a handle"\n',
            4,
            'account "b" handle "not a handle" is not a Bluesky handle like "unmignetwork.bsky.social" (a domain name)',
        ),
        (
            'accounts:\n  - id: m\n    network: mastodon\n    handle: "@demo"\n',
            4,
            'account "m" handle "@demo@" is not a Mastodon address like "@unmignetwork@mastodon.social"',
        ),
        (
            'accounts:\n  - id: x\n    network: x\n    handle: "@someone_else"\n',
            4,
            'account "x" is @someone_else on X, but the event account is @demo: they are one account, write the '
            "same handle",
        ),
        (
            'accounts:\n  - id: x\n    network: x\n    handle: "@this_is_far_too_long"\n',
            4,
            'account "x" handle "@this_is_far_too_long" is not an X handle like "@UNMigNetwork" (up to 15 '
            "letters, digits or _)",
        ),
        (
            'accounts:\n  - id: b\n    network: bluesky\n    handle: "demo.bsky.social"\n    max_chars: 500\n',
            5,
            'account "b" max_chars: only a Mastodon server sets its own limit',
        ),
        (
            'accounts:\n  - id: m\n    network: mastodon\n    handle: "@d@m.social"\n    max_chars: 0\n',
            5,
            'account "m" max_chars 0 is no server\'s limit: write one like 500',
        ),
    ],
)
def test_bad_accounts_are_named_with_their_line(tmp_path: Path, block: str, offset: int, expected: str) -> None:
    found = problems(event(tmp_path, accounts=block))
    assert f"{BASE + offset}: {expected}" in found, found


def test_an_account_listed_twice_is_named_with_the_first(tmp_path: Path) -> None:
    block = ACCOUNTS + '  - id: bsky\n    network: bluesky\n    handle: "other.bsky.social"\n'
    assert f'{BASE + 11}: account "bsky" is listed twice (first on line {BASE + 5})' in problems(
        event(tmp_path, accounts=block)
    )


def test_a_slot_naming_an_unknown_account_is_refused(tmp_path: Path) -> None:
    schedule_text = MINI_SCHEDULE.replace(
        "    at: opening.start + 1m\n", "    at: opening.start + 1m\n    accounts: [threads]\n"
    )
    hello_line = schedule_text.splitlines().index("  - id: hello") + 1
    assert (
        f'{hello_line}: slot "hello" posts to account "threads", which accounts does not list (it lists bsky, masto, x)'
        in problems(event(tmp_path, schedule=schedule_text))
    )


def test_each_delivery_is_checked_by_its_own_network(tmp_path: Path) -> None:
    """298 graphemes and the event hashtag, with a long link: X counts the link 23 (fits), Bluesky
    every character (does not), Mastodon counts it 23 too (fits its 500)."""
    link = "https://www.un.org/" + "a" * 120
    hello = "Welcome " + "é" * 150 + " " + link + "\n"
    found = problems(event(tmp_path, hello=hello))
    hello_line = MINI_SCHEDULE.splitlines().index("  - id: hello") + 1
    bluesky = [p for p in found if "to demo.bsky.social on Bluesky" in p]
    assert bluesky == [
        f'{hello_line}: slot "hello" to demo.bsky.social on Bluesky: the post is 304 characters long; Bluesky '
        f"allows 300: shorten {tmp_path}/templates/hello.j2 or the slot's vars"
    ], found
    assert not [p for p in found if "on X" in p or "Mastodon" in p or "weighted characters" in p]


def test_a_slot_only_on_bluesky_is_not_held_to_x_s_280(tmp_path: Path) -> None:
    schedule_text = MINI_SCHEDULE.replace(
        "    at: opening.start + 1m\n", "    at: opening.start + 1m\n    accounts: [bsky]\n"
    )
    hello = "Welcome " + "word " * 57 + "\n"  # 293 characters: over X's 280, within Bluesky's 300
    found = problems(event(tmp_path, schedule=schedule_text, hello=hello))
    assert [p for p in found if '"hello"' in p] == [], found


def test_preview_shows_every_delivery_with_its_length(tmp_path: Path) -> None:
    path = event(tmp_path)
    result = cli("preview", str(path), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout)[0]
    assert first["slot"] == "hello"
    assert first["deliveries"] == [
        {"account": "x", "network": "x", "handle": "@demo", "length": len(first["text"]), "limit": 280},
        {"account": "bsky", "network": "bluesky", "handle": "demo.bsky.social", "length": len(first["text"]),
         "limit": 300},
        {"account": "masto", "network": "mastodon", "handle": "@demo@mastodon.social", "length": len(first["text"]),
         "limit": 500},
    ]  # fmt: skip
    text = cli("preview", str(path), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    n = len(first["text"])
    assert (
        f"    to @demo (x) {n}/280; demo.bsky.social (bluesky) {n}/300; @demo@mastodon.social (mastodon) {n}/500"
        in (text.stdout)
    )


def test_preview_of_an_x_only_event_is_unchanged(tmp_path: Path) -> None:
    path = event(tmp_path, accounts="")
    result = cli("preview", str(path), "--json", cwd=tmp_path)
    assert "deliveries" not in json.loads(result.stdout)[0]
    assert "    to " not in cli("preview", str(path), cwd=tmp_path).stdout

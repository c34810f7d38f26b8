"""The events the tests plan: the shipped roundtable, and a small valid event to break."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from livetweet.plan.check import Report

REPO = Path(__file__).resolve().parents[2]
SHIPPED_SCHEDULE = REPO / "schedules" / "gcm-unece-2020-roundtable-2.yaml"
N_POSTS = 10  # the shipped schedule's posts
SHIPPED_ACCOUNTS = ("x", "bsky", "masto")  # where each of them goes: a delivery per account
ACCOUNTS_MARK = "# The accounts the event posts to"  # the shipped schedule's accounts block starts here (its end)


def _x_only_copy() -> Path:
    """The shipped roundtable on X alone (its accounts block cut; every other line where it was), with
    its templates and images beside it as in the checkout: for the tests of what a run does on X."""
    folder = Path(tempfile.mkdtemp(prefix="livetweet-x-only-"))
    shutil.copytree(REPO / "schedules", folder / "schedules")
    shutil.copytree(REPO / "templates", folder / "templates")
    text = SHIPPED_SCHEDULE.read_text(encoding="utf-8")
    copy = folder / "schedules" / SHIPPED_SCHEDULE.name
    copy.write_text(text[: text.index(ACCOUNTS_MARK)].rstrip("\n") + "\n", encoding="utf-8")
    atexit.register(shutil.rmtree, folder, True)
    return copy


# The same event posting to its X account alone, as it was shipped before Bluesky and Mastodon.
X_ONLY_SCHEDULE = _x_only_copy()


def shared_testdata() -> Path:
    """../shared/testdata beside the checkout (CI has it), or LIVETWEET_TESTDATA."""
    return Path(os.environ.get("LIVETWEET_TESTDATA") or REPO.parent / "shared" / "testdata")


# Line numbers matter: tests assert the exact line of each problem in this file.
MINI_SCHEDULE = """\
event:
  id: demo
  title: Demo event
  account: "@demo"
  date: 2020-11-12
  start: "13:30"
  end: "15:00"
  timezone: Europe/Zurich
  hashtags: ["#GCM"]
objectives:
  - number: 5
    title: Regular pathways
    hashtags: ["#Pathways"]
segments:
  - id: opening
    title: Opening
    start: "13:30"
    end: "13:45"
  - id: q1
    title: Question 1
    objectives: [5]
    start: "13:45"
    end: "15:00"
slots:
  - id: hello
    template: hello
    at: opening.start + 1m
  - id: q1
    template: question
    at: q1.start + 2m
"""

MINI_TEMPLATES = {
    "hello.j2": "Welcome to {{ event.title }}!\n",
    "question.j2": "Now: {{ segment.title }}.\n",
}


def accounts_block(*accounts: tuple[str, str, str]) -> str:
    """A schedule's `accounts:` block, one (id, network, handle as written in YAML) each, in block style."""
    return "accounts:\n" + "".join(
        f"  - id: {i}\n    network: {net}\n    handle: {handle}\n" for i, net, handle in accounts
    )


# The accounts the network tests post to (after MINI_SCHEDULE): @demo on X, on Bluesky and on Mastodon.
DEMO_ACCOUNTS = accounts_block(
    ("x", "x", '"@demo"'),
    ("bsky", "bluesky", "demo.bsky.social"),
    ("masto", "mastodon", '"@demo@mastodon.social"'),
)

CheckFn = Callable[..., Report]  # the `run_check` fixture


def write_event(folder: Path, schedule: str = MINI_SCHEDULE, templates: dict[str, str] | None = None) -> Path:
    """Write a schedule and its templates into `folder`; return the schedule's path."""
    (folder / "templates").mkdir(exist_ok=True)
    for name, text in (MINI_TEMPLATES if templates is None else templates).items():
        (folder / "templates" / name).write_text(text, encoding="utf-8")
    (folder / "schedules").mkdir(exist_ok=True)
    path = folder / "schedules" / "demo.yaml"
    path.write_text(schedule, encoding="utf-8")
    return path

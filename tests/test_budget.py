"""The X budget of issue 17: `budget: {x_usd_per_day: 5}` on the event.

The schedule reader says what is wrong with a budget at its line; `check` warns about a day whose
plan costs more; the run (the real Dispatcher, real tweepy over HTTP to the simulated X, a fixed
clock) holds back a post that would pass the budget unless a person sends it with post-now; and
the report's spent vs planned per day equals what the test sums from the store itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from livetweet.config import PRICES
from livetweet.draft import DraftState
from livetweet.plan.schedule import Budget, read_budget, read_schedule
from livetweet.report import render_html, report_json
from livetweet.service.report import compute_report, read_report_data

from .support.events import MINI_SCHEDULE, REPO, CheckFn, write_event
from .support.world import HELLO_AT, Q1_AT, World

S = DraftState
FILE = "schedules/demo.yaml"
PRICE = json.loads((REPO / "livetweet" / "data" / "prices.json").read_text(encoding="utf-8"))["prices"]
TAGS = '  hashtags: ["#GCM"]\n'  # the event's last line (9); a budget written after it starts on line 10
LINK = "https://example.org/q1"
THANKS_AT = HELLO_AT + timedelta(minutes=1)  # thanks: opening.start + 2m


def budgeted(body: str, schedule: str = MINI_SCHEDULE) -> str:
    """The schedule with `budget:` (line 10) and `body` under it (from line 11)."""
    assert TAGS in schedule
    return schedule.replace(TAGS, TAGS + "  budget:" + body, 1)


def errors(report: object) -> list[str]:
    return [str(p) for p in report.errors]  # type: ignore[attr-defined]


def warnings(report: object) -> list[str]:
    return [str(p) for p in report.warnings]  # type: ignore[attr-defined]


# --- the schedule: what a budget may be, and every mistake at its line ------------------------


@pytest.mark.parametrize(
    "body,expected",
    [
        ("\n    x_usd_per_day: -5\n",
         '11: event budget x_usd_per_day "-5" is negative: a budget is a positive amount of US dollars, like 5 or '
         "2.50"),
        ("\n    x_usd_per_day: five\n",
         '11: event budget x_usd_per_day "five" is not an amount of US dollars: write it as a number, like 5 or 2.50'),
        ("\n    x_usd_per_day: 0\n",
         '11: event budget x_usd_per_day "0" is no budget at all: give a positive amount, or leave budget out for no '
         "limit"),
        ("\n    x_usd_per_day: $5\n",
         '11: event budget x_usd_per_day "$5" is not a number: write the amount alone (it is in US dollars), like 5 or '
         "2.50"),
        ("\n    x_usd_per_day: 5 USD\n",
         '11: event budget x_usd_per_day "5 USD" is not a number: write the amount alone (it is in US dollars), like 5 '
         "or 2.50"),
        ('\n    x_usd_per_day: "5,50"\n',
         '11: event budget x_usd_per_day "5,50" is not a number: write cents after a dot, like 2.50'),
        ("\n    x_usd_per_day: ٥\n",
         '11: event budget x_usd_per_day "٥" is not an amount of US dollars: write it with the digits 0-9, like 5 or '
         "2.50"),
        ("\n    x_usd_per_day: 12345678901\n", '11: event budget x_usd_per_day "12345678901" is too large an amount'),
        ("\n    x_usd_per_day: [5]\n", "11: event budget x_usd_per_day must be a number, like 5 or 2.50, not a list"),
        ("\n    x_usd_per_day: ~\n",
         "11: event budget x_usd_per_day has no value (~, null or nothing after the colon mean none)"),
        ("\n    x_usd_per_day: 5\n    x_usd_per_month: 100\n",
         '12: unknown key "x_usd_per_month" in event budget (did you mean "x_usd_per_day"?)'),
        (" {}\n", '10: event budget is missing the key "x_usd_per_day"'),
        (" 5\n", '10: event budget "5" must be a mapping, like budget: {x_usd_per_day: 5}'),
    ],
)  # fmt: skip
def test_a_wrong_budget_is_one_error_at_its_line(run_check: CheckFn, body: str, expected: str) -> None:
    report = run_check(schedule=budgeted(body))
    assert errors(report) == [f"{FILE}:{expected}"]
    assert report.schedule is None  # a load refuses it


def test_a_budget_in_other_words_is_an_unknown_key_and_a_missing_one(run_check: CheckFn) -> None:
    assert errors(run_check(schedule=budgeted("\n    usd: 5\n"))) == [
        f'{FILE}:11: event budget is missing the key "x_usd_per_day"',
        f'{FILE}:11: unknown key "usd" in event budget (known keys: x_usd_per_day)',
    ]


@pytest.mark.parametrize(
    "body,amount",
    [("\n    x_usd_per_day: 5\n", 5.0), ('\n    x_usd_per_day: "2.50"\n', 2.5), (" {x_usd_per_day: 0.2}\n", 0.2)],
)
def test_a_budget_is_a_positive_number_of_dollars(tmp_path: Path, body: str, amount: float) -> None:
    path = write_event(tmp_path, budgeted(body))
    schedule, problems = read_schedule(path, FILE)
    assert problems == []
    assert schedule is not None and schedule.event.budget == Budget(amount, 11 if body.startswith("\n") else 10)
    assert read_budget(path) == schedule.event.budget  # what the run and the report read from the stored path


def test_no_budget_means_no_limit(tmp_path: Path) -> None:
    for schedule in (MINI_SCHEDULE, budgeted(" ~\n")):
        path = write_event(tmp_path, schedule)
        found, problems = read_schedule(path, FILE)
        assert problems == [] and found is not None and found.event.budget is None
        assert read_budget(path) is None


def test_a_wrong_budget_leaves_the_rest_of_the_file_checked(run_check: CheckFn) -> None:
    schedule = budgeted("\n    x_usd_per_day: -5\n").replace("at: q1.start + 2m", "at: q1.end + 2h")
    assert errors(run_check(schedule=schedule)) == [
        f'{FILE}:11: event budget x_usd_per_day "-5" is negative: a budget is a positive amount of US dollars, like 5 '
        "or 2.50",
        f'{FILE}:32: slot "q1" at 17:00 lies outside the event\'s posting window (12:30-15:00); set event '
        "posts_from/posts_until to post earlier or later",
    ]


# --- check: a warning for a day that the plan makes cost more than the budget ------------------


def test_check_warns_of_a_day_the_plan_costs_more_than_the_budget(run_check: CheckFn) -> None:
    report = run_check(schedule=budgeted("\n    x_usd_per_day: 0.02\n"))
    assert report.ok  # a warning, not an error: the schedule loads
    assert warnings(report) == [
        f"{FILE}:11: warning: on Thursday 2020-11-12 the plan costs $0.03 at X's prices of 2026-08 "
        "(2 posts at $0.015), more than budget.x_usd_per_day ($0.02): raise budget.x_usd_per_day or post fewer "
        "links/images that day (past the budget, `run` posts only what a person sends with post-now)"
    ]


def test_check_is_quiet_when_the_plan_fits_the_budget_to_the_cent(run_check: CheckFn) -> None:
    assert warnings(run_check(schedule=budgeted("\n    x_usd_per_day: 0.03\n"))) == []  # 2 x $0.015: exactly


# --- the run: the claim refuses to pass the budget, a person's post-now goes past it ------------


def linked(schedule: str = MINI_SCHEDULE) -> str:
    """Segment q1's title carries a link, so that q1's post is one X bills as a post with a URL ($0.20)."""
    return schedule.replace("title: Question 1\n", f"title: Question 1 {LINK}\n", 1)


BUDGET_10C = budgeted("\n    x_usd_per_day: 0.10\n", linked())  # hello ($0.015) fits, q1 ($0.200) does not


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, BUDGET_10C, mode="auto")
    yield w
    w.close()


def test_a_post_that_would_pass_the_budget_waits_and_is_missed_with_the_reason(world: World) -> None:
    world.at(HELLO_AT).at(Q1_AT)
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM"]
    q1 = world.draft("q1")
    assert q1.state == S.APPROVED  # not claimed: nothing was sent, nothing was billed
    waiting = [n for n in world.notices if n.draft.slot == "q1"]
    assert [(n.what, n.detail) for n in waiting] == [
        (
            "waiting",
            "waits for the X budget: $0.015 spent on Thursday 2020-11-12 and this post's $0.200 would pass "
            f"budget.x_usd_per_day ($0.10); `livetweet post-now {q1.id}` sends it anyway, or raise the budget in the "
            "schedule and load it again",
        )
    ]
    world.at(Q1_AT + timedelta(seconds=30)).at(Q1_AT + timedelta(minutes=6))  # the window (5 min) closes
    q1 = world.draft("q1")
    assert q1.state == S.MISSED
    assert q1.last_error is not None and "held back, waiting for the X budget: $0.015 spent" in q1.last_error
    assert len(world.x.posts()) == 1


def test_the_budget_is_kept_in_the_store_at_load(world: World, tmp_path: Path) -> None:
    """A standby's copy of the schedule may sit elsewhere: the run holds to the budget the store kept."""
    event = world.store.event("demo")
    assert event is not None and event.x_usd_per_day == 0.10
    Path(event.schedule_path).rename(tmp_path / "moved-away.yaml")
    world.at(HELLO_AT).at(Q1_AT)
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM"]
    assert world.draft("q1").state == S.APPROVED  # still held back: the budget came from the store


def test_a_persons_post_now_goes_past_the_budget(world: World) -> None:
    world.at(HELLO_AT).at(Q1_AT)
    q1 = world.draft("q1")
    assert q1.state == S.APPROVED
    world.service.post_now(q1.id, "alice")
    world.at(Q1_AT + timedelta(seconds=1))
    assert world.draft("q1").state == S.POSTED
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM", f"Now: Question 1 {LINK}.\n\n#GCM #Pathways"]


def test_a_missed_post_sent_with_post_now_goes_past_the_budget(world: World) -> None:
    world.at(HELLO_AT).at(Q1_AT).at(Q1_AT + timedelta(minutes=6))
    q1 = world.draft("q1")
    assert q1.state == S.MISSED
    world.service.post_now(q1.id, "alice")
    world.at(Q1_AT + timedelta(minutes=6, seconds=1))
    assert world.draft("q1").state == S.POSTED


def test_an_approval_after_a_post_now_is_held_to_the_budget_again(world: World) -> None:
    world.at(HELLO_AT).at(Q1_AT)
    q1 = world.draft("q1")
    world.service.post_now(q1.id, "alice", hold=timedelta(seconds=30))
    world.service.cancel_post(q1.id, "alice")  # called back during its hold: pending
    world.service.approve(q1.id, "bruno")  # an approval is not a post-now
    world.at(Q1_AT + timedelta(seconds=40))
    assert world.draft("q1").state == S.APPROVED
    assert len(world.x.posts()) == 1


def test_a_raised_budget_takes_effect_when_the_schedule_is_loaded_again(world: World, tmp_path: Path) -> None:
    world.at(HELLO_AT).at(Q1_AT)
    assert world.draft("q1").state == S.APPROVED
    path = tmp_path / "schedules" / "demo.yaml"
    path.write_text(BUDGET_10C.replace("x_usd_per_day: 0.10", "x_usd_per_day: 0.25"), encoding="utf-8")
    world.at(Q1_AT + timedelta(seconds=10))
    assert world.draft("q1").state == S.APPROVED  # the run keeps the budget of the last load
    world.service.load(path, "auto")
    world.at(Q1_AT + timedelta(seconds=20))
    assert world.draft("q1").state == S.POSTED


def test_a_post_in_flight_counts_against_the_budget(tmp_path: Path) -> None:
    thanks = MINI_SCHEDULE + "  - id: thanks\n    template: thanks\n    at: opening.start + 2m\n"
    w = World(tmp_path, budgeted("\n    x_usd_per_day: 0.02\n", thanks), mode="auto")
    try:
        w.clock.set(THANKS_AT)
        claim = w.dispatcher.claim(w.draft("hello").id)  # claimed: in posting, not yet recorded
        assert claim is not None
        assert w.dispatcher.claim(w.draft("thanks").id) is None  # $0.015 in flight + $0.015 > $0.02
        assert [n.what for n in w.notices if n.draft.slot == "thanks"] == ["waiting"]
        outcome = w.dispatcher.call(claim)
        assert outcome is not None
        w.dispatcher.record(claim, outcome)
        w.at(THANKS_AT + timedelta(seconds=1))
        assert (w.draft("hello").state, w.draft("thanks").state) == (S.POSTED, S.APPROVED)
    finally:
        w.close()


def test_without_a_budget_nothing_is_held_back(tmp_path: Path) -> None:
    w = World(tmp_path, linked(), mode="auto")
    try:
        w.at(HELLO_AT).at(Q1_AT)
        assert [d.state for d in (w.draft("hello"), w.draft("q1"))] == [S.POSTED, S.POSTED]
    finally:
        w.close()


# --- the report: spent vs planned per day, and the budget, as the store says ---------------------


def test_the_report_shows_spent_vs_planned_per_day_as_the_store_says(world: World) -> None:
    world.at(HELLO_AT).at(Q1_AT)
    world.service.post_now(world.draft("q1").id, "alice")
    world.at(Q1_AT + timedelta(seconds=1))

    # The test's own sums, from the store's rows and the price file.
    drafts = world.store.drafts(event_id="demo")
    assert [d.state for d in drafts] == [S.POSTED, S.POSTED]

    def usd(group: list) -> float:  # type: ignore[type-arg]
        linked = sum(1 for d in group if "https://" in d.text)
        images = sum(len(d.media) for d in group)
        return (
            (len(group) - linked) * PRICE["post"]["usd"]
            + linked * PRICE["post_with_url"]["usd"]
            + images * PRICE["media_metadata"]["usd"]
        )

    day, zone = "2020-11-12", ZoneInfo("Europe/Zurich")  # a day of the event, in its zone

    def on_day(when: datetime | None) -> bool:
        return when is not None and when.astimezone(zone).date().isoformat() == day

    planned = usd([d for d in drafts if d.source == "schedule" and on_day(d.planned_at)])
    spent = usd([d for d in drafts if d.state == S.POSTED and on_day(d.posted_at)])
    assert round(planned, 4) == round(spent, 4) == 0.215  # both went out, q1 past the budget by a person's post-now

    figures = compute_report(read_report_data(world.store, "demo"), PRICES)
    assert figures.budget == Budget(0.10, 11)
    assert [(d.day.isoformat(), round(d.planned.total, 4), round(d.spent.total, 4)) for d in figures.days] == [
        (day, round(planned, 4), round(spent, 4))
    ]
    assert figures.days[0].over_budget

    page = render_html(figures, datetime(2020, 11, 12, 15, 0, tzinfo=UTC), chart="<svg></svg>")
    rows = re.findall(r'<tr data-day="([^"]+)" data-planned-usd="([^"]+)" data-spent-usd="([^"]+)" '
                      r'data-budget-usd="([^"]+)" data-over="([^"]+)">', page)  # fmt: skip
    assert rows == [(day, f"{planned:.4f}", f"{spent:.4f}", "0.1000", "yes")]
    assert "Spent vs planned, per day (budget: $0.10 a day)" in page
    assert "spent $0.12 over (posts a person sent with post-now)" in page

    data = report_json(figures)["cost"]
    assert data["budget_usd_per_day"] == 0.10  # type: ignore[index]
    assert [(d["day"], d["spent"]["usd"], d["over_budget"]) for d in data["days"]] == [(day, 0.215, True)]  # type: ignore[index]


def test_a_report_without_a_budget_shows_the_days_without_one(tmp_path: Path) -> None:
    w = World(tmp_path, mode="auto")
    try:
        w.at(HELLO_AT)
        figures = compute_report(read_report_data(w.store, "demo"), PRICES)
        assert figures.budget is None
        assert [(round(d.planned.total, 3), round(d.spent.total, 3), d.budget_usd) for d in figures.days] == [
            (0.03, 0.015, None)
        ]
        page = render_html(figures, datetime(2020, 11, 12, 15, 0, tzinfo=UTC), chart="<svg></svg>")
        assert "Spent vs planned, per day</h3>" in page and "Against the budget" not in page
    finally:
        w.close()


def test_the_stored_path_gives_the_budget_the_schedule_reader_gives(tmp_path: Path) -> None:
    escaped = MINI_SCHEDULE.replace(TAGS, TAGS + '  "bud\\x67et": {x_usd_per_day: 7}\n', 1)  # "budget", escaped
    path = write_event(tmp_path, escaped)
    schedule, problems = read_schedule(path, FILE)
    assert problems == [] and schedule is not None
    assert read_budget(path) == schedule.event.budget == Budget(7.0, 10)

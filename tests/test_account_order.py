"""An account's posts go out in their order, and the order never costs a post its window.

A later delivery waits while an earlier one on its account is being posted, waits for a retry
inside its window, or is due and free to go (`Ledger._ahead`). Liveness: an earlier post that
cannot go (its window closed, its next try past it, its parent refused, the budget holding it,
edited or rejected) holds nothing back, and no post waits into the last third of its own window.
Safety: in order and once, also across a crash and a run that lost its lease. And what the
operator is told. Real store, real tweepy, the simulated X; the clock is moved, never slept on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from livetweet.dispatch import Dispatcher
from livetweet.draft import DraftState

from .support.events import MINI_SCHEDULE
from .support.photos import jpeg, photo_draft
from .support.world import HELLO_AT, Q1_AT, T_1330, World

S = DraftState
LOOKUP = "GET /2/users/:id/tweets"  # where the run looks for a post whose outcome it does not know
UPLOAD = "POST /2/media/upload"

# hello and next are due at the same moment on one account (hello loaded first goes first).
SAME_TIME_SCHEDULE = MINI_SCHEDULE + "  - id: next\n    template: question\n    at: opening.start + 1m\n"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, mode="auto")
    yield w
    w.close()


@pytest.fixture
def same_time(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, SAME_TIME_SCHEDULE, mode="auto")
    yield w
    w.close()


@pytest.fixture
def approval(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, mode="approval")
    yield w
    w.close()


def _tick(w: World, dispatcher: Dispatcher, when: datetime) -> None:
    w.clock.set(when)
    dispatcher.tick()


def _every(w: World, start: datetime, end: datetime, step: timedelta, dispatcher: Dispatcher | None = None) -> None:
    """The sweep as a run makes it: every `step` from `start` to `end` (inclusive)."""
    when = start
    while when <= end:
        _tick(w, dispatcher or w.dispatcher, when)
        when += step


def _posted_ids(w: World) -> list[str]:
    return [p.id for p in w.x.posts()]


# --- the order, and who it does not hold ---------------------------------------------------------


def test_a_later_post_waits_while_an_earlier_one_on_its_account_waits_for_a_retry(same_time: World) -> None:
    w = same_time
    hello, nxt = w.draft("hello"), w.draft("next")
    assert (hello.at, hello.id) < (nxt.at, nxt.id)
    w.x.inject_fault("429")  # hello's first try; its retry comes at the reset, 30 s later
    w.at(HELLO_AT).at(HELLO_AT + timedelta(seconds=29))
    assert (w.draft("hello").state, w.draft("next").state) == (S.APPROVED, S.APPROVED)
    assert w.x.posts() == []  # next did not overtake hello
    waiting = [n.detail for n in w.notices if n.draft.slot == "next" and n.what == "waiting"]
    assert waiting == [
        f"waits for hello (draft {hello.id}, trying again at 2020-11-12 13:31:30 CET), due before it on the same "
        "account, to go out first: "
        "an account's posts go out in their order"
    ]
    w.at(HELLO_AT + timedelta(seconds=30))
    assert [p.id for p in w.x.posts()] == [w.draft("hello").tweet_id, w.draft("next").tweet_id]


def test_a_persons_post_now_does_not_wait_for_an_earlier_post_on_its_account(same_time: World) -> None:
    w = same_time
    w.x.inject_fault("429")
    w.at(HELLO_AT)
    w.service.post_now(w.draft("next").id, "alice")
    w.at(HELLO_AT + timedelta(seconds=1))
    assert [p.id for p in w.x.posts()] == [w.draft("next").tweet_id]
    assert w.draft("hello").state == S.APPROVED  # still waiting for its retry
    w.at(HELLO_AT + timedelta(seconds=30))
    assert w.draft("hello").state == S.POSTED


def test_an_earlier_post_past_its_window_does_not_hold_a_later_one(approval: World) -> None:
    w = approval
    w.service.approve(w.draft("q1").id, "alice")
    w.service.approve(w.draft("hello").id, "alice")
    w.service.pause("alice", "hold everything")
    w.at(Q1_AT)  # hello's window (5 minutes from 13:31) has closed while paused
    w.service.resume("alice")
    w.at(Q1_AT + timedelta(seconds=1))
    assert w.draft("hello").state == S.MISSED
    assert w.texts() == ["Now: Question 1.\n\n#GCM #Pathways"]


def test_a_reply_waiting_for_its_refused_parent_does_not_hold_back_the_posts_after_it(tmp_path: Path) -> None:
    thread = MINI_SCHEDULE + "  - id: thanks\n    template: thanks\n    at: q1.start + 4m\n    reply_to: q1\n"
    schedule = thread + "  - id: later\n    template: hello\n    at: q1.start + 5m\n"
    w = World(tmp_path, schedule, mode="auto")
    try:
        w.service.reject(w.draft("q1").id, "alice", "cancelled")
        w.at(Q1_AT + timedelta(minutes=2))  # thanks is due: it waits for q1, which will never go out
        w.at(Q1_AT + timedelta(minutes=3))  # later is due
        assert w.draft("thanks").state == S.APPROVED
        assert w.draft("later").state == S.POSTED
    finally:
        w.close()


# --- liveness: a hold that costs a post ----------------------------------------------------------


def test_a_post_whose_lookup_keeps_failing_does_not_hold_back_the_account_after_its_window(world: World) -> None:
    """hello's call times out (outcome unknown) and the lookup of the account's recent posts keeps
    failing (X's timeline read is rate-limited or down; posting works): hello stays in posting,
    looked up again every 10 s. Once its window has closed the run never sends it again, so q1
    (13:47), free to go on a working X, is not held back by it."""
    w = world
    w.x.inject_fault("hang")  # hello's POST times out: X never stored it
    w.x.inject_fault("503", route=LOOKUP, times=10_000)
    w.at(HELLO_AT)
    assert w.draft("hello").state == S.POSTING
    _every(w, Q1_AT - timedelta(seconds=10), Q1_AT + timedelta(minutes=6), timedelta(seconds=10))
    q1 = w.draft("q1")
    waiting = [n.detail for n in w.notices if n.draft.slot == "q1" and n.what == "waiting"]
    assert q1.state == S.POSTED, (
        f"q1 was {q1.state.value} ({q1.last_error}): held back for its whole window by hello, in posting "
        f"16 minutes after hello's window closed, only because its lookup kept failing; notices: {waiting}"
    )


def test_a_post_whose_images_cannot_be_uploaded_does_not_cost_the_text_post_after_it(approval: World) -> None:
    """pic (13:33, a 20-minute window) carries an image; X's upload route fails with 503 all along
    while posting text works. plain (13:34, 5 minutes, no image) waits behind pic's retries only
    until the last third of its own window, then goes: late and out of order, not missed."""
    w = approval
    at = T_1330 + timedelta(minutes=3)
    pic = photo_draft(w, "pic", "The panel #GCM", [(jpeg(), "Five panellists")], at, timedelta(minutes=20))
    plain = photo_draft(w, "plain", "Plain words #GCM", [], at + timedelta(minutes=1), timedelta(minutes=5))
    assert (pic.at, pic.id) < (plain.at, plain.id)
    w.x.inject_fault("503", route=UPLOAD, times=10_000)
    _every(w, at, at + timedelta(minutes=7), timedelta(seconds=5))
    got = w.store.get(plain.id)
    assert w.store.get(pic.id).state == S.APPROVED  # still retrying its upload, inside its window
    assert got.state == S.POSTED, (
        f"plain is {got.state.value} ({got.last_error}): it waited behind pic, whose image upload kept failing, "
        "until its own window closed; X took text posts all along"
    )


def test_a_retry_that_the_lookup_puts_past_its_window_does_not_hold_back_the_next_post(same_time: World) -> None:
    """X answers hello with 503 seven times (tries at 13:31:00, :05, :15, :35, 13:32:15, 13:33:15,
    13:34:15), then its 8th call (13:35:15) times out; the lookup finds it not on the account and
    its next try (13:36:15) would be past its window (13:36:00): it is missed at once, as a 5xx
    whose retry would be too late is, and next (same time, same window) goes in the same sweep."""
    w = same_time
    w.x.inject_fault("503", times=7)
    w.x.inject_fault("hang")
    for seconds in (0, 5, 15, 35, 75, 135, 195):
        w.at(HELLO_AT + timedelta(seconds=seconds))
    assert (w.draft("hello").attempts, w.draft("hello").state) == (7, S.APPROVED)
    w.at(HELLO_AT + timedelta(seconds=255))  # the 8th call hangs; not on the account; no time to retry
    hello = w.draft("hello")
    assert hello.state == S.MISSED and "no time left to retry" in (hello.last_error or ""), hello.last_error
    w.at(HELLO_AT + timedelta(seconds=256))
    assert w.draft("next").state == S.POSTED, w.draft("next").last_error


def test_an_earlier_post_edited_while_it_waits_for_a_retry_lets_the_later_one_go(same_time: World) -> None:
    w = same_time
    w.x.inject_fault("429")  # hello waits 30 s for the reset
    w.at(HELLO_AT)
    hello = w.draft("hello")
    w.service.edit(hello.id, "Welcome, everyone! #GCM", "alice")  # back to pending: not on its way any more
    w.at(HELLO_AT + timedelta(seconds=1))
    assert w.draft("hello").state == S.PENDING
    assert _posted_ids(w) == [w.draft("next").tweet_id]


def test_an_earlier_post_rejected_while_it_waits_for_a_retry_lets_the_later_one_go(same_time: World) -> None:
    w = same_time
    w.x.inject_fault("429")
    w.at(HELLO_AT)
    w.service.reject(w.draft("hello").id, "alice", "not now")
    w.at(HELLO_AT + timedelta(seconds=1))
    assert _posted_ids(w) == [w.draft("next").tweet_id]


def test_a_pause_over_the_earlier_posts_window_leaves_the_later_post_its_own(tmp_path: Path) -> None:
    """hello (13:31, 5 min) and later (13:33, 5 min): paused 13:31-13:36:30, hello's window closes
    while paused; after resume at 13:36:30 later (open until 13:38) goes at once."""
    schedule = MINI_SCHEDULE + "  - id: later\n    template: question\n    at: opening.start + 3m\n"
    w = World(tmp_path, schedule, mode="auto")
    try:
        w.service.pause("alice", "wait")
        w.at(HELLO_AT).at(HELLO_AT + timedelta(minutes=2))
        w.service.resume("alice")
        w.at(HELLO_AT + timedelta(minutes=5, seconds=30))
        assert (w.draft("hello").state, w.draft("later").state) == (S.MISSED, S.POSTED)
    finally:
        w.close()


def test_a_post_now_of_a_missed_earlier_post_does_not_block_the_posts_after_it(approval: World) -> None:
    """hello is missed; q1 is approved. At 13:47 a person sends hello with post-now and a 30 s hold:
    it is now due at 13:47:30, after q1 (13:47): q1 does not wait for it, and hello follows."""
    w = approval
    w.service.approve(w.draft("q1").id, "alice")
    w.at(HELLO_AT + timedelta(minutes=6))
    assert w.draft("hello").state == S.MISSED
    w.clock.set(Q1_AT - timedelta(seconds=1))
    w.service.post_now(w.draft("hello").id, "alice", hold=timedelta(seconds=30))
    w.at(Q1_AT).at(Q1_AT + timedelta(seconds=30))
    assert _posted_ids(w) == [w.draft("q1").tweet_id, w.draft("hello").tweet_id]


# --- safety: in order, once, also across a crash ---------------------------------------------------


@pytest.mark.parametrize("fault", ["503", "500", "429"])
def test_a_later_post_waits_for_the_earlier_ones_retry_across_a_crash(same_time: World, fault: str) -> None:
    w = same_time
    w.x.inject_fault(fault)
    w.at(HELLO_AT)  # hello waits for its retry (5 s, or 30 s for a 429)
    assert w.x.posts() == []
    run = w.crash()  # the run dies; a new one takes over the store
    _every(w, HELLO_AT + timedelta(seconds=1), HELLO_AT + timedelta(seconds=31), timedelta(seconds=1), run)
    hello, nxt = w.draft("hello"), w.draft("next")
    assert (hello.state, nxt.state) == (S.POSTED, S.POSTED)
    assert _posted_ids(w) == [hello.tweet_id, nxt.tweet_id]  # in order, each once


@pytest.mark.parametrize("fault", ["hang", "hang-after-store", "drop-after-store", "503-after-store"])
def test_an_unknown_outcome_is_settled_before_the_next_post_also_across_a_crash(same_time: World, fault: str) -> None:
    w = same_time
    w.x.inject_fault(fault)
    w.at(HELLO_AT)
    run = w.crash()
    _every(w, HELLO_AT + timedelta(seconds=1), HELLO_AT + timedelta(seconds=40), timedelta(seconds=1), run)
    hello, nxt = w.draft("hello"), w.draft("next")
    assert (hello.state, nxt.state) == (S.POSTED, S.POSTED), (hello.last_error, nxt.last_error)
    assert _posted_ids(w) == [hello.tweet_id, nxt.tweet_id]


def test_a_claim_left_in_posting_by_a_run_that_lost_its_lease_holds_the_next_post_until_it_is_settled(
    same_time: World,
) -> None:
    w = same_time
    w.clock.set(HELLO_AT)
    claim = w.dispatcher.claim(w.draft("hello").id)  # the old run claims hello, then dies before calling X
    assert claim is not None and w.draft("hello").state == S.POSTING
    run = w.crash()
    # The new run's date job for next fires first: it must wait for hello (in posting).
    run.dispatch(w.draft("next").id)
    assert w.x.posts() == []
    assert w.draft("next").state == S.APPROVED
    _every(w, HELLO_AT + timedelta(seconds=1), HELLO_AT + timedelta(seconds=3), timedelta(seconds=1), run)
    assert _posted_ids(w) == [w.draft("hello").tweet_id, w.draft("next").tweet_id]
    # The old run, had it come back, posts nothing: it was fenced.
    assert w.dispatcher.call(claim) is None
    assert len(w.x.posts()) == 2


def test_a_later_posts_own_date_job_firing_before_the_sweep_does_not_overtake(same_time: World) -> None:
    """The runner's date job for `next` and the sweep are separate: `next` dispatched alone while
    hello waits for its 429 reset still waits."""
    w = same_time
    w.x.inject_fault("429")
    w.at(HELLO_AT)
    w.clock.set(HELLO_AT + timedelta(seconds=10))
    w.dispatcher.dispatch(w.draft("next").id)
    assert w.x.posts() == []
    w.at(HELLO_AT + timedelta(seconds=30))
    assert _posted_ids(w) == [w.draft("hello").tweet_id, w.draft("next").tweet_id]


# --- what the operator is told ------------------------------------------------------------------


def test_the_waiting_notice_says_when_the_earlier_post_tries_again(same_time: World) -> None:
    w = same_time
    w.x.inject_fault("429")  # hello tries again at X's reset, 30 s on
    w.at(HELLO_AT)
    waiting = [n.detail for n in w.notices if n.draft.slot == "next" and n.what == "waiting"]
    assert waiting == [
        f"waits for hello (draft {w.draft('hello').id}, trying again at 2020-11-12 13:31:30 CET), due before it on "
        "the same account, to go out first: an account's posts go out in their order"
    ]


def test_a_post_missed_while_it_waited_for_an_earlier_one_says_what_it_waited_for(approval: World) -> None:
    """plain waits behind pic (whose image upload keeps failing); then posting is paused until
    plain's window has closed: its missed reason names what it waited for."""
    w = approval
    at = T_1330 + timedelta(minutes=3)
    photo_draft(w, "pic", "The panel #GCM", [(jpeg(), "Five panellists")], at, timedelta(minutes=20))
    plain = photo_draft(w, "plain", "Plain words #GCM", [], at + timedelta(minutes=1), timedelta(minutes=5))
    w.x.inject_fault("503", route=UPLOAD, times=10_000)
    _every(w, at, at + timedelta(minutes=2), timedelta(seconds=10))
    assert w.store.get(plain.id).state == S.APPROVED  # waiting in the order
    w.service.pause("alice", "the room is not ready")
    _every(w, at + timedelta(minutes=2, seconds=10), at + timedelta(minutes=7), timedelta(seconds=10))
    got = w.store.get(plain.id)
    assert got.state == S.MISSED
    assert "posting was paused" in (got.last_error or "") and "it last waited for pic (draft" in (got.last_error or "")


# --- the budget: a held earlier post does not hold a later one, also in a new run ------------------

LINK = "https://example.org/q1"
BUDGET_SCHEDULE = (
    MINI_SCHEDULE.replace("title: Question 1\n", f"title: Question 1 {LINK}\n", 1).replace(
        '  hashtags: ["#GCM"]\n', '  hashtags: ["#GCM"]\n  budget:\n    x_usd_per_day: 0.10\n', 1
    )
    + "  - id: after\n    template: hello\n    at: q1.start + 3m\n"
)  # hello ($0.015) and after ($0.015) fit; q1 ($0.200, a link) does not


def test_a_post_the_budget_holds_does_not_hold_the_next_one_also_after_a_crash(tmp_path: Path) -> None:
    w = World(tmp_path, BUDGET_SCHEDULE, mode="auto")
    try:
        w.at(HELLO_AT).at(Q1_AT)
        assert w.draft("q1").state == S.APPROVED  # held by the budget
        run = w.crash()  # the new run has not seen q1 held yet
        w.clock.set(Q1_AT + timedelta(minutes=1))
        run.dispatch(w.draft("after").id)  # its date job may come before the first sweep: it waits (once)
        _tick(w, run, Q1_AT + timedelta(minutes=1, seconds=1))  # the sweep tries q1 first (held), then after
        assert (w.draft("q1").state, w.draft("after").state) == (S.APPROVED, S.POSTED)
        assert _posted_ids(w) == [w.draft("hello").tweet_id, w.draft("after").tweet_id]
    finally:
        w.close()

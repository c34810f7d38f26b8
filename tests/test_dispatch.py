"""Posting with real tweepy over HTTP to the simulated X API, on a clock the test moves.

No sleeping: the test sets the clock and calls `Dispatcher.tick()`, which is what the
running scheduler calls too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livetweet.draft import DraftState

from .support.events import MINI_SCHEDULE
from .support.world import HELLO_AT, Q1_AT, T_1330, World

S = DraftState
CET = timedelta(hours=1)

THREAD_SCHEDULE = MINI_SCHEDULE + "  - id: thanks\n    template: thanks\n    at: q1.start + 4m\n    reply_to: q1\n"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


@pytest.fixture
def approval_world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, mode="approval")
    yield w
    w.close()


@pytest.fixture
def thread_world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, THREAD_SCHEDULE, mode="auto")
    yield w
    w.close()


def test_nothing_goes_out_before_its_time(world: World) -> None:
    world.at(HELLO_AT - timedelta(seconds=1))
    assert world.texts() == []


def test_auto_mode_posts_every_slot_once_in_order(world: World) -> None:
    world.at(HELLO_AT).at(HELLO_AT + timedelta(seconds=30)).at(Q1_AT).at(Q1_AT + timedelta(minutes=10))
    assert not world.dispatcher.finished()  # the event runs until 15:00
    world.at(T_1330 + timedelta(minutes=91))
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM", "Now: Question 1.\n\n#GCM #Pathways"]
    hello = world.draft("hello")
    assert (hello.state, hello.tweet_id) == (S.POSTED, world.x.posts()[0].id)
    assert world.dispatcher.finished()


def test_approval_mode_posts_only_what_was_approved(approval_world: World) -> None:
    w = approval_world
    w.service.approve(w.draft("q1").id, "alice")
    w.at(HELLO_AT).at(Q1_AT)
    assert w.texts() == ["Now: Question 1.\n\n#GCM #Pathways"]
    w.at(HELLO_AT + timedelta(minutes=6))  # past hello's 5-minute window
    assert w.draft("hello").state == S.MISSED
    assert w.texts() == ["Now: Question 1.\n\n#GCM #Pathways"]


def test_a_late_approval_is_missed_and_post_now_sends_it(approval_world: World) -> None:
    w = approval_world
    w.at(HELLO_AT + timedelta(minutes=6))
    assert w.draft("hello").state == S.MISSED
    with pytest.raises(Exception, match="missed: it cannot be approved"):
        w.service.approve(w.draft("hello").id, "alice")
    w.service.post_now(w.draft("hello").id, "alice")
    w.at(HELLO_AT + timedelta(minutes=6, seconds=1))
    assert w.texts() == ["Welcome to Demo event!\n\n#GCM"]
    assert w.draft("hello").state == S.POSTED


def test_a_reply_lands_under_its_parent(thread_world: World) -> None:
    w = thread_world
    w.at(HELLO_AT).at(Q1_AT).at(Q1_AT + timedelta(minutes=2))
    q1, thanks = w.x.posts()[1], w.x.posts()[2]
    assert (thanks.text, thanks.in_reply_to) == ("Thanks for your questions!\n\n#GCM #Pathways", q1.id)


def test_a_reply_waits_for_its_parent_and_is_missed_with_its_window(thread_world: World) -> None:
    w = thread_world
    w.service.reject(w.draft("q1").id, "alice", "cancelled")
    w.at(Q1_AT + timedelta(minutes=2))
    assert w.draft("thanks").state == S.APPROVED
    assert [n.what for n in w.notices if n.draft.slot == "thanks"] == ["waiting"]
    w.at(Q1_AT + timedelta(minutes=8))
    assert w.draft("thanks").state == S.MISSED
    assert "Thanks" not in " ".join(w.texts())


# --- faults: every approved draft is posted once, or failed/missed with the reason; never twice --


@pytest.mark.parametrize(
    "fault,clock_steps,state,posts,how",
    [
        ("500", [timedelta(0), timedelta(seconds=5)], S.POSTED, 1, "retry then posted"),
        ("503", [timedelta(0), timedelta(seconds=5)], S.POSTED, 1, "retry then posted"),
        ("429", [timedelta(0), timedelta(seconds=29), timedelta(seconds=30)], S.POSTED, 1, "at the reset time"),
        ("hang", [timedelta(0), timedelta(seconds=1)], S.POSTED, 1, "not found, posted again"),
        ("hang-after-store", [timedelta(0)], S.POSTED, 1, "found on the account"),
        ("drop-after-store", [timedelta(0)], S.POSTED, 1, "found on the account"),
        ("401", [timedelta(0), timedelta(seconds=30)], S.APPROVED, 0, "credentials refused: paused, kept"),
        ("403", [timedelta(0), timedelta(seconds=30)], S.FAILED, 0, "refused"),
    ],
)
def test_fault_matrix(
    world: World, fault: str, clock_steps: list[timedelta], state: DraftState, posts: int, how: str
) -> None:
    world.x.inject_fault(fault)
    for step in clock_steps:
        world.at(HELLO_AT + step)
    hello = world.draft("hello")
    assert hello.state == state, (how, world.notices)
    assert world.texts().count("Welcome to Demo event!\n\n#GCM") == posts
    if state == S.FAILED:
        assert hello.last_error and ("401" in hello.last_error or "403" in hello.last_error)


def test_429_waits_for_the_reset_time(world: World) -> None:
    world.x.inject_fault("429")
    world.at(HELLO_AT).at(HELLO_AT + timedelta(seconds=29))
    assert world.texts() == []
    assert world.draft("hello").next_attempt_at == HELLO_AT + timedelta(seconds=30)


def test_a_duplicate_403_is_reconciled_not_reposted(world: World) -> None:
    # The post went out earlier (say, before a crash) but was never recorded.
    world.publisher.post("Welcome to Demo event!\n\n#GCM")
    world.at(HELLO_AT)
    hello = world.draft("hello")
    assert (hello.state, hello.tweet_id) == (S.POSTED, world.x.posts()[0].id)
    assert len(world.x.posts()) == 1
    assert [e.action for e in world.service.history(hello.id)][-1] == "reconciled"


def test_401_halts_posting_until_resume(world: World) -> None:
    world.x.inject_fault("401")
    world.at(HELLO_AT).at(Q1_AT)
    assert world.draft("q1").state == S.APPROVED  # not claimed: posting is paused
    assert world.service.paused().by == "dispatcher"  # type: ignore[union-attr]
    world.service.resume("alice", verify=world.publisher.check)
    world.at(Q1_AT + timedelta(seconds=1))
    assert world.texts() == ["Now: Question 1.\n\n#GCM #Pathways"]


def test_errors_until_the_window_closes_end_in_missed(world: World) -> None:
    world.x.inject_fault("500", times=100)
    for seconds in range(0, 360, 5):
        world.at(HELLO_AT + timedelta(seconds=seconds))
    assert world.draft("hello").state == S.MISSED
    assert world.texts() == []


def test_a_draft_left_in_posting_by_a_crash_is_posted_once(world: World) -> None:
    world.clock.set(HELLO_AT)
    world.dispatcher.claim(world.draft("hello").id)  # the process died right after claiming
    fresh = world.crash()
    fresh.reconcile_all()
    fresh.tick()
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM"]
    assert world.draft("hello").state == S.POSTED


def test_a_post_made_before_a_crash_is_recorded_not_repeated(world: World) -> None:
    world.clock.set(HELLO_AT)
    claimed = world.dispatcher.claim(world.draft("hello").id)
    assert claimed is not None
    world.publisher.post(claimed.draft.text)  # it went out; the process died before recording it
    fresh = world.crash()
    fresh.reconcile_all()
    fresh.tick()
    assert len(world.x.posts()) == 1
    assert world.draft("hello").tweet_id == world.x.posts()[0].id


# --- live corrections ------------------------------------------------------------------


def test_pause_stops_everything_not_yet_claimed(world: World) -> None:
    world.service.pause("alice", "speaker cancelled")
    world.at(HELLO_AT).at(HELLO_AT + timedelta(minutes=1))
    assert world.texts() == []
    world.service.resume("alice")
    world.at(HELLO_AT + timedelta(minutes=2))
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM"]


def test_shift_moves_unposted_posts(world: World) -> None:
    moved = world.service.shift(timedelta(minutes=7), "alice", from_segment="q1")
    assert [(before.slot, after.at - before.at) for before, after in moved] == [("q1", timedelta(minutes=7))]
    world.at(Q1_AT + timedelta(minutes=6))
    assert world.texts() == []
    world.at(Q1_AT + timedelta(minutes=7))
    assert world.texts() == ["Now: Question 1.\n\n#GCM #Pathways"]


def test_cue_says_a_segment_started_now(world: World) -> None:
    world.clock.set(T_1330 + timedelta(minutes=15 + 3))  # q1 was planned at 13:45; it starts at 13:48
    delta, _moved = world.service.cue("q1", "alice")
    assert delta == timedelta(minutes=3)
    assert world.draft("q1").at == Q1_AT + timedelta(minutes=3)
    assert world.draft("hello").at == HELLO_AT  # before the segment: unchanged


def test_a_shift_survives_reloading_the_schedule(world: World, tmp_path: Path) -> None:
    world.service.shift(timedelta(minutes=7), "alice", from_segment="q1")
    world.service.load(tmp_path / "schedules" / "demo.yaml", "auto")
    assert world.draft("q1").at == Q1_AT + timedelta(minutes=7)

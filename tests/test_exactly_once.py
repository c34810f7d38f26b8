"""Regression tests for the holes found in wave 1, one per behaviour, each named for it.

They drive the real store, ledger and dispatcher with real tweepy over HTTP to the simulated
X API, on clocks the test moves (the event's, and the machine's for the lease).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from livetweet.clock import FixedClock, RehearsalClock, SystemClock, call_timeout
from livetweet.dispatch import Dispatcher
from livetweet.draft import DraftState
from livetweet.errors import LiveControlError
from livetweet.inbox import Poller
from livetweet.service import InboxService, Service
from livetweet.store import LeaseHeld, LeaseLost

from .support.events import MINI_SCHEDULE
from .support.world import HELLO_AT, Q1_AT, T_1330, World

S = DraftState


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


class SpeedClock(FixedClock):
    """A test's event clock that a rehearsal would run at `speed` times real time."""

    def __init__(self, start, speed: float) -> None:  # type: ignore[no-untyped-def]
        super().__init__(start)
        self.speed = speed

    def from_real(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds * self.speed)


# --- 3. the sweep never acts on a copy it read earlier --------------------------------------


def test_a_stale_copy_does_not_bring_a_missed_draft_back(world: World) -> None:
    """Claim, 429 with a reset past the window -> missed; the sweep's older copy must not re-post it."""
    world.clock.set(HELLO_AT)
    stale = world.draft("hello")
    claim = world.dispatcher.claim(stale.id)
    assert claim is not None
    in_flight = world.draft("hello")  # what a sweep read a moment ago: posting
    world.x.inject_fault("429", reset_seconds=600)
    outcome = world.dispatcher.call(claim)
    assert outcome is not None
    world.dispatcher.record(claim, outcome)
    assert world.draft("hello").state == S.MISSED
    world.dispatcher.reconcile(in_flight)  # the sweep acting on its old reading
    assert world.draft("hello").state == S.MISSED
    assert world.texts() == []
    assert [n.what for n in world.notices][-1] == "skipped"


def test_a_stale_copy_of_a_posted_draft_raises_nothing_and_posts_nothing_more(world: World) -> None:
    world.at(HELLO_AT)
    posted = world.draft("hello")
    assert posted.state == S.POSTED
    world.dispatcher.reconcile(posted.__class__(**{**posted.__dict__, "state": S.POSTING}))
    assert world.draft("hello") == posted
    assert len(world.texts()) == 1


def test_the_dispatcher_never_moves_a_draft_out_of_missed_failed_rejected_or_posted() -> None:
    from livetweet.draft import ACTIONS, Actor

    for action in ACTIONS.values():
        if Actor.DISPATCHER in action.actors and action.name != "posted-anyway":
            assert not action.starts & {S.MISSED, S.FAILED, S.REJECTED, S.POSTED}, action.name


# --- 4. a run that lost its lease stops at once -------------------------------------------


def test_a_run_that_lost_its_lease_claims_nothing_and_calls_nothing(world: World) -> None:
    world.clock.set(HELLO_AT)
    old = world.dispatcher
    new = world.crash()  # the old run stalled past its lease; another took over
    old.tick()
    assert old.lost and "another run took over" in old.lost
    assert world.texts() == []
    refused = [e for e in world.store.audit() if e.action == "refused"]
    assert refused and "lost the lease" in (refused[0].reason or "")
    new.tick()
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM"]


def test_a_claim_made_before_the_takeover_is_not_sent_after_it(world: World) -> None:
    world.clock.set(HELLO_AT)
    claim = world.dispatcher.claim(world.draft("hello").id)
    assert claim is not None
    new = world.crash()
    assert world.dispatcher.call(claim) is None  # the old run's last word before X: it has lost
    assert world.texts() == []
    new.reconcile_all()  # the new run finds it left in posting, not on the account: approved again
    new.tick()  # and its first sweep posts it, once
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM"]
    assert world.draft("hello").claim_epoch == new.keeper.run.epoch


def test_a_post_that_went_out_before_the_takeover_is_recorded_whoever_records_it(world: World) -> None:
    world.clock.set(HELLO_AT)
    claim = world.dispatcher.claim(world.draft("hello").id)
    assert claim is not None
    outcome = world.dispatcher.call(claim)  # X stored it; the run stalls before recording
    new = world.crash()
    new.reconcile_all()  # found on the account
    assert outcome is not None
    world.dispatcher.record(claim, outcome)  # the old run wakes up with X's answer
    hello = world.draft("hello")
    assert (hello.state, hello.tweet_id) == (S.POSTED, world.x.posts()[0].id)
    assert len(world.texts()) == 1


def test_a_second_run_is_refused_while_the_first_is_alive(world: World) -> None:
    with pytest.raises(LeaseHeld, match="another `livetweet run` is posting from"):
        Dispatcher(world.service, world.publisher, "demo")


def test_each_takeover_raises_the_epoch(world: World) -> None:
    first = world.dispatcher.keeper.run.epoch
    second = world.crash().keeper.run.epoch
    third = world.crash().keeper.run.epoch
    assert first < second < third
    with pytest.raises(LeaseLost):
        world.dispatcher.keeper.renew()


# --- 5. the window is checked at the claim and again before the call ------------------------


def test_a_claim_after_the_window_is_refused(world: World) -> None:
    world.clock.set(HELLO_AT + timedelta(minutes=5, seconds=1))
    assert world.dispatcher.claim(world.draft("hello").id) is None
    assert world.draft("hello").state == S.APPROVED  # the sweep marks it missed, with the reason


def test_a_post_whose_window_closed_between_claim_and_call_is_not_sent(world: World) -> None:
    world.clock.set(HELLO_AT + timedelta(minutes=4, seconds=59))
    claim = world.dispatcher.claim(world.draft("hello").id)
    assert claim is not None
    world.clock.advance(timedelta(seconds=30))  # the claim waited for the write lock, say
    assert world.dispatcher.call(claim) is None
    assert world.texts() == []
    hello = world.draft("hello")
    assert hello.state == S.MISSED and "before it could be sent" in (hello.last_error or "")


# --- 6. one clock in a rehearsal ------------------------------------------------------------


def test_x_reset_in_real_seconds_becomes_event_time_at_60x(tmp_path: Path) -> None:
    w = World(tmp_path)
    try:
        w.clock = SpeedClock(T_1330, 60)
        w.service.clock = w.clock
        w.dispatcher = Dispatcher(w.service, w.publisher, "demo", keeper=w.dispatcher.keeper)
        w.x.inject_fault("429", reset_seconds=2)
        w.at(HELLO_AT)
        hello = w.draft("hello")
        assert hello.state == S.APPROVED  # not missed: 2 s of X's time is 2 minutes of the event's
        assert hello.next_attempt_at is not None
        assert timedelta(seconds=60) <= hello.next_attempt_at - HELLO_AT <= timedelta(seconds=120)
        w.at(hello.next_attempt_at)
        assert w.draft("hello").state == S.POSTED
    finally:
        w.close()


def test_a_429_on_messages_at_60x_waits_the_reset_on_the_event_clock(world: World) -> None:
    clock = SpeedClock(T_1330, 60)
    world.service.clock = clock
    world.x.inject_fault("429", route="GET /2/dm_events", reset_seconds=2)
    poller = Poller(lambda: InboxService(world.service).poll(world.publisher), clock, timedelta(minutes=1))
    result = poller.maybe_poll()
    assert result is not None and result.retry_at is not None
    assert timedelta(seconds=60) <= result.retry_at - T_1330 <= timedelta(seconds=120)


def test_a_call_timeout_is_in_event_time_so_it_stays_inside_a_window_at_60x() -> None:
    assert call_timeout(10, RehearsalClock(T_1330, 60)) == pytest.approx(0.5)  # 10 event s, floored at 0.5 s
    assert call_timeout(60, RehearsalClock(T_1330, 60)) == pytest.approx(1.0)
    assert call_timeout(10, SystemClock()) == 10.0


def test_a_rehearsal_clock_starts_when_it_is_restarted() -> None:
    clock = RehearsalClock(T_1330, 60, launched_at=T_1330 - timedelta(hours=1))  # "launched" an hour ago
    assert clock.now() > T_1330 + timedelta(hours=59)
    clock.restart()
    assert clock.now() - T_1330 < timedelta(seconds=30)


# --- 8. a reload keeps people's words -----------------------------------------------------------


def test_a_reload_keeps_an_operators_edit_and_says_how_to_take_the_schedules_text(tmp_path: Path) -> None:
    w = World(tmp_path, mode="approval")
    try:
        q1 = w.draft("q1")
        w.service.edit(q1.id, "Question one, in our words #GCM #Pathways", "bob")
        (tmp_path / "templates" / "question.j2").write_text("Coming up: {{ segment.title }}.")
        report = w.service.load(tmp_path / "schedules" / "demo.yaml")
        assert w.draft("q1").text == "Question one, in our words #GCM #Pathways"
        assert [(d.slot, why.split(";")[0]) for d, why in report.kept] == [("q1", "kept bob's text (revision 2, edit)")]
        assert "--replace-edits" in report.kept[0][1]
        w.service.load(tmp_path / "schedules" / "demo.yaml", replace_edits=True)
        assert w.draft("q1").text == "Coming up: Question 1.\n\n#GCM #Pathways"
    finally:
        w.close()


# --- 9. live corrections are sane ------------------------------------------------------------


def test_cue_without_a_live_run_refuses_rather_than_use_todays_date(world: World) -> None:
    offline = Service(world.store, world.clock, clock_is_live=False)
    with pytest.raises(LiveControlError, match=r"no `livetweet run` is posting from .* no event clock"):
        offline.cue("q1", "alice")
    assert world.draft("q1").at == Q1_AT


def test_cue_cannot_put_a_segment_before_the_one_it_follows(world: World) -> None:
    world.clock.set(T_1330 - timedelta(minutes=1))  # q1 "starting" before the opening
    with pytest.raises(LiveControlError, match=r"segment q1 would start at .* before segment opening"):
        world.service.cue("q1", "alice")
    assert world.draft("q1").at == Q1_AT


def test_a_shift_outside_the_posting_span_or_longer_than_the_event_is_refused(world: World) -> None:
    with pytest.raises(LiveControlError, match="more than the event lasts"):
        world.service.shift(timedelta(hours=2), "alice")
    with pytest.raises(LiveControlError, match="outside the event's posting span"):
        world.service.shift(timedelta(minutes=80), "alice")
    assert world.draft("hello").at == HELLO_AT


def test_a_shift_cannot_move_posts_before_an_earlier_segments_post_already_out(world: World) -> None:
    world.x.inject_fault("503")
    world.at(HELLO_AT).at(HELLO_AT + timedelta(minutes=4))  # hello (segment opening) went out late, at 13:35
    assert world.draft("hello").state == S.POSTED
    out = "before hello of the earlier segment opening, already out at 2020-11-12 13:35:00 CET"
    with pytest.raises(LiveControlError, match=out):
        world.service.shift(-timedelta(minutes=15), "alice", from_segment="q1")  # q1 would post at 13:32


def test_a_shift_lists_every_moved_post_with_its_old_and_new_time(world: World) -> None:
    moved = world.service.shift(timedelta(minutes=3), "alice")
    assert [(b.slot, b.at, a.at) for b, a in moved] == [
        ("hello", HELLO_AT, HELLO_AT + timedelta(minutes=3)),
        ("q1", Q1_AT, Q1_AT + timedelta(minutes=3)),
    ]


# --- 10. a 401 costs no draft -------------------------------------------------------------------


def test_a_401_pauses_keeps_the_draft_approved_and_resume_checks_the_credentials(world: World) -> None:
    world.x.inject_fault("401")
    world.at(HELLO_AT)
    hello = world.draft("hello")
    assert hello.state == S.APPROVED and "401" in (hello.last_error or "")
    assert world.service.paused().kind == "credentials"  # type: ignore[union-attr]
    with pytest.raises(LiveControlError, match="checks them against X first"):
        world.service.resume("alice")  # no check given: refused

    def still_refused() -> str:
        from livetweet.publishers.base import PublisherError

        raise PublisherError("HTTP 401: Unauthorized")

    for _ in range(3):
        with pytest.raises(LiveControlError, match=r"X still refuses the credentials .* nothing was resumed"):
            world.service.resume("alice", verify=still_refused)
    assert world.draft("hello").state == S.APPROVED  # each refused resume cost nothing
    world.service.resume("alice", verify=world.publisher.check)
    world.at(HELLO_AT + timedelta(minutes=1))
    assert world.draft("hello").state == S.POSTED


# --- 11. work proportional to what is due ---------------------------------------------------------


def _statements(world: World, act) -> int:  # type: ignore[no-untyped-def]
    count = 0

    def seen(*_args: object) -> None:
        nonlocal count
        count += 1

    sa.event.listen(world.store.engine, "before_cursor_execute", seen)
    try:
        act()
    finally:
        sa.event.remove(world.store.engine, "before_cursor_execute", seen)
    return count


def _many(n: int) -> str:
    head = MINI_SCHEDULE.split("slots:\n")[0]
    return head + "slots:\n" + "".join(
        f"  - id: s{i}\n    template: many\n    at: q1.start + {i % 60}m\n    vars:\n      n: {i}\n" for i in range(n)
    )


@pytest.mark.parametrize("n", [10, 300])
def test_a_quiet_sweep_and_is_it_over_cost_the_same_whatever_the_number_of_drafts(tmp_path: Path, n: int) -> None:
    from .support.events import write_event

    w = World(tmp_path)
    try:
        templates = {"many.j2": "Post {{ slot.vars.n }}", "hello.j2": "x", "question.j2": "y"}
        path = write_event(tmp_path, _many(n), templates)
        w.service.load(path, "auto")
        w.clock.set(T_1330)  # nothing due yet
        w.dispatcher.finished()  # the event's end is read once
        assert _statements(w, w.dispatcher.tick) <= 4
        assert _statements(w, w.dispatcher.finished) <= 2
    finally:
        w.close()


# --- found by an adversarial review ---------------------------------------------------------------


def test_a_5xx_after_x_stored_the_post_is_looked_up_not_sent_again(world: World) -> None:
    world.x.inject_fault("503-after-store")
    world.at(HELLO_AT).at(HELLO_AT + timedelta(seconds=5))
    hello = world.draft("hello")
    assert (hello.state, hello.tweet_id) == (S.POSTED, world.x.posts()[0].id)
    posts = [o for r, o in world.x.state.requests if r == "POST /2/tweets"]
    assert len(posts) == 1, world.x.state.requests  # found by the look-up: never sent a second time


def test_a_reload_in_auto_mode_does_not_approve_a_draft_an_operator_held(world: World, tmp_path: Path) -> None:
    world.service.unapprove(world.draft("hello").id, "alice")
    (tmp_path / "templates" / "hello.j2").write_text("Welcome, all, to {{ event.title }}!")
    world.service.load(tmp_path / "schedules" / "demo.yaml", "auto")
    assert world.draft("hello").state == S.PENDING
    world.at(HELLO_AT)
    assert world.texts() == []


def test_a_shift_does_not_reopen_a_window_that_has_closed(tmp_path: Path) -> None:
    w = World(tmp_path, mode="approval")
    try:
        w.service.approve(w.draft("hello").id, "alice")
        w.clock.set(HELLO_AT + timedelta(minutes=9))  # its window closed at 13:36; no sweep ran since
        moved = w.service.shift(timedelta(minutes=10), "bob")
        assert "hello" not in [after.slot for _, after in moved]
        w.at(HELLO_AT + timedelta(minutes=9, seconds=1))
        assert (w.draft("hello").state, w.texts()) == (S.MISSED, [])
    finally:
        w.close()


def test_a_clock_step_does_not_make_the_only_run_give_up(world: World) -> None:
    world.wall.advance(timedelta(seconds=60))  # NTP stepped the clock; nobody took the lease over
    world.at(HELLO_AT)
    assert world.dispatcher.lost is None
    assert world.texts() == ["Welcome to Demo event!\n\n#GCM"]

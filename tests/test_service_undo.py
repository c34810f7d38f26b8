"""The console's safety nets, in the service: a hold before a person's post reaches X and its
undo (cancel), bringing back a rejected draft or a dismissed message, previews of shift and
cue that change nothing, and composing (a time already past, a reply in a thread).

Real SQLite stores on a clock the test moves; the posting tests use the simulated X over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livetweet.clock import FixedClock
from livetweet.draft import ACTIONS, Actor, Conflict, DraftState, IllegalMove, NotAllowed, actions_for, check_action
from livetweet.errors import EventError, InboxError, LiveControlError
from livetweet.inbox import IncomingMessage
from livetweet.service import InboxService, Service, compose_draft
from livetweet.service.ledger import NotDue
from livetweet.store import Store

from .support.events import write_event
from .support.world import HELLO_AT, Q1_AT, T_1330, World, posting_run

S = DraftState
HOLD = timedelta(seconds=10)
WINDOW = timedelta(minutes=5)  # the schedule's default window


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The small event loaded for approval, at 13:30 CET (hello is due at 13:31, q1 at 13:47)."""
    store = Store(f"sqlite:///{tmp_path / 'livetweet.db'}")
    service = Service(store, FixedClock(T_1330))
    service.load(write_event(tmp_path))
    yield service
    store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The small event approved by auto mode, posted by a dispatcher to the simulated X."""
    w = World(tmp_path)
    yield w
    w.close()


def draft_id(service: Service, slot: str) -> int:
    return next(d.id for d in service.queue() if d.slot == slot)


def clock(service: Service) -> FixedClock:
    assert isinstance(service.clock, FixedClock)
    return service.clock


def everything(service: Service) -> tuple[object, ...]:
    """All an operator could see change: drafts, audit, shifts, the console's change marker."""
    event_id = service.resolve_event()
    return (service.queue(), service.store.audit(), service.store.shifts(event_id), service.store.change_marker())


# --- the table ---------------------------------------------------------------------------------


def test_cancel_and_unreject_are_a_persons_actions_in_the_table() -> None:
    assert "cancel" in actions_for(S.APPROVED) and "unreject" in actions_for(S.REJECTED)
    assert "cancel" not in actions_for(S.POSTING) and "unreject" not in actions_for(S.MISSED)
    assert (ACTIONS["cancel"].leads_to, ACTIONS["unreject"].leads_to) == (S.PENDING, S.PENDING)
    with pytest.raises(NotAllowed):
        check_action(1, S.APPROVED, "cancel", Actor.DISPATCHER)
    with pytest.raises(IllegalMove, match="draft 1 is posting: it cannot be called back"):
        check_action(1, S.POSTING, "cancel", Actor.OPERATOR)


# --- post now, after a hold ------------------------------------------------------------------


def test_post_now_without_a_hold_is_due_at_once(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    posted = service.post_now(hello.id, "alice")
    assert (posted.state, posted.at, posted.valid_until) == (S.APPROVED, T_1330, T_1330 + WINDOW)


def test_post_now_with_a_hold_is_due_when_the_hold_runs_out_with_the_window_it_had(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    held = service.post_now(hello.id, "alice", hold=HOLD)
    assert (held.at, held.valid_until) == (T_1330 + HOLD, T_1330 + HOLD + WINDOW)
    assert service.held_until(hello.id) == T_1330 + HOLD
    with pytest.raises(NotDue, match="not due yet"):
        posting_run(service).claim(hello.id)


def test_cancel_during_the_hold_keeps_the_words_and_gives_back_the_time_it_had(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    held = service.post_now(hello.id, "alice", hold=HOLD)
    clock(service).advance(timedelta(seconds=9))
    back = service.cancel_post(hello.id, "alice", held.version)
    assert (back.state, back.text, back.revision) == (S.PENDING, hello.text, hello.revision)
    assert (back.at, back.valid_until) == (HELLO_AT, HELLO_AT + WINDOW)  # 13:31 is still ahead
    assert (back.approved_by, back.approved_revision) == (None, None)
    last = service.history(hello.id)[-1]
    assert (last.action, last.operator, last.from_state, last.to_state) == ("cancel", "alice", "approved", "pending")
    assert service.held_until(hello.id) is None


def test_a_cancelled_post_is_not_claimed_when_its_hold_would_have_run_out(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    service.post_now(hello.id, "alice", hold=HOLD)
    service.cancel_post(hello.id, "alice")
    clock(service).set(HELLO_AT + timedelta(seconds=1))
    with pytest.raises(NotDue, match="is pending, not approved"):
        posting_run(service).claim(hello.id)


def test_cancel_keeps_the_post_now_time_when_the_old_one_has_passed(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    late = HELLO_AT + timedelta(minutes=2)  # inside its window, its time passed
    clock(service).set(late)
    held = service.post_now(hello.id, "alice", hold=HOLD)
    back = service.cancel_post(hello.id, "alice")
    assert (back.state, back.at, back.valid_until) == (S.PENDING, held.at, held.valid_until)


def test_cancel_is_refused_once_the_hold_has_run_out(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    service.post_now(hello.id, "alice", hold=HOLD)
    clock(service).advance(HOLD)
    with pytest.raises(IllegalMove, match=r"the hold of draft \d+ ran out at 2020-11-12 13:30:10 CET: it is going out"):
        service.cancel_post(hello.id, "alice")
    assert service.show(hello.id).state == S.APPROVED


def test_cancel_is_refused_for_a_draft_no_person_sent_now(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    with pytest.raises(IllegalMove, match="was not sent by a post-now or a composed post: there is nothing to call"):
        service.cancel_post(hello.id, "alice")
    pending = draft_id(service, "q1")
    with pytest.raises(IllegalMove, match="is pending: there is nothing to call back"):
        service.cancel_post(pending, "alice")
    assert service.held_until(hello.id) is None


def test_cancel_is_refused_once_the_run_has_claimed_the_post_or_posted_it(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    service.post_now(hello.id, "alice", hold=HOLD)
    clock(service).advance(HOLD)
    run = posting_run(service)
    claim = run.claim(hello.id)
    with pytest.raises(IllegalMove, match=r"is going out now .*the posting run has taken it"):
        service.cancel_post(hello.id, "alice")
    run.posted(hello.id, claim.draft.version, "1234")
    with pytest.raises(IllegalMove, match=r"went out at 2020-11-12 13:30:10 CET: it can no longer be called back"):
        service.cancel_post(hello.id, "alice")
    assert service.show(hello.id).state == S.POSTED


def test_cancel_from_a_page_that_is_out_of_date_changes_nothing(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    held = service.post_now(hello.id, "alice", hold=HOLD)
    with pytest.raises(Conflict, match="changed since you looked at it"):
        service.cancel_post(hello.id, "bob", held.version - 1)
    assert service.show(hello.id) == held


def test_cancel_is_refused_after_the_post_was_moved_in_time(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    service.post_now(hello.id, "alice", hold=HOLD)
    service.shift(timedelta(minutes=1), "bob")
    with pytest.raises(IllegalMove, match="was not sent by a post-now"):
        service.cancel_post(hello.id, "alice")


def test_post_now_after_the_hold_reaches_x_once_and_a_cancelled_one_never(world: World) -> None:
    hello, q1 = world.draft("hello"), world.draft("q1")
    world.service.post_now(hello.id, "alice", hold=HOLD)
    world.service.post_now(q1.id, "bob", hold=HOLD)
    world.at(T_1330 + timedelta(seconds=5))
    assert world.x.posts() == []  # the hold is not over
    world.service.cancel_post(q1.id, "bob")
    world.at(T_1330 + HOLD)
    world.at(T_1330 + HOLD + timedelta(seconds=1))
    assert world.texts() == [hello.text]
    assert (world.draft("hello").state, world.draft("q1").state) == (S.POSTED, S.PENDING)


# --- compose now, after a hold ----------------------------------------------------------------


def test_compose_now_with_a_hold_is_due_after_it_and_can_be_called_back(service: Service) -> None:
    draft, _ = compose_draft(service, "The panel starts", "alice", hold=HOLD)
    assert (draft.state, draft.at, draft.approved_by) == (S.APPROVED, T_1330 + HOLD, "alice")
    assert service.held_until(draft.id) == T_1330 + HOLD
    back = service.cancel_post(draft.id, "alice", draft.version)
    assert (back.state, back.text) == (S.PENDING, "The panel starts\n\n#GCM")


def test_a_post_composed_for_later_is_not_called_back_by_cancel(service: Service) -> None:
    later, _ = compose_draft(service, "At two", "alice", at=T_1330 + timedelta(minutes=30))
    with pytest.raises(IllegalMove, match="was not sent by a post-now or a composed post"):
        service.cancel_post(later.id, "alice")


def test_compose_without_approval_saves_a_pending_draft_due_now(service: Service) -> None:
    draft, _ = compose_draft(service, "Saved for later", "alice", approve=False, hold=HOLD)
    assert (draft.state, draft.at, draft.approved_by) == (S.PENDING, T_1330, None)


# --- compose: a time already past, a reply ---------------------------------------------------


def test_compose_refuses_a_time_already_past_naming_it_with_its_zone(service: Service) -> None:
    before = len(service.queue())
    with pytest.raises(EventError, match=r"2020-11-12 13:20:00 CET has passed \(it is 2020-11-12 13:30:00 CET\)"):
        compose_draft(service, "Too late", "alice", at=T_1330 - timedelta(minutes=10))
    assert len(service.queue()) == before


def test_compose_takes_a_time_typed_as_now_a_moment_ago(service: Service) -> None:
    draft, _ = compose_draft(service, "Just now", "alice", at=T_1330 - timedelta(milliseconds=900))
    assert draft.at == T_1330 - timedelta(milliseconds=900)


def test_without_a_run_there_is_no_event_clock_to_refuse_a_past_time_by(service: Service) -> None:
    offline = Service(service.store, service.clock, clock_is_live=False)
    draft, _ = compose_draft(offline, "For the rehearsal", "alice", at=T_1330 - timedelta(minutes=10))
    assert draft.at == T_1330 - timedelta(minutes=10)


def test_a_composed_reply_to_a_posted_post_goes_out_as_a_reply_to_it(world: World) -> None:
    world.at(HELLO_AT)
    hello = world.draft("hello")
    assert hello.state == S.POSTED
    reply, _ = compose_draft(world.service, "Slides are online", "alice", reply_to=hello.id)
    assert (reply.reply_to, reply.at) == ("hello", HELLO_AT)
    world.at(HELLO_AT + timedelta(seconds=1))
    tweet = next(t for t in world.x.posts() if t.text.startswith("Slides are online"))
    assert tweet.in_reply_to == hello.tweet_id
    assert world.store.get(reply.id).tweet_id == tweet.id


def test_a_composed_reply_to_a_planned_post_goes_out_after_it_as_a_reply(world: World) -> None:
    q1 = world.draft("q1")
    reply, _ = compose_draft(world.service, "Ask your question below", "alice", reply_to=q1.id, hold=HOLD)
    assert (reply.reply_to, reply.at, reply.segment) == ("q1", Q1_AT, "q1")  # never before its parent
    world.at(T_1330 + HOLD)
    assert not any(t.text.startswith("Ask") for t in world.x.posts())
    world.at(Q1_AT)
    posts = world.x.posts()
    parent = next(t for t in posts if t.id == world.draft("q1").tweet_id)
    child = next(t for t in posts if t.text.startswith("Ask your question below"))
    assert child.in_reply_to == parent.id
    assert posts.index(parent) < posts.index(child)


def test_a_reply_to_a_post_that_will_never_go_out_is_refused(service: Service) -> None:
    rejected = service.reject(draft_id(service, "q1"), "bob")
    with pytest.raises(EventError, match=r"is rejected and will not be posted, so a reply to it could never go out"):
        compose_draft(service, "A reply", "alice", reply_to=rejected.id)
    with pytest.raises(EventError, match="there is no draft 999 to reply to"):
        compose_draft(service, "A reply", "alice", reply_to=999)
    assert not [d for d in service.queue() if d.source == "compose"]


# --- bring back a rejected draft -----------------------------------------------------------


def test_a_rejected_draft_comes_back_pending_to_be_approved_again(service: Service) -> None:
    hello = service.approve(draft_id(service, "hello"), "alice")
    rejected = service.reject(hello.id, "bob", "wrong tone")
    back = service.restore(hello.id, "bob", rejected.version)
    assert (back.state, back.text, back.approved_by) == (S.PENDING, hello.text, None)
    assert service.history(hello.id)[-1].action == "unreject"
    assert service.approve(hello.id, "alice").state == S.APPROVED


def test_a_rejected_draft_whose_window_closed_stays_rejected(service: Service) -> None:
    hello = service.reject(draft_id(service, "hello"), "bob")
    clock(service).set(hello.valid_until + timedelta(seconds=1))
    with pytest.raises(IllegalMove, match=r"window closed at 2020-11-12 13:36:00 CET: it stays rejected"):
        service.restore(hello.id, "bob")
    assert service.show(hello.id).state == S.REJECTED


def test_only_a_rejected_draft_can_be_brought_back(service: Service) -> None:
    with pytest.raises(IllegalMove, match="is pending: only a rejected draft can be brought back"):
        service.restore(draft_id(service, "hello"), "bob")


def test_a_rejected_draft_is_not_brought_back_as_a_duplicate_of_a_newer_one(service: Service) -> None:
    hello = service.reject(draft_id(service, "hello"), "bob")
    twin, _ = compose_draft(service, "Welcome to Demo event!", "alice")
    assert twin.text == hello.text
    with pytest.raises(IllegalMove, match=rf"draft {twin.id} .* now has the same text"):
        service.restore(hello.id, "bob")


def test_restore_from_a_page_that_is_out_of_date_changes_nothing(service: Service) -> None:
    rejected = service.reject(draft_id(service, "hello"), "bob")
    with pytest.raises(Conflict):
        service.restore(rejected.id, "carol", rejected.version - 1)
    assert service.show(rejected.id).state == S.REJECTED


# --- bring back a dismissed message ----------------------------------------------------------


def test_a_dismissed_message_comes_back_new_and_audited(service: Service) -> None:
    inbox = InboxService(service)
    when = datetime(2020, 11, 12, 12, 20, tzinfo=UTC)
    inbox.keep([IncomingMessage("1001", "Great panel!", "42", "speaker_one", when, "c1")])
    message = inbox.messages()[0]
    inbox.dismiss(message.id, "alice")
    back = inbox.restore(message.id, "bob")
    assert back.state == "new"
    assert [m.id for m in inbox.messages()] == [message.id]
    last = service.store.audit()[-1]
    assert (last.action, last.operator, last.detail["message"]) == ("undismiss", "bob", message.id)
    with pytest.raises(InboxError, match=f"message {message.id} is new, not dismissed: there is nothing to undo"):
        inbox.restore(message.id, "bob")


# --- previews that change nothing ------------------------------------------------------------


def test_preview_shift_shows_what_shift_does_and_changes_nothing(service: Service) -> None:
    service.approve(draft_id(service, "q1"), "alice")
    before = everything(service)
    preview = service.preview_shift(timedelta(minutes=5), "q1")
    assert everything(service) == before
    assert [(b.slot, a.at - b.at, a.valid_until - b.valid_until) for b, a in preview] == [
        ("q1", timedelta(minutes=5), timedelta(minutes=5))
    ]
    done = service.shift(timedelta(minutes=5), "bob", "q1")
    assert [(b, a.at, a.valid_until) for b, a in preview] == [(b, a.at, a.valid_until) for b, a in done]


def test_preview_shift_is_refused_as_shift_is_and_leaves_no_trace(service: Service) -> None:
    before = everything(service)
    with pytest.raises(LiveControlError) as previewed:
        service.preview_shift(timedelta(minutes=80))
    with pytest.raises(LiveControlError) as shifted:
        service.shift(timedelta(minutes=80), "bob")
    assert str(previewed.value) == str(shifted.value)
    assert "outside the event's posting span" in str(previewed.value)
    with pytest.raises(EventError, match='there is no segment "q9"'):
        service.preview_shift(timedelta(minutes=1), "q9")
    assert everything(service) == before


def test_preview_cue_says_how_late_the_segment_is_and_changes_nothing(service: Service) -> None:
    clock(service).set(T_1330 + timedelta(minutes=20))  # q1 was to start at 13:45; it starts at 13:50
    before = everything(service)
    delta, preview = service.preview_cue("q1")
    assert everything(service) == before
    assert (delta, [(b.slot, a.at) for b, a in preview]) == (timedelta(minutes=5), [("q1", Q1_AT + delta)])
    cued, done = service.cue("q1", "bob")
    assert (cued, [a.at for _, a in done]) == (delta, [a.at for _, a in preview])


def test_preview_cue_without_a_run_is_refused_as_cue_is(service: Service) -> None:
    offline = Service(service.store, service.clock, clock_is_live=False)
    with pytest.raises(LiveControlError, match="no event clock") as previewed:
        offline.preview_cue("q1")
    with pytest.raises(LiveControlError) as cued:
        offline.cue("q1", "bob")
    assert str(previewed.value) == str(cued.value)
    with pytest.raises(EventError, match='there is no segment "q9"'):
        service.preview_cue("q9")


def test_a_reload_in_auto_mode_does_not_approve_a_post_a_person_called_back(world: World, tmp_path: Path) -> None:
    hello = world.draft("hello")
    world.service.post_now(hello.id, "alice", hold=HOLD)
    world.service.cancel_post(hello.id, "alice")
    (tmp_path / "templates" / "hello.j2").write_text("Welcome, all, to {{ event.title }}!")
    world.service.load(tmp_path / "schedules" / "demo.yaml", "auto")
    assert world.draft("hello").state == S.PENDING  # the person's call back stands
    world.at(HELLO_AT + timedelta(seconds=30))
    assert world.texts() == []

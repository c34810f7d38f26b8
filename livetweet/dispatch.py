"""Dispatching: which drafts are due, claim them, post them, record what happened.

`Dispatcher.tick()` is one complete pass and is what tests drive with a fixed clock.
`Runner` puts it on APScheduler 3: a date job per approved draft (rebuilt from the store
whenever the store changes) and a sweep every second as a safety net. The store is the
truth; APScheduler's jobs are in memory only and rebuilt from it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from .clock import Clock
from .draft import FINAL, Draft, DraftError, DraftState
from .inbox import Poller, PollResult
from .publishers.base import Outcome, OutcomeUnknown, Posted, Publisher, PublisherError, Refused, RetryLater
from .service import Service

S = DraftState
RETRY_BASE = timedelta(seconds=5)
RETRY_MAX = timedelta(minutes=1)
LOOK_AGAIN = timedelta(seconds=10)


@dataclass(frozen=True)
class Notice:
    """One thing the dispatcher did, for the operator's screen."""

    draft: Draft
    what: str  # posted, retry, unknown, failed, missed, waiting, halted
    detail: str


class Dispatcher:
    """Posts due drafts of one event through one publisher, exactly once."""

    def __init__(
        self,
        service: Service,
        publisher: Publisher,
        event_id: str,
        on_notice: Callable[[Notice], None] = lambda r: None,
    ) -> None:
        self.service = service
        self.store = service.store
        self.clock: Clock = service.clock
        self.publisher = publisher
        self.event_id = event_id
        self.on_notice = on_notice
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._waiting_reported: set[int] = set()

    # --- one pass ------------------------------------------------------------------

    def tick(self) -> None:
        """Handle everything due now: missed windows, leftovers in posting, due posts."""
        now = self.clock.now()
        drafts = self.store.drafts(event_id=self.event_id)
        by_slot = {d.slot: d for d in drafts}
        paused = self.store.paused() is not None
        for draft in drafts:
            if draft.id in self._in_flight:
                continue
            if draft.state == S.POSTING:
                if draft.next_attempt_at is None or draft.next_attempt_at <= now:
                    self._reconcile(draft)
            elif draft.state == S.PENDING and now > draft.valid_until:
                self._missed(draft, "nobody approved it before its window closed")
            elif draft.state == S.APPROVED:
                if now > draft.valid_until:
                    why = "posting was paused" if paused else "it could not go out in time"
                    self._missed(draft, f"its window closed at {self._hm(draft.valid_until)} ({why})")
                elif not paused and draft.at <= now and (draft.next_attempt_at is None or draft.next_attempt_at <= now):
                    self.dispatch(draft.id, by_slot)

    def dispatch(self, draft_id: int, by_slot: dict[str, Draft] | None = None) -> None:
        """Post one draft if it is due, approved, its parent posted, and posting not paused."""
        with self._lock:
            if draft_id in self._in_flight:
                return
            self._in_flight.add(draft_id)
        try:
            self._dispatch(draft_id, by_slot)
        finally:
            with self._lock:
                self._in_flight.discard(draft_id)

    def _dispatch(self, draft_id: int, by_slot: dict[str, Draft] | None) -> None:
        draft = self.store.get(draft_id)
        now = self.clock.now()
        if draft.state != S.APPROVED or draft.at > now:
            return
        if draft.next_attempt_at is not None and draft.next_attempt_at > now:
            return
        if now > draft.valid_until:
            self._missed(draft, f"its window closed at {self._hm(draft.valid_until)}")
            return
        parent_id: str | None = None
        if draft.reply_to:
            slots = by_slot if by_slot is not None else {d.slot: d for d in self.store.drafts(event_id=self.event_id)}
            parent = slots.get(draft.reply_to)
            if parent is None or parent.state != S.POSTED or not parent.tweet_id:
                if draft.id not in self._waiting_reported:
                    self._waiting_reported.add(draft.id)
                    state = parent.state.value if parent else "gone"
                    self._notice(draft, "waiting", f"waits for {draft.reply_to} to be posted (it is {state})")
                return
            parent_id = parent.tweet_id
        try:
            claimed = self.service.claim(draft.id)
        except DraftError:
            return  # paused, changed meanwhile, or claimed by someone else: nothing to do
        self._handle(claimed, self.publisher.post(claimed.text, parent_id))

    # --- outcomes ---------------------------------------------------------------------

    def _handle(self, draft: Draft, outcome: Outcome) -> None:
        now = self.clock.now()
        if isinstance(outcome, Posted):
            posted = self.service.record_posted(draft.id, outcome.tweet_id)
            lag = (now - draft.at).total_seconds()
            self._notice(posted, "posted", f"tweet {outcome.tweet_id}, {lag:.1f} s after its time")
            self._release_replies(posted)
        elif isinstance(outcome, RetryLater):
            backoff = min(RETRY_BASE * (2 ** max(draft.attempts - 1, 0)), RETRY_MAX)
            when = max(outcome.not_before or now + backoff, now)
            if when > draft.valid_until:
                self._missed(
                    self.service.record_retry(draft.id, outcome.reason, when),
                    f"{outcome.reason}; the next try ({self._hm(when)}) would be past its window",
                )
                return
            retry = self.service.record_retry(draft.id, outcome.reason, when)
            self._notice(retry, "retry", f"{outcome.reason}; trying again at {self._hm(when)}")
        elif isinstance(outcome, OutcomeUnknown):
            self._notice(draft, "unknown", f"{outcome.reason}; looking for it on the account")
            self._reconcile(self.store.get(draft.id), reason=outcome.reason)
        elif isinstance(outcome, Refused):
            failed = self.service.record_failed(draft.id, outcome.reason)
            self._notice(failed, "failed", outcome.reason)
            if outcome.halt:
                self.service.pause("dispatcher", f"X refused our credentials: {outcome.reason}")
                self._notice(failed, "halted", "posting is paused: fix the credentials, then `livetweet resume`")

    def _release_replies(self, parent: Draft) -> None:
        """Replies that were only waiting for this post go out now, not at the next sweep."""
        now = self.clock.now()
        for child in self.store.drafts(event_id=self.event_id, states=[S.APPROVED]):
            if child.reply_to == parent.slot and child.at <= now:
                self.dispatch(child.id)

    def _reconcile(self, draft: Draft, reason: str | None = None) -> None:
        """A draft in posting whose outcome is unknown: find it on the account, or try again."""
        since = (draft.claimed_at or draft.at) - timedelta(minutes=1)
        now = self.clock.now()
        try:
            tweet_id = self.publisher.find_post(draft.text, since)
        except PublisherError as exc:
            note = self.service.record_unknown(draft.id, str(exc), now + LOOK_AGAIN)
            self._notice(note, "unknown", f"{exc}; looking again at {self._hm(now + LOOK_AGAIN)}")
            return
        if tweet_id is not None:
            found = self.service.record_posted(draft.id, tweet_id, how="reconciled")
            self._notice(found, "posted", f"found on the account as tweet {tweet_id} (it had gone out)")
            self._release_replies(found)
            return
        why = reason or "it was being posted when livetweet stopped"
        if now > draft.valid_until:
            retry = self.service.record_retry(draft.id, f"{why}; not on the account", now)
            self._missed(retry, f"{why}; it is not on the account and its window has closed")
            return
        retry = self.service.record_retry(draft.id, f"{why}; not on the account", now)
        self._notice(retry, "retry", f"{why}; it is not on the account, so it will be posted")
        self.dispatch(retry.id)

    def _missed(self, draft: Draft, reason: str) -> None:
        try:
            missed = self.service.mark_missed(draft.id, reason)
        except DraftError:
            return
        self._notice(missed, "missed", f"{reason}: `livetweet post-now {draft.id}` posts it anyway")

    # --- for the runner -----------------------------------------------------------

    def reconcile_all(self) -> None:
        """At start: settle every draft a crash left in posting before anything else."""
        for draft in self.store.drafts(event_id=self.event_id, states=[S.POSTING]):
            self._reconcile(draft)

    def finished(self) -> bool:
        """Every draft is final and the event is over."""
        event = self.store.event(self.event_id)
        drafts = self.store.drafts(event_id=self.event_id)
        over = event is not None and self.clock.now() > max([event["ends_at"], *(d.valid_until for d in drafts)])
        return over and all(d.state in FINAL for d in drafts)

    def _notice(self, draft: Draft, what: str, detail: str) -> None:
        self.on_notice(Notice(draft, what, detail))

    def _hm(self, when: datetime) -> str:
        return when.astimezone(self.service.zone(self.event_id)).strftime("%H:%M:%S %Z")


class Runner:
    """Drives a Dispatcher with APScheduler 3 until the event is over or it is stopped."""

    def __init__(self, dispatcher: Dispatcher, sweep_seconds: float = 1.0, watch_seconds: float = 0.25) -> None:
        self.dispatcher = dispatcher
        self.clock = dispatcher.clock
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(8)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.sweep_seconds = sweep_seconds
        self.watch_seconds = watch_seconds
        self._planned: dict[int, datetime] = {}
        self.stopped = threading.Event()

    def real_time(self, when: datetime) -> datetime:
        """The machine's time at which the (possibly fast) clock shows `when`."""
        seconds = self.clock.real_seconds(when - self.clock.now())
        return datetime.now(UTC) + timedelta(seconds=max(seconds, 0.0))

    def sync_jobs(self) -> None:
        """One date job per approved draft at its due time; rebuilt when the store changes."""
        wanted: dict[int, datetime] = {}
        for draft in self.dispatcher.store.drafts(event_id=self.dispatcher.event_id, states=[S.APPROVED]):
            due = max(draft.at, draft.next_attempt_at or draft.at)
            wanted[draft.id] = due
        for draft_id in set(self._planned) - set(wanted):
            job = self.scheduler.get_job(f"draft-{draft_id}")
            if job:
                job.remove()
            del self._planned[draft_id]
        for draft_id, due in wanted.items():
            if self._planned.get(draft_id) == due:
                continue  # planned already (a fired job is not planned again: the sweep follows up)
            self._planned[draft_id] = due
            self.scheduler.add_job(
                self.dispatcher.dispatch,
                "date",
                run_date=self.real_time(due),
                args=[draft_id],
                id=f"draft-{draft_id}",
                replace_existing=True,
            )

    def next_due(self) -> tuple[Draft, datetime] | None:
        drafts = self.dispatcher.store.drafts(event_id=self.dispatcher.event_id, states=[S.APPROVED])
        upcoming = [(d, max(d.at, d.next_attempt_at or d.at)) for d in drafts]
        return min(upcoming, key=lambda x: x[1]) if upcoming else None

    def poll_messages(self, poller: Poller, on_poll: Callable[[PollResult], None]) -> None:
        """Fetch direct messages through the dispatcher's publisher while the event runs."""
        self.scheduler.add_job(
            lambda: _report_poll(poller.maybe_poll(), on_poll), "interval", seconds=self.watch_seconds, id="dm-poll"
        )

    def keep_alive(self, renew: Callable[[], None], seconds: float = 3.0) -> None:
        """Renew this run's lease on the store every few seconds."""
        self.scheduler.add_job(renew, "interval", seconds=seconds, id="lease")

    def start(self) -> None:
        self.dispatcher.reconcile_all()
        self.sync_jobs()
        self.scheduler.add_job(
            self.dispatcher.tick, "interval", seconds=self.sweep_seconds, id="sweep", next_run_time=datetime.now(UTC)
        )
        self.scheduler.add_job(self.sync_jobs, "interval", seconds=self.watch_seconds, id="watch")
        self.scheduler.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def wait(self, on_idle: Callable[[], None] = lambda: None, poll: float = 0.2) -> bool:
        """Block until the event is over (True) or stop() was called (False)."""
        while not self.stopped.wait(poll):
            on_idle()
            if self.dispatcher.finished():
                return True
        return False


def _report_poll(result: PollResult | None, on_poll: Callable[[PollResult], None]) -> None:
    if result is not None:
        on_poll(result)

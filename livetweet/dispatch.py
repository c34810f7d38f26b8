"""Dispatching: which drafts are due, claim them, post them, record what happened.

A post is four steps, each its own call so that tests can interleave other actors at every
point: `claim` (one transaction that checks every rule), `call` (the lease and the window
checked again, then the network: the draft's images uploaded, the lease and the window
checked once more, the post), `record` (the outcome, compare-and-set on the claim's
version). An upload that fails is recorded as a post that failed before it was sent (a
retry inside the window, or missed); an image uploaded once is not uploaded again for the
next try unless X's media id has expired (or X says it no longer knows it).
`Dispatcher.tick()` is one sweep over what is due or in flight, and is what tests drive
with a fixed clock. `Runner` puts it on APScheduler 3: a date job per approved draft
(kept in step with the store's changes) and a sweep every second as a safety net. The store
is the truth; APScheduler's jobs are in memory only.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from .clock import Clock, window_end
from .draft import Conflict, Draft, DraftError, DraftState
from .inbox import Poller, PollResult
from .publishers.base import (
    Outcome,
    OutcomeUnknown,
    Posted,
    Publisher,
    PublisherError,
    Refused,
    RetryLater,
    Uploaded,
    UploadOutcome,
)
from .service import Service
from .service.ledger import Claim, Ledger, NotDue, Run
from .store import DEFAULT_ACCOUNT, LEADER_PING_SECONDS, RUNNER_STALE_SECONDS, Leadership, LeaseLost, Store

log = logging.getLogger("livetweet.run")

S = DraftState
RETRY_BASE = timedelta(seconds=5)
RETRY_MAX = timedelta(minutes=1)
LOOK_AGAIN = timedelta(seconds=10)
# Before a network call the run must have renewed its lease this recently (seconds of the
# machine's clock), well inside the time after which another run may take it over.
LEASE_SAFE_SECONDS = RUNNER_STALE_SECONDS * 2 / 3
# An uploaded image whose media id expires sooner than this (seconds of real time) is uploaded again.
UPLOAD_MARGIN_SECONDS = 120.0


@dataclass(frozen=True)
class _Upload:
    """An image already on X for one draft: its media id, and until when X keeps it (event clock)."""

    media_id: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Notice:
    """One thing the dispatcher did, for the operator's screen."""

    draft: Draft
    what: str  # posted, retry, unknown, failed, missed, waiting, halted
    detail: str


SESSION_LOST = (
    "this machine lost its session with the database, and with it the right to post (a standby may be posting now)"
)


class LeaseKeeper:
    """This run's hold on the store: renewed every few seconds, checked before every network call.

    On PostgreSQL a leader also holds the store's `Leadership` and speaks on it every
    second from a thread of its own; the moment the server has ended that session, this run
    has lost, whatever the lease row says.
    """

    def __init__(self, store: Store, run: Run, leadership: Leadership | None = None) -> None:
        self.store = store
        self.run = run
        self.lost: str | None = None
        self._renewed_mono = time.monotonic()
        self._renewed_wall = store.wall.now()
        self.leadership = leadership
        self._quit = threading.Event()
        if leadership is not None:
            threading.Thread(target=self._speak, args=(leadership,), name="livetweet-leader", daemon=True).start()

    @classmethod
    def lead(cls, store: Store, kind: str, leadership: Leadership, x_api_url: str | None = None) -> LeaseKeeper:
        """Take the lease as the leader: the caller holds `leadership`, so the last holder's session is gone."""
        holder = secrets.token_hex(8)
        lease = store.take_lease(holder, kind=kind, x_api_url=x_api_url, leader=True)
        return cls(store, Run(holder, lease.epoch), leadership)

    def _speak(self, leadership: Leadership) -> None:
        while not self._quit.wait(LEADER_PING_SECONDS):
            if not leadership.ping():
                self.lost = self.lost or SESSION_LOST
                return

    def _check_session(self) -> None:
        if self.leadership is None:
            return
        if not self.leadership.held or not self.leadership.ping():  # one round trip before each call to X
            self.lost = self.lost or SESSION_LOST
        if self.lost:
            raise LeaseLost(self.lost)

    @classmethod
    def take(cls, store: Store, kind: str, x_api_url: str | None = None) -> LeaseKeeper:
        """Take the store's lease for a new run (refused while another run holds it)."""
        holder = secrets.token_hex(8)
        lease = store.take_lease(holder, kind=kind, x_api_url=x_api_url)
        return cls(store, Run(holder, lease.epoch))

    def renew(self, clock: dict[str, object] | None = None) -> None:
        if self.lost:
            raise LeaseLost(self.lost)
        self._check_session()
        try:
            self.store.renew_lease(self.run.holder, self.run.epoch, clock)
        except LeaseLost as exc:
            self.lost = str(exc)
            raise
        self._renewed_mono = time.monotonic()
        self._renewed_wall = self.store.wall.now()

    def before_call(self, claimed: tuple[int, int] | None = None) -> bool:
        """Raise LeaseLost unless this run surely still holds the lease: the last word before X.

        With `claimed` (draft id, claim version): False if the draft moved since the claim.
        """
        if self.lost:
            raise LeaseLost(self.lost)
        self._check_session()
        # A stall (SIGSTOP, a closed lid) shows on one clock or the other: renew before going on.
        elapsed = max(
            time.monotonic() - self._renewed_mono, (self.store.wall.now() - self._renewed_wall).total_seconds()
        )
        if elapsed > LEASE_SAFE_SECONDS:
            self.renew()
        try:
            return self.store.check_lease(self.run.holder, self.run.epoch, claimed)
        except LeaseLost as exc:
            self.lost = str(exc)
            raise

    def release(self) -> None:
        """Hand the lease back (a standby takes over at once) and end the leader's session."""
        try:
            if not self.lost:
                self.store.release_lease(self.run.holder, self.run.epoch)
        finally:
            self.close()

    def close(self) -> None:
        """Stop speaking for this run (its session ends, and a standby may take over)."""
        self._quit.set()
        if self.leadership is not None:
            self.leadership.close()


class Dispatcher:
    """Posts due drafts of one event, each through its account's publisher, exactly once, as one fenced run."""

    def __init__(
        self,
        service: Service,
        publisher: Publisher | Mapping[str, Publisher],
        event_id: str,
        on_notice: Callable[[Notice], None] = lambda r: None,
        keeper: LeaseKeeper | None = None,
        credentials: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.service = service
        self.store = service.store
        self.clock: Clock = service.clock
        # One publisher per account; a single one posts every delivery (an event on X alone).
        self.publishers: Mapping[str, Publisher] = publisher if isinstance(publisher, Mapping) else {}
        if isinstance(publisher, Mapping):
            publisher = publisher.get(DEFAULT_ACCOUNT) or next(iter(publisher.values()))
        self.publisher: Publisher = publisher  # X's (the credentials hook and the DM poll speak to it)
        self.event_id = event_id
        self.on_notice = on_notice
        self.keeper = keeper or LeaseKeeper.take(service.store, "live")
        self.ledger = Ledger(service.store, service.clock, self.keeper.run)
        self.credentials = credentials
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._waiting_reported: set[tuple[int, str]] = set()
        self._halted = False
        self._ends_at: datetime | None = None
        self._uploads: dict[int, dict[tuple[str, str], _Upload]] = {}  # draft id -> (sha256, alt) -> upload
        # After a takeover: how long (real seconds) an earlier run's call to X may still be under way.
        self.settle_seconds = 0.0

    def publisher_for(self, draft: Draft) -> Publisher:
        """The publisher of the account a delivery posts to; one this run has none for (an account a
        reload added) refuses, never another account's publisher."""
        if not self.publishers:
            return self.publisher
        return self.publishers.get(draft.account) or _NoPublisher(draft.account)

    @property
    def lost(self) -> str | None:
        """Why this run stopped posting (another run took the lease), or None."""
        return self.keeper.lost

    def _closes(self, draft: Draft) -> datetime:
        return window_end(draft.at, draft.valid_until, self.clock)

    # --- one sweep ----------------------------------------------------------------------

    def tick(self) -> None:
        """Handle everything due now: missed windows, drafts left in posting, due posts."""
        if self.lost:
            return
        self._after_halt()
        now = self.clock.now()
        paused = self.store.paused() is not None
        for draft in self.store.due(self.event_id, now):
            if self.lost:
                return
            if draft.state == S.POSTING:
                if draft.next_attempt_at is None or draft.next_attempt_at <= now:
                    self.reconcile(draft)
            elif now > self._closes(draft):
                if draft.state == S.PENDING:
                    self._missed(draft, "nobody approved it before its window closed")
                else:
                    why = "posting was paused" if paused else "it could not go out in time"
                    if draft.last_error and not paused:
                        why += f"; the last try: {draft.last_error}"
                    self._missed(draft, f"its window closed at {self._hm(self._closes(draft))} ({why})")
            elif draft.state == S.APPROVED and not paused and (draft.next_attempt_at or now) <= now:
                self.dispatch(draft.id)

    def dispatch(self, draft_id: int) -> None:
        """Post one draft if every rule allows it now (the claim checks them all)."""
        with self._guard(draft_id) as mine:
            if mine:
                self._post(draft_id)

    def reconcile(self, draft: Draft, reason: str | None = None) -> None:
        """A draft in posting whose outcome is unknown: find it on the account, or try again.

        One claimed by an earlier run less than `settle_seconds` (real time) ago may still be on
        its way to X from that run (a takeover comes within seconds): the sweep looks again later.
        """
        if self._old_call_may_be_in_flight(draft):
            return
        with self._guard(draft.id) as mine:
            if mine:
                self._reconcile(draft, reason)

    def _old_call_may_be_in_flight(self, draft: Draft) -> bool:
        if not self.settle_seconds or draft.claim_epoch in (None, self.keeper.run.epoch) or draft.claimed_at is None:
            return False
        return self.clock.now() < draft.claimed_at + self.clock.from_real(self.settle_seconds)

    # --- the steps of a post ---------------------------------------------------------

    def claim(self, draft_id: int) -> Claim | None:
        """Step 1: claim it (committed before any call), or None when a rule says not now.

        The draft stays this run's own (the sweep leaves it alone) until its outcome is recorded.
        """
        if not self._enter(draft_id):
            return None
        claim = self._claim(draft_id)
        if claim is None:
            self._leave(draft_id)
        return claim

    def call(self, claim: Claim) -> Outcome | None:
        """Step 2: the lease and the window once more, then the one call to X."""
        outcome = self._call(claim)
        if outcome is None:
            self._leave(claim.draft.id)
        return outcome

    def record(self, claim: Claim, outcome: Outcome) -> None:
        """Step 3: write down what X said, against the claim's version."""
        try:
            self._record(claim, outcome)
        finally:
            self._leave(claim.draft.id)

    def _claim(self, draft_id: int) -> Claim | None:
        try:
            return self.ledger.claim(draft_id)
        except NotDue as exc:
            # Said once per draft and reason: its parent, the post before it on its account, the budget.
            if exc.waits_for is not None and (draft_id, exc.waits_for) not in self._waiting_reported:
                self._waiting_reported.add((draft_id, exc.waits_for))
                self._notice(self.store.get(draft_id), "waiting", str(exc).split(" ", 2)[2])
            return None
        except LeaseLost as exc:
            self.keeper.lost = str(exc)
            return None
        except DraftError:
            return None  # paused, or changed meanwhile: nothing to do

    def _call(self, claim: Claim) -> Outcome | None:
        if not self._still_ours(claim):
            return None
        draft = claim.draft
        publisher = self.publisher_for(draft)
        # Bluesky and Mastodon record a post's language (the account's); X has no field for it, so its
        # publisher is not told one.
        account = self.service.accounts(draft.event_id).get(draft.account)
        lang = {"lang": account.lang} if account is not None and account.network != "x" else {}
        if not draft.media:
            return publisher.post(draft.text, claim.parent_tweet_id, key=draft.post_key, **lang)
        uploaded = self._upload(draft)
        if not isinstance(uploaded, list):
            return uploaded  # not sent: recorded as a retry (or failed, or halted) like a post's outcome
        # The uploads took time: the lease, the claim and the window once more, right before the post.
        if not self._still_ours(claim):
            return None
        return publisher.post(draft.text, claim.parent_tweet_id, media_ids=uploaded, key=draft.post_key, **lang)

    def _still_ours(self, claim: Claim) -> bool:
        """The last word before a call to X: this run holds the lease, the claim stands, the window is open."""
        try:
            if not self.keeper.before_call((claim.draft.id, claim.draft.version)):
                self._notice(claim.draft, "skipped", "it changed after it was claimed: not sent")
                return False
        except LeaseLost:
            return False  # left in posting under this run's epoch: the run that took over settles it
        if self.clock.now() > self._closes(claim.draft):
            self._write(
                claim.draft,
                lambda: self.ledger.expired(
                    claim.draft.id, claim.draft.version, "its window closed before it could be sent"
                ),
                "missed",
                f"its window closed at {self._hm(self._closes(claim.draft))} before it could be sent: "
                f"`livetweet post-now {claim.draft.id}` posts it anyway",
            )
            return False
        return True

    def _upload(self, draft: Draft) -> list[str] | RetryLater | Refused:
        """The draft's images on X, in order, with their alt text: media ids kept from an earlier try
        while X still keeps them, the others uploaded now (bytes from the store)."""
        kept = self._uploads.setdefault(draft.id, {})
        media_ids: list[str] = []
        for number, item in enumerate(draft.media, 1):
            now = self.clock.now()
            known = kept.get((item.sha256, item.alt))
            margin = self.clock.from_real(UPLOAD_MARGIN_SECONDS)
            if known is not None and (known.expires_at is None or known.expires_at - margin > now):
                media_ids.append(known.media_id)
                continue
            found = self.store.media_data(item.sha256)
            if found is None:
                return Refused(
                    f"its image {number} ({item.name or item.sha256[:12]}) is no longer in the store: "
                    "give the post its images again (edit)"
                )
            data, kind = found
            outcome = self.publisher_for(draft).upload(data, kind, item.alt)
            if isinstance(outcome, RetryLater):
                return RetryLater(f"its images could not be uploaded: {outcome.reason}", outcome.retry_after)
            if isinstance(outcome, Refused):
                return Refused(f"its images could not be uploaded: {outcome.reason}", outcome.halt)
            assert isinstance(outcome, Uploaded)
            expires_at = None if outcome.expires_after is None else now + self.clock.from_real(outcome.expires_after)
            kept[(item.sha256, item.alt)] = _Upload(outcome.media_id, expires_at)
            media_ids.append(outcome.media_id)
        return media_ids

    def _record(self, claim: Claim, outcome: Outcome) -> None:
        draft = claim.draft
        now = self.clock.now()
        if isinstance(outcome, Posted):
            self._posted(draft, outcome.tweet_id, "posted", f"{(now - draft.at).total_seconds():.1f} s after its time")
        elif isinstance(outcome, RetryLater):
            if outcome.stale_media:
                self._uploads.pop(draft.id, None)  # X no longer knows them: upload them again next time
            backoff = _backoff(draft.attempts)
            wait = self.clock.from_real(outcome.retry_after) if outcome.retry_after is not None else backoff
            when = now + max(wait, timedelta(0))
            if when > self._closes(draft):
                self._write(
                    draft,
                    lambda: self.ledger.expired(draft.id, draft.version, f"{outcome.reason}; no time left to retry"),
                    "missed",
                    f"{outcome.reason}; the next try ({self._hm(when)}) would be past its window: "
                    f"`livetweet post-now {draft.id}` posts it anyway",
                )
                return
            self._write(
                draft,
                lambda: self.ledger.retry(draft.id, draft.version, outcome.reason, when),
                "retry",
                f"{outcome.reason}; trying again at {self._hm(when)}",
            )
        elif isinstance(outcome, OutcomeUnknown):
            noted = self._write(
                draft,
                lambda: self.ledger.unknown(draft.id, draft.version, outcome.reason, now),
                "unknown",
                f"{outcome.reason}; looking for it on the account",
            )
            if noted is not None:
                self._reconcile(noted, reason=outcome.reason)
        elif isinstance(outcome, Refused) and outcome.halt:
            self._write(draft, lambda: self.ledger.halted(draft.id, draft.version, outcome.reason), None, "")
            self._halted = True
            try:
                network = self.publisher_for(draft).name
                self.ledger.pause_for_credentials(f"{network} refused our credentials: {outcome.reason}")
            except LeaseLost:
                return
            self._notice(
                draft,
                "halted",
                "posting is paused and this post waits, still approved, inside its window: put the account's "
                "current keys in .env, then `livetweet resume` (it checks them against X first)",
            )
        elif isinstance(outcome, Refused):
            self._write(
                draft, lambda: self.ledger.failed(draft.id, draft.version, outcome.reason), "failed", outcome.reason
            )

    # --- inside ---------------------------------------------------------------------------

    def _post(self, draft_id: int) -> None:
        """The three steps, for a caller that already has the draft to itself."""
        claim = self._claim(draft_id)
        if claim is None:
            return
        outcome = self._call(claim)
        if outcome is not None:
            self._record(claim, outcome)

    def _reconcile(self, draft: Draft, reason: str | None = None) -> None:
        since = (draft.claimed_at or draft.at) - timedelta(minutes=1)
        now = self.clock.now()
        try:
            self.keeper.before_call()
            tweet_id = self.publisher_for(draft).find_post(draft.text, since, key=draft.post_key)
        except LeaseLost:
            return
        except PublisherError as exc:
            again, error = now + LOOK_AGAIN, str(exc)
            self._write(
                draft,
                lambda: self.ledger.unknown(draft.id, draft.version, error, again),
                "unknown",
                f"{error}; looking again at {self._hm(again)}",
            )
            return
        if tweet_id is not None:
            noun = self.publisher_for(draft).noun
            self._posted(draft, tweet_id, "reconciled", f"found on the account as {noun} {tweet_id} (it had gone out)")
            return
        why = reason or "it was being posted when livetweet stopped"
        if now > self._closes(draft):
            self._write(
                draft,
                lambda: self.ledger.expired(draft.id, draft.version, f"{why}; not on the account"),
                "missed",
                f"{why}; it is not on the account and its window has closed: "
                f"`livetweet post-now {draft.id}` posts it anyway",
            )
            return
        # Not on the account: try again, at once the first time, then backing off (X may be down).
        when = now + (_backoff(draft.attempts - 1) if draft.attempts > 1 else timedelta(0))
        if when > self._closes(draft):
            self._write(
                draft,
                lambda: self.ledger.expired(
                    draft.id, draft.version, f"{why}; not on the account, no time left to retry"
                ),
                "missed",
                f"{why}; it is not on the account and the next try ({self._hm(when)}) would be past its window: "
                f"`livetweet post-now {draft.id}` posts it anyway",
            )
            return
        self._write(
            draft,
            lambda: self.ledger.retry(draft.id, draft.version, f"{why}; not on the account", when),
            "retry",
            f"{why}; it is not on the account, so it will be posted" + (f" at {self._hm(when)}" if when > now else ""),
        )

    def _posted(self, draft: Draft, tweet_id: str, how: str, detail: str) -> None:
        self._uploads.pop(draft.id, None)
        try:
            recorded = self.ledger.posted(draft.id, draft.version, tweet_id, how)
        except LeaseLost as exc:
            self.keeper.lost = str(exc)
            return
        if recorded.note:
            self._notice(recorded.draft, "posted", recorded.note)
        elif how == "posted":
            self._notice(recorded.draft, "posted", f"{self.publisher_for(draft).noun} {tweet_id}, {detail}")
        else:
            self._notice(recorded.draft, "posted", detail)
        if recorded.draft.state == S.POSTED:
            self._release_replies(recorded.draft)

    def _write(self, draft: Draft, write: Callable[[], Draft], what: str | None, detail: str) -> Draft | None:
        """Record through the ledger; a draft that moved meanwhile or a lost lease records nothing."""
        try:
            written = write()
        except LeaseLost as exc:
            self.keeper.lost = str(exc)
            return None
        except Conflict:
            self._notice(draft, "skipped", "it changed meanwhile: nothing was recorded from an old reading")
            return None
        except DraftError:
            return None
        if written.state in (S.MISSED, S.FAILED):
            self._uploads.pop(draft.id, None)
        if what:
            self._notice(written, what, detail)
        return written

    def _missed(self, draft: Draft, reason: str) -> None:
        with self._guard(draft.id) as mine:
            if mine:
                self._write(
                    draft,
                    lambda: self.ledger.missed(draft.id, draft.version, reason),
                    "missed",
                    f"{reason}: `livetweet post-now {draft.id}` posts it anyway",
                )

    def _release_replies(self, parent: Draft) -> None:
        """Replies that were only waiting for this post go out now, not at the next sweep."""
        now = self.clock.now()
        for child in self.store.replies_to(self.event_id, parent.slot):
            if child.state == S.APPROVED and child.at <= now:
                self.dispatch(child.id)

    def _after_halt(self) -> None:
        """Once a person resumed after X refused our credentials, post with the credentials as they are now."""
        if not self._halted or self.store.paused() is not None:
            return
        self._halted = False
        if self.credentials is not None:
            try:
                self.publisher.use_credentials(self.credentials())
            except PublisherError:
                self._halted = True

    def _enter(self, draft_id: int) -> bool:
        """Take the draft for this caller alone within this run; False if another step has it."""
        with self._lock:
            if draft_id in self._in_flight:
                return False
            self._in_flight.add(draft_id)
            return True

    def _leave(self, draft_id: int) -> None:
        with self._lock:
            self._in_flight.discard(draft_id)

    @contextmanager
    def _guard(self, draft_id: int) -> Iterator[bool]:
        """One step at a time per draft in this run: True if this caller has it."""
        mine = self._enter(draft_id)
        try:
            yield mine
        finally:
            if mine:
                self._leave(draft_id)

    # --- for the runner -------------------------------------------------------------------

    def reconcile_all(self) -> None:
        """At start or takeover: settle every draft left in posting before anything else."""
        for draft in self.store.drafts(event_id=self.event_id, states=[S.POSTING]):
            self.reconcile(draft)

    def finished(self) -> bool:
        """Every draft is final and the event is over: one count query."""
        if self._ends_at is None:
            event = self.store.event(self.event_id)
            self._ends_at = event.ends_at if event else datetime.min.replace(tzinfo=UTC)
        open_drafts, latest = self.store.progress(self.event_id)
        if open_drafts:
            return False
        assert self._ends_at is not None
        return self.clock.now() > max(self._ends_at, latest or self._ends_at)

    def _notice(self, draft: Draft, what: str, detail: str) -> None:
        self.on_notice(Notice(draft, what, detail))

    def _hm(self, when: datetime) -> str:
        return when.astimezone(self.service.zone(self.event_id)).strftime("%H:%M:%S %Z")


class _NoPublisher(Publisher):
    """An account the run was started without: its deliveries fail with what to do, and go nowhere else."""

    def __init__(self, account: str) -> None:
        self.name = f'account "{account}"'
        self._why = (
            f'this run has no connection to account "{account}" (it was added to the schedule after the run '
            "started): stop the run and start it again to post to it"
        )

    def post(
        self, text: str, in_reply_to: str | None = None, media_ids: Sequence[str] = (), key: str | None = None,
        lang: str | None = None,
    ) -> Outcome:  # fmt: skip
        return Refused(self._why)

    def upload(self, data: bytes, kind: str, alt: str) -> UploadOutcome:
        return Refused(self._why)

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        raise PublisherError(self._why)


class _SkipsAreExpected(logging.Filter):
    """A watch job (the poll, the sweep) still running when its next turn comes is skipped on purpose
    (max_instances 1): APScheduler's warning about it says nothing an operator can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def _quiet_skips() -> None:
    logger = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkipsAreExpected) for f in logger.filters):
        logger.addFilter(_SkipsAreExpected())


class Runner:
    """Drives a Dispatcher with APScheduler 3 until the event is over, it is stopped, or fenced."""

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
        _quiet_skips()
        self._planned: dict[int, datetime] = {}
        self._seen_audit = -1
        self._sync_lock = threading.Lock()
        self.stopped = threading.Event()

    def real_time(self, when: datetime) -> datetime:
        """The machine's time at which the (possibly fast) clock shows `when`."""
        seconds = self.clock.real_seconds(when - self.clock.now())
        return datetime.now(UTC) + timedelta(seconds=max(seconds, 0.0))

    def sync_jobs(self) -> None:
        """One date job per approved draft at its due time, kept in step with what changed."""
        store = self.dispatcher.store
        # A job that calls the scheduler while it shuts down (waiting for running jobs) would
        # deadlock APScheduler 3: stop() holds this lock, and a sync that cannot take it gives up.
        if not self._sync_lock.acquire(blocking=False):
            return
        try:
            if self.stopped.is_set():
                return
            if self._seen_audit < 0:
                newest = store.newest_audit_id()  # read first: a change meanwhile is caught next time
                drafts = store.drafts(event_id=self.dispatcher.event_id, states=[S.APPROVED])
                changed = {d.id for d in drafts} | set(self._planned)
            else:
                newest, changed = store.changed_since(self._seen_audit)
                drafts = store.get_many(changed)
            self._seen_audit = newest
            by_id = {d.id: d for d in drafts if d.event_id == self.dispatcher.event_id}
            for draft_id in changed:
                draft = by_id.get(draft_id)
                if draft is None or draft.state != S.APPROVED:
                    if self._planned.pop(draft_id, None) is not None:
                        job = self.scheduler.get_job(f"draft-{draft_id}")
                        if job:
                            job.remove()
                    continue
                due = max(draft.at, draft.next_attempt_at or draft.at)
                if self._planned.get(draft_id) == due:
                    continue
                self._planned[draft_id] = due
                self.scheduler.add_job(
                    self.dispatcher.dispatch,
                    "date",
                    run_date=self.real_time(due),
                    args=[draft_id],
                    id=f"draft-{draft_id}",
                    replace_existing=True,
                )
        finally:
            self._sync_lock.release()

    def next_due(self) -> tuple[Draft, datetime] | None:
        draft = self.dispatcher.store.next_due(self.dispatcher.event_id)
        return (draft, max(draft.at, draft.next_attempt_at or draft.at)) if draft else None

    def poll_messages(self, poller: Poller, on_poll: Callable[[PollResult], None]) -> None:
        """Fetch direct messages through the dispatcher's publisher while the event runs."""

        def poll() -> None:
            if not self.dispatcher.lost:  # a run that lost the lease reads nothing more either
                _report_poll(poller.maybe_poll(), on_poll)

        self.scheduler.add_job(poll, "interval", seconds=self.watch_seconds, id="dm-poll")

    def keep_alive(
        self, clock: Callable[[], dict[str, object] | None] = lambda: None, seconds: float = RUNNER_STALE_SECONDS / 5
    ) -> None:
        """Renew this run's lease every few seconds; a lost lease stops the run at once."""

        def renew() -> None:
            try:
                self.dispatcher.keeper.renew(clock())
            except LeaseLost:
                self.stopped.set()

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
        with self._sync_lock:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=True)

    def wait(self, on_idle: Callable[[], None] = lambda: None, poll: float = 0.2) -> str:
        """Block until the event is over ("finished"), stop() was called ("stopped") or the lease was lost ("lost")."""
        complaints = _Complaints()
        while not self.stopped.wait(poll):
            if self.dispatcher.lost:
                return "lost"
            # The screen and the end-of-event check only read; if they fail (the store is busy,
            # the machine is out of file descriptors...), posting goes on in its own threads and
            # this loop tries again, saying so once in a while.
            try:
                on_idle()
                if self.dispatcher.finished():
                    return "finished"
            except Exception as exc:  # nothing may end the run from here
                complaints.tell(exc)
        return "lost" if self.dispatcher.lost else "stopped"


class _Complaints:
    """Logs a recurring error at most every 30 s, with how often it happened meanwhile."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self.last = -every
        self.count = 0

    def tell(self, exc: Exception) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            log.warning("the run's screen could not read the store (%s x%d): posting goes on", exc, self.count)
            self.last, self.count = now, 0


def _backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s... up to a minute, after the n-th failed attempt."""
    wait: timedelta = RETRY_BASE * (2 ** max(attempts - 1, 0))
    return min(wait, RETRY_MAX)


def _report_poll(result: PollResult | None, on_poll: Callable[[PollResult], None]) -> None:
    if result is not None:
        on_poll(result)

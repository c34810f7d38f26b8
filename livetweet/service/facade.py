"""`Service`: the one face the CLI, the console and the dispatcher call.

It holds the store and the clock, answers what is read straight from the store, and hands
every action over to the module that holds its rule (planning, actions, corrections, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..clock import Clock, SystemClock
from ..draft import Attachment, Draft, DraftState, length_limit
from ..errors import EventError
from ..store import AuditEntry, Connection, EventAccount, Pause, Store, event_accounts
from . import actions, corrections, planning, texts

if TYPE_CHECKING:
    from ..plan.compose import Tagged

CONSOLE_URL_KEY = "console_url"

ACCOUNTS_FRESH_SECONDS = 5.0  # an event's accounts change only when its schedule is loaded again


class Service:
    """Operator actions over one store, with one clock."""

    def __init__(self, store: Store, clock: Clock | None = None, clock_is_live: bool = True) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        # False when no run holds the store: then "now" is not the event's clock (cue refuses).
        self.clock_is_live = clock_is_live
        self._accounts: dict[str, tuple[float, dict[str, EventAccount]]] = {}
        self._zones: dict[str, ZoneInfo] = {}

    # --- planning ------------------------------------------------------------------

    def load(
        self, schedule_path: Path, mode: str = "approval", by: str | None = None, replace_edits: bool = False
    ) -> planning.LoadReport:
        """Plan a schedule into the store; loading the same files twice changes nothing.

        A draft whose text a person wrote (an edit, a compose, a reshare) keeps it, unless
        `replace_edits` says to take the schedule's text instead.
        """
        return planning.load(self, schedule_path, mode, by, replace_edits)

    # --- reading -------------------------------------------------------------------

    def queue(self, state: DraftState | None = None, event_id: str | None = None) -> list[Draft]:
        return self.store.drafts(event_id=event_id, states=[state] if state else None)

    def show(self, draft_id: int) -> Draft:
        return self.store.get(draft_id)

    def history(self, draft_id: int) -> list[AuditEntry]:
        self.store.get(draft_id)  # an unknown id is an error, not an empty history
        return self.store.audit(draft_id)

    def zone(self, event_id: str) -> ZoneInfo:
        """The event's time zone, for showing its times."""
        if event_id not in self._zones:
            event = self.store.event(event_id)
            self._zones[event_id] = ZoneInfo(event.timezone if event else "UTC")
        return self._zones[event_id]

    def accounts(self, event_id: str) -> dict[str, EventAccount]:
        """The event's accounts by id (its X account alone for an event loaded before accounts)."""
        known = self._accounts.get(event_id)
        if known is not None and time.monotonic() - known[0] < ACCOUNTS_FRESH_SECONDS:
            return known[1]
        event = self.store.event(event_id)
        accounts = {a.id: a for a in event_accounts(event)} if event is not None else {}
        self._accounts[event_id] = (time.monotonic(), accounts)  # a page shows many drafts: one read
        return accounts

    def limit_of(self, draft: Draft) -> int:
        """How long the draft may be on its account's network."""
        account = self.accounts(draft.event_id).get(draft.account)
        return length_limit(account.network, account.max_chars) if account else length_limit("x")

    def resolve_event(self, event_id: str | None = None) -> str:
        """The event meant: the one named (if the store holds it), else the only one loaded."""
        if event_id:
            if self.store.event(event_id) is None:
                raise EventError(f'there is no event "{event_id}" in {self.store.display}')
            return event_id
        events = self.store.events()
        if not events:
            raise EventError(f"no event is loaded in {self.store.display}: `livetweet load SCHEDULE` first")
        if len(events) > 1:
            names = ", ".join(e.id for e in events)
            raise EventError(f"several events are loaded ({names}): say which with --event")
        return events[0].id

    def paused(self) -> Pause | None:
        """Who stopped posting and why; None while posting runs."""
        return self.store.paused()

    def console_serving(self, url: str | None) -> None:
        """Say where this store's console listens (None: it stopped), for `livetweet console-link`."""
        with self.store.begin() as conn:
            self.store.put_setting(conn, CONSOLE_URL_KEY, url or "", datetime.now(UTC).isoformat())

    def console_url(self) -> str | None:
        """Where the running console listens, if a run serves one from this store."""
        found = self.store.setting(CONSOLE_URL_KEY)
        return found[0] if found and found[0] and self.store.live_lease() is not None else None

    # --- operator actions ----------------------------------------------------------

    def approve(self, draft_id: int, by: str, revision: int | None = None, seen_version: int | None = None) -> Draft:
        """Approve the draft's current revision (or exactly `revision`, refused if stale)."""
        return actions.approve(self, draft_id, by, revision, seen_version)

    def approve_all(self, targets: list[tuple[int, int | None]], by: str, all_accounts: bool = False) -> list[Draft]:
        """Approve several drafts (each at its current revision, or at REV): all, or none if one is refused;
        with `all_accounts`, each on every account its slot posts to."""
        return actions.approve_all(self, targets, by, all_accounts)

    def approve_everywhere(
        self, draft_id: int, by: str, revision: int | None = None, seen_version: int | None = None
    ) -> list[Draft]:
        """Approve the draft and the same post on the event's other accounts where it waits, at once."""
        return actions.approve_everywhere(self, draft_id, by, revision, seen_version)

    def standalone(self, draft_id: int, by: str) -> Draft:
        """Send a reply the network refused (X's reply restriction) now, as a post of its own."""
        return actions.standalone(self, draft_id, by)

    def forget_accounts(self, event_id: str) -> None:
        """A load changed the event's accounts: read them again."""
        self._accounts.pop(event_id, None)

    def unapprove(self, draft_id: int, by: str, seen_version: int | None = None) -> Draft:
        """Hold an approved draft: back to pending, so it will not go out."""
        return actions.unapprove(self, draft_id, by, seen_version)

    def reject(self, draft_id: int, by: str, reason: str | None = None, seen_version: int | None = None) -> Draft:
        """Refuse a draft for good (an edit can bring it back)."""
        return actions.reject(self, draft_id, by, reason, seen_version)

    def post_now(self, draft_id: int, by: str, hold: timedelta = timedelta(0)) -> Draft:
        """Post this draft at once, after `hold` (time to call it back): approved before its time, or missed."""
        return actions.post_now(self, draft_id, by, hold)

    def cancel_post(self, draft_id: int, by: str, seen_version: int | None = None) -> Draft:
        """Call back a post-now or a composed post during its hold: back to pending, words kept."""
        return actions.cancel_post(self, draft_id, by, seen_version)

    def held_until(self, draft_id: int) -> datetime | None:
        """Until when a person's post-now or compose-now of this draft can be called back; None if it cannot."""
        return actions.held_until(self, self.store.get(draft_id))

    def restore(self, draft_id: int, by: str, seen_version: int | None = None) -> Draft:
        """Undo a rejection: back to pending (to approve again), while its window is open."""
        return actions.restore_rejected(self, draft_id, by, seen_version)

    def edit(
        self,
        draft_id: int,
        text: str,
        by: str,
        revision: int | None = None,
        seen_version: int | None = None,
        media: tuple[Attachment, ...] | None = None,
    ) -> tuple[Draft, list[str]]:
        """Replace the text (and, unless `media` is None, the images) with a new revision, back to pending;
        returns the hashtags added."""
        return actions.edit(self, draft_id, text, by, revision, seen_version, media)

    # --- texts and drafts no slot made -----------------------------------------------

    def check_text(
        self, conn: Connection, event_id: str, wanted: list[str], text: str, draft_id: int | None = None
    ) -> Tagged:
        """The rules a template's output obeys, for a typed text; raise TextRefused if broken."""
        return texts.check_text(self.store, conn, event_id, wanted, text, draft_id)

    def pause(self, by: str, reason: str | None = None) -> Pause:
        """Stop everything not yet claimed, at once, until `resume`."""
        return corrections.pause(self, by, reason)

    def resume(self, by: str, verify: Callable[[], str] | None = None) -> Pause:
        """Go on posting; after X refused our credentials, only once `verify` shows X accepts them."""
        return corrections.resume(self, by, verify)

    def shift(
        self,
        delta: timedelta,
        by: str,
        from_segment: str | None = None,
        event_id: str | None = None,
        action: str = "shift",
    ) -> list[tuple[Draft, Draft]]:
        """Move every unposted post (from `from_segment` on) by `delta`; returns (before, after) pairs."""
        return corrections.shift(self, delta, by, from_segment, event_id, action)

    def cue(self, segment_id: str, by: str, event_id: str | None = None) -> tuple[timedelta, list[tuple[Draft, Draft]]]:
        """ "This segment started now": shift it and what follows by how late (or early) it is."""
        return corrections.cue(self, segment_id, by, event_id)

    def preview_shift(
        self, delta: timedelta, from_segment: str | None = None, event_id: str | None = None
    ) -> list[tuple[Draft, Draft]]:
        """What `shift` would move, as (before, after) pairs, changing nothing; refused as `shift` would be."""
        return corrections.preview_shift(self, delta, from_segment, event_id)

    def preview_cue(self, segment_id: str, event_id: str | None = None) -> tuple[timedelta, list[tuple[Draft, Draft]]]:
        """What `cue` would do now, changing nothing: how late the segment is, and the posts it would move."""
        return corrections.preview_cue(self, segment_id, event_id)

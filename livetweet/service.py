"""The service layer: every operator action, once, for the CLI and the console alike.

A rule lives here, never in a click command or a web view. Each action runs in one
store transaction and is audited under the operator's name.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from .check import check_schedule
from .clock import Clock, SystemClock
from .clock import show_time as _hm
from .compose import MAX_WEIGHTED_LENGTH, Composer, Tagged, tag_text, wanted_hashtags
from .draft import EDITABLE, Actor, Draft, DraftError, DraftState, IllegalMove
from .errors import Problem, ScheduleError
from .inbox import (
    InboxError,
    IncomingMessage,
    Message,
    PollResult,
    clean_text,
    original_for_storage,
    original_from_storage,
)
from .normal import normal_line
from .publishers.base import Publisher, PublisherError, RateLimited
from .schedule import DEFAULT_VALID_FOR, Schedule, Segment, format_duration, load_schedule
from .store import (
    AuditEntry,
    Store,
    audit_table,
    drafts_table,
    events_table,
    inbox_table,
    revisions_table,
    segments_table,
    shift_for,
    shifts_table,
)

S = DraftState
MODES = ("approval", "auto", "dry-run")
AUTO_OPERATOR = "auto"
SCHEDULE_OPERATOR = "schedule"
CONSOLE_URL_KEY = "console_url"
POSTING_MARGIN = timedelta(hours=1)  # a store from before posting spans were kept: an hour before the start
CLEAR_APPROVAL: dict[str, Any] = {"approved_revision": None, "approved_by": None, "approved_at": None}


def operator_name(explicit: str | None = None) -> str:
    """Who is acting: --as, else LIVETWEET_OPERATOR, else the login name."""
    if explicit is not None:
        name = normal_line(explicit)[:100]
        if not name:
            raise DraftError("--as needs your name: it goes in the audit trail")
        return name
    name = normal_line(os.environ.get("LIVETWEET_OPERATOR") or "")[:100]
    if not name:
        try:
            name = normal_line(getpass.getuser())[:100]
        except (KeyError, OSError):  # no login name (containers without a passwd entry)
            name = ""
    return name or "operator"


@dataclass
class LoadReport:
    """What `load` did, draft by draft."""

    event_id: str
    mode: str
    created: list[Draft] = field(default_factory=list)
    revised: list[Draft] = field(default_factory=list)
    rescheduled: list[Draft] = field(default_factory=list)
    restored: list[Draft] = field(default_factory=list)
    withdrawn: list[Draft] = field(default_factory=list)
    untouched: list[tuple[Draft, str]] = field(default_factory=list)
    auto_approved: list[Draft] = field(default_factory=list)
    kept: list[tuple[Draft, str]] = field(default_factory=list)  # a person's text kept over the schedule's
    unchanged: int = 0


class TextRefused(DraftError):
    """An edited text breaks a rule (length, hashtags, duplicate); nothing was changed."""


class Service:
    """Operator actions over one store, with one clock."""

    def __init__(self, store: Store, clock: Clock | None = None, clock_is_live: bool = True) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        # False when no run holds the store: then "now" is not the event's clock (cue refuses).
        self.clock_is_live = clock_is_live
        self._zones: dict[str, ZoneInfo] = {}

    # --- planning ------------------------------------------------------------------

    def load(
        self, schedule_path: Path, mode: str = "approval", by: str | None = None, replace_edits: bool = False
    ) -> LoadReport:
        """Plan a schedule into the store; loading the same files twice changes nothing.

        A draft whose text a person wrote (an edit, a compose, a reshare) keeps it, unless
        `replace_edits` says to take the schedule's text instead.
        """
        if mode not in MODES:
            raise DraftError(f'unknown mode "{mode}": use one of {", ".join(MODES)}')
        report = check_schedule(schedule_path)
        if report.schedule is None or not report.ok:
            raise ScheduleError(report.problems)
        schedule = report.schedule
        event = schedule.event
        now = self.clock.now()
        actor = by or SCHEDULE_OPERATOR
        result = LoadReport(event.id, mode)
        with self.store.begin() as conn:
            row = {
                "title": event.title,
                "account": event.account,
                "timezone": event.timezone,
                "schedule_path": str(schedule_path.resolve()),
                "mode": mode,
                "starts_at": event.start,
                "ends_at": event.end,
                "posts_from": event.posts_from,
                "posts_until": event.posts_until,
                "loaded_at": now,
            }
            if self.store.event(event.id, conn) is None:
                self._refuse_a_renamed_event(conn, event.id, str(row["schedule_path"]))
                conn.execute(events_table.insert().values(id=event.id, **row))
                self.store.write_audit(
                    conn,
                    at=now,
                    operator=actor,
                    action="event-created",
                    event_id=event.id,
                    detail={"mode": mode, "schedule": row["schedule_path"]},
                )
            else:
                conn.execute(events_table.update().where(events_table.c.id == event.id).values(**row))
            self._save_segments(conn, schedule)
            shifts = self.store.shifts(event.id, conn)
            existing = {d.slot: d for d in self.store.drafts(event_id=event.id, conn=conn) if d.source == "schedule"}
            planned_slots = set()
            new_rows: list[dict[str, Any]] = []
            for post in report.posts:
                slot = post.slot
                planned_slots.add(slot.id)
                plan = {
                    "segment": slot.segment,
                    "template": slot.template,
                    "planned_text": post.text,
                    "planned_at": slot.at,
                    "at": slot.at + shift_for(shifts, slot.at),
                    "valid_until": slot.valid_until + shift_for(shifts, slot.at),
                    "reply_to": slot.reply_to,
                    "wanted_hashtags": json.dumps(list(post.wanted_hashtags)),
                }
                draft = existing.get(slot.id)
                if draft is None:
                    new_rows.append(
                        {
                            "event_id": event.id,
                            "slot": slot.id,
                            "source": "schedule",
                            "state": S.PENDING.value,
                            "revision": 1,
                            "text": post.text,
                            "weighted_length": post.weighted_length,
                            "hashtags": json.dumps(list(post.hashtags)),
                            "version": 1,
                            "updated_at": now,
                            **plan,
                        }
                    )
                else:
                    self._reload(
                        conn,
                        draft,
                        post.text,
                        post.weighted_length,
                        list(post.hashtags),
                        plan,
                        actor,
                        now,
                        result,
                        replace_edits,
                    )
            result.created = self._create_all(conn, new_rows, actor, now)
            for slot_id, draft in existing.items():
                if slot_id not in planned_slots and draft.state not in (S.POSTED, S.POSTING, S.WITHDRAWN):
                    result.withdrawn.append(
                        self.store.transition(
                            conn,
                            draft,
                            "withdraw",
                            actor=Actor.SCHEDULE,
                            by=actor,
                            at=now,
                            reason="its slot is no longer in the schedule",
                        )
                    )
                elif slot_id not in planned_slots and draft.state != S.WITHDRAWN:
                    result.untouched.append((draft, f"its slot left the schedule but it is {draft.state.value}"))
            if mode == "auto":
                # New texts are approved by "auto"; drafts an operator holds (or edited) stay held.
                for draft in result.created + result.revised + result.restored:
                    if draft in result.revised and self._held_by_a_person(conn, draft.id):
                        continue
                    current = self.store.get(draft.id, conn)
                    result.auto_approved.append(
                        self._approve(conn, current, AUTO_OPERATOR, None, now, actor=Actor.SCHEDULE)
                    )
        return result

    def _held_by_a_person(self, conn: sa.Connection, draft_id: int) -> bool:
        """Is the draft pending because a person held it (unapprove) or rewrote it (edit)?"""
        for entry in reversed(self.store.audit(draft_id, conn)):
            if entry.action in ("unapprove", "edit"):
                return True
            if entry.action in ("approve", "create", "restore", "post-now"):
                return False
        return False

    def _save_segments(self, conn: sa.Connection, schedule: Schedule) -> None:
        """Keep the event's segments in the store: cue, shift and the console need them."""
        conn.execute(segments_table.delete().where(segments_table.c.event_id == schedule.event.id))
        conn.execute(
            segments_table.insert(),
            [
                {
                    "event_id": schedule.event.id,
                    "id": seg.id,
                    "title": seg.title,
                    "planned_start": seg.start,
                    "planned_end": seg.end,
                    "hashtags": json.dumps(wanted_hashtags(schedule, seg)),
                    "position": i,
                }
                for i, seg in enumerate(schedule.segments)
            ],
        )

    def _create_all(self, conn: sa.Connection, rows: list[dict[str, Any]], by: str, now: datetime) -> list[Draft]:
        """Insert new drafts with their first revision and audit rows, in three statements."""
        if not rows:
            return []
        ids = {
            slot: draft_id
            for draft_id, slot in conn.execute(
                drafts_table.insert().returning(drafts_table.c.id, drafts_table.c.slot), rows
            )
        }
        conn.execute(
            revisions_table.insert(),
            [
                {
                    "draft_id": ids[r["slot"]],
                    "revision": 1,
                    "text": r["text"],
                    "created_by": by,
                    "created_at": now,
                    "cause": "load",
                }
                for r in rows
            ],
        )
        conn.execute(
            audit_table.insert(),
            [
                {
                    "draft_id": ids[r["slot"]],
                    "event_id": r["event_id"],
                    "at": now,
                    "operator": by,
                    "action": "create",
                    "from_state": None,
                    "to_state": S.PENDING.value,
                    "revision": 1,
                    "reason": None,
                    "detail": None,
                }
                for r in rows
            ],
        )
        created = set(ids.values())
        return [d for d in self.store.drafts(event_id=rows[0]["event_id"], conn=conn) if d.id in created]

    def _reload(
        self,
        conn: sa.Connection,
        draft: Draft,
        text: str,
        length: int,
        hashtags: list[str],
        plan: dict[str, Any],
        by: str,
        now: datetime,
        result: LoadReport,
        replace_edits: bool = False,
    ) -> None:
        author, cause = self.store.revision_author(conn, draft.id, draft.revision)
        by_person = cause not in ("load", "reload")
        text_changed = text != draft.planned_text or (replace_edits and by_person and text != draft.text)
        time_changed = plan["at"] != draft.at or plan["valid_until"] != draft.valid_until
        other_changed = (
            plan["reply_to"] != draft.reply_to
            or plan["segment"] != draft.segment
            or json.loads(plan["wanted_hashtags"]) != list(draft.wanted_hashtags)
        )
        if draft.state == S.WITHDRAWN:
            restore: dict[str, Any] = {
                **plan,
                "revision": draft.revision + 1,
                "text": text,
                "weighted_length": length,
                "hashtags": json.dumps(hashtags),
                **CLEAR_APPROVAL,
            }
            self.store.add_revision(conn, draft.id, draft.revision + 1, text, by, now, "reload")
            result.restored.append(
                self.store.transition(
                    conn,
                    draft,
                    "restore",
                    actor=Actor.SCHEDULE,
                    by=by,
                    at=now,
                    reason="its slot is back in the schedule",
                    changes=restore,
                )
            )
            return
        if not (text_changed or time_changed or other_changed):
            result.unchanged += 1
            return
        if draft.state != S.PENDING:
            what = "text" if text_changed else "time" if time_changed else "plan"
            result.untouched.append((draft, f"the schedule changed its {what}, but it is {draft.state.value}"))
            return
        changes: dict[str, Any] = dict(plan)
        action = "reschedule"
        if text_changed and by_person and not replace_edits:
            # A person's words are not overwritten by a reload: say so, and how to take the schedule's.
            kept = self.store.transition(
                conn,
                draft,
                "reload",
                actor=Actor.SCHEDULE,
                by=by,
                at=now,
                reason=f"the schedule's text changed; {author}'s text (revision {draft.revision}) is kept",
                changes=changes,
            )
            result.kept.append(
                (
                    kept,
                    f"kept {author}'s text (revision {draft.revision}, {cause}); the schedule's text changed: "
                    "`livetweet load SCHEDULE --replace-edits` takes the schedule's text instead",
                )
            )
            return
        if text_changed:
            changes.update(
                revision=draft.revision + 1, text=text, weighted_length=length, hashtags=json.dumps(hashtags)
            )
            self.store.add_revision(conn, draft.id, draft.revision + 1, text, by, now, "reload")
            action = "reload"
        moved = self.store.transition(
            conn,
            draft,
            action,
            actor=Actor.SCHEDULE,
            by=by,
            at=now,
            reason="the schedule or a template changed",
            changes=changes,
        )
        (result.revised if text_changed else result.rescheduled).append(moved)

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
            self._zones[event_id] = ZoneInfo(event["timezone"] if event else "UTC")
        return self._zones[event_id]

    # --- operator actions --------------------------------------------------------

    def approve(self, draft_id: int, by: str, revision: int | None = None, seen_version: int | None = None) -> Draft:
        """Approve the draft's current revision (or exactly `revision`, refused if stale)."""
        with self.store.begin() as conn:
            draft = self.store.get(draft_id, conn)
            return self._approve(conn, draft, by, revision, self.clock.now(), seen_version)

    def _approve(
        self,
        conn: sa.Connection,
        draft: Draft,
        by: str,
        revision: int | None,
        now: datetime,
        seen_version: int | None = None,
        actor: Actor = Actor.OPERATOR,
    ) -> Draft:
        if draft.state == S.MISSED:
            raise IllegalMove(
                f"draft {draft.id} is missed: it cannot be approved (its window has closed); "
                f"`livetweet post-now {draft.id}` posts it anyway"
            )
        unchanged_since_seen = seen_version in (None, draft.version)
        if draft.state == S.APPROVED and unchanged_since_seen and revision in (None, draft.revision):
            raise DraftError(
                f"draft {draft.id} is already approved (revision {draft.revision}, by {draft.approved_by}): "
                "nothing to do"
            )
        return self.store.transition(
            conn,
            draft,
            "approve",
            actor=actor,
            by=by,
            at=now,
            expected_revision=revision,
            seen_version=seen_version,
            changes={"approved_revision": draft.revision, "approved_by": by, "approved_at": now},
        )

    def unapprove(self, draft_id: int, by: str, seen_version: int | None = None) -> Draft:
        """Hold an approved draft: back to pending, so it will not go out."""
        with self.store.begin() as conn:
            draft = self.store.get(draft_id, conn)
            if draft.state != S.APPROVED:
                raise IllegalMove(f"draft {draft.id} is {draft.state.value}: only an approved draft can be unapproved")
            return self.store.transition(
                conn,
                draft,
                "unapprove",
                actor=Actor.OPERATOR,
                by=by,
                at=self.clock.now(),
                seen_version=seen_version,
                changes=dict(CLEAR_APPROVAL),
            )

    def reject(self, draft_id: int, by: str, reason: str | None = None, seen_version: int | None = None) -> Draft:
        """Refuse a draft for good (an edit can bring it back)."""
        with self.store.begin() as conn:
            draft = self.store.get(draft_id, conn)
            return self.store.transition(
                conn,
                draft,
                "reject",
                actor=Actor.OPERATOR,
                by=by,
                at=self.clock.now(),
                reason=reason or None,
                seen_version=seen_version,
                changes=dict(CLEAR_APPROVAL),
            )

    # --- live corrections ----------------------------------------------------------

    def pause(self, by: str, reason: str | None = None) -> dict[str, Any]:
        """Stop everything not yet claimed, at once, until `resume`."""
        with self.store.begin() as conn:
            current = self.store.paused(conn, lock=True)
            if current:
                raise DraftError(f"posting is already paused (by {current['by']})")
            now = self.clock.now()
            value = {"by": by, "at": now.isoformat(), "reason": reason or "", "kind": "operator"}
            self.store.set_paused(conn, value)
            self.store.write_audit(conn, at=now, operator=by, action="pause", reason=reason)
            return value

    def resume(self, by: str, verify: Callable[[], str] | None = None) -> dict[str, Any]:
        """Go on posting; after X refused our credentials, only once `verify` shows X accepts them.

        `verify` re-reads the credentials and asks X who we are; it raises PublisherError
        while X still refuses them. Returns the pause that was lifted.
        """
        current = self.store.paused()
        if not current:
            raise DraftError("posting is not paused")
        if current.get("kind") == "credentials":
            if verify is None:
                raise DraftError(
                    "posting was paused because X refused the credentials: resume from the console or with "
                    "`livetweet resume`, which checks them against X first"
                )
            try:
                verify()
            except PublisherError as exc:
                raise DraftError(
                    f"X still refuses the credentials ({exc}): nothing was resumed. Put the account's current "
                    "keys in .env (X_API_KEY, X_API_KEY_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET), then "
                    "`livetweet resume` again"
                ) from exc
        with self.store.begin() as conn:
            now_paused = self.store.paused(conn, lock=True)
            if not now_paused:
                raise DraftError("posting is not paused (someone resumed it meanwhile)")
            self.store.set_paused(conn, None)
            self.store.write_audit(conn, at=self.clock.now(), operator=by, action="resume")
            return now_paused

    def paused(self) -> dict[str, Any] | None:
        return self.store.paused()

    def _refuse_a_renamed_event(self, conn: sa.Connection, event_id: str, path: str) -> None:
        """A new event id in a schedule file already loaded would plan every post a second time,
        under the new id: say so instead of doubling the event's posts."""
        for other in conn.execute(sa.select(events_table).where(events_table.c.schedule_path == path)).mappings():
            raise DraftError(
                f'this store already holds event "{other["id"]}" from {path}; the file now says '
                f'"{event_id}". Loading it would plan every post twice: put the id back to '
                f'"{other["id"]}", or load the renamed event into a new store with --db'
            )

    def console_serving(self, url: str | None) -> None:
        """Say where this store's console listens (None: it stopped), for `livetweet console-link`."""
        with self.store.begin() as conn:
            self.store.put_setting(conn, CONSOLE_URL_KEY, url or "", datetime.now(UTC).isoformat())

    def console_url(self) -> str | None:
        """Where the running console listens, if a run serves one from this store."""
        found = self.store.setting(CONSOLE_URL_KEY)
        return found[0] if found and found[0] and self.store.live_lease() is not None else None

    def _event_id(self, event_id: str | None) -> str:
        if event_id:
            if self.store.event(event_id) is None:
                raise DraftError(f'there is no event "{event_id}" in {self.store.display}')
            return event_id
        events = self.store.events()
        if not events:
            raise DraftError(f"no event is loaded in {self.store.display}: `livetweet load SCHEDULE` first")
        if len(events) > 1:
            names = ", ".join(e["id"] for e in events)
            raise DraftError(f"several events are loaded ({names}): say which with --event")
        return str(events[0]["id"])

    def shift(
        self,
        delta: timedelta,
        by: str,
        from_segment: str | None = None,
        event_id: str | None = None,
        action: str = "shift",
    ) -> list[tuple[Draft, Draft]]:
        """Move every unposted post (from `from_segment` on) by `delta`; returns (before, after) pairs.

        Refused, with the reason, when it would move a post outside the event's posting span,
        before a post of an earlier segment that is already out, a segment before the one it
        follows, or by more than the event lasts.
        """
        event_id = self._event_id(event_id)
        with self.store.begin() as conn:
            event = self.store.event(event_id, conn)
            assert event is not None
            segments = self.store.segments(event_id, conn)
            shifts = self.store.shifts(event_id, conn)
            start: datetime | None = None
            position = 0
            if from_segment is not None:
                by_id = {s["id"]: s for s in segments}
                if from_segment not in by_id:
                    known = ", ".join(by_id) or "none"
                    raise DraftError(f'there is no segment "{from_segment}" (segments: {known})')
                start = by_id[from_segment]["planned_start"]
                position = by_id[from_segment]["position"]
            drafts = self.store.drafts(event_id=event_id, conn=conn)
            now = self.clock.now()
            # A draft whose window has closed stays closed: only a person's post-now reopens it.
            movable = [
                d
                for d in drafts
                if d.state in (S.PENDING, S.APPROVED)
                and (start is None or d.planned_at >= start)
                and d.valid_until >= now
            ]
            self._check_shift(event, segments, shifts, drafts, movable, delta, start, position, from_segment)
            conn.execute(
                shifts_table.insert().values(
                    event_id=event_id, from_planned=start, seconds=int(delta.total_seconds()), by=by, at=now
                )
            )
            moved = []
            for draft in movable:
                moved.append(
                    (
                        draft,
                        self.store.transition(
                            conn,
                            draft,
                            action,
                            actor=Actor.OPERATOR,
                            by=by,
                            at=now,
                            reason=f"{format_duration(delta)}" + (f" from {from_segment}" if from_segment else ""),
                            changes={"at": draft.at + delta, "valid_until": draft.valid_until + delta},
                        ),
                    )
                )
            if not moved:
                self.store.write_audit(
                    conn,
                    at=now,
                    operator=by,
                    action=action,
                    event_id=event_id,
                    reason=f"{format_duration(delta)}: no unposted post to move",
                )
            return moved

    def _check_shift(
        self,
        event: dict[str, Any],
        segments: list[dict[str, Any]],
        shifts: list[tuple[datetime | None, int]],
        drafts: list[Draft],
        movable: list[Draft],
        delta: timedelta,
        start: datetime | None,
        position: int,
        from_segment: str | None,
    ) -> None:
        """Refuse a shift or cue that would make nonsense of the event's timeline."""
        zone = ZoneInfo(event["timezone"])
        length = event["ends_at"] - event["starts_at"]
        what = "cue" if from_segment and delta else "shift"
        if abs(delta) > length:
            raise DraftError(
                f"a {what} of {format_duration(delta)} is more than the event lasts ({format_duration(length)}): "
                "nothing was moved; check the segment and the time"
            )
        span_start = event["posts_from"] or event["starts_at"] - POSTING_MARGIN
        span_end = event["posts_until"] or event["ends_at"]
        for d in movable:
            new_at = d.at + delta
            if not span_start <= new_at <= span_end:
                raise DraftError(
                    f"it would move {d.slot} (draft {d.id}) to {_hm(new_at, zone)}, outside the event's posting span "
                    f"({_hm(span_start, zone)}-{_hm(span_end, zone)}): nothing was moved. If the event really runs "
                    "that late, widen posts_from/posts_until in the schedule and `livetweet load` it again"
                )
        if start is None or position == 0:
            return
        previous = next(s for s in segments if s["position"] == position - 1)
        previous_start = previous["planned_start"] + shift_for(shifts, previous["planned_start"])
        this_start = start + shift_for(shifts, start) + delta
        if this_start < previous_start:
            raise DraftError(
                f"segment {from_segment} would start at {_hm(this_start, zone)}, before segment {previous['id']} "
                f"({_hm(previous_start, zone)}) that comes before it: nothing was moved"
            )
        earlier_ids = {s["id"] for s in segments if s["position"] < position}
        out = [d for d in drafts if d.state in (S.POSTED, S.POSTING) and d.segment in earlier_ids]
        if out and movable:
            last_out = max(out, key=lambda d: d.posted_at or d.at)
            when = last_out.posted_at or last_out.at
            first = min(movable, key=lambda d: d.at)
            if first.at + delta < when:
                raise DraftError(
                    f"it would move {first.slot} (draft {first.id}) to {_hm(first.at + delta, zone)}, before "
                    f"{last_out.slot} of the earlier segment {last_out.segment}, already out at {_hm(when, zone)}: "
                    "nothing was moved"
                )

    def cue(self, segment_id: str, by: str, event_id: str | None = None) -> tuple[timedelta, list[tuple[Draft, Draft]]]:
        """ "This segment started now": shift it and what follows by how late (or early) it is.

        "Now" is the event's clock: the running run's (live or a rehearsal's). With no run
        on this store there is no such clock, and cue refuses rather than guess.
        """
        event_id = self._event_id(event_id)
        if not self.clock_is_live:
            raise DraftError(
                f"no `livetweet run` is posting from {self.store.display}, so there is no event clock to say "
                "when the segment started: cue while the run is live, or move posts with `livetweet shift`"
            )
        segments = {s["id"]: s for s in self.store.segments(event_id)}
        if segment_id not in segments:
            raise DraftError(f'there is no segment "{segment_id}" (segments: {", ".join(segments) or "none"})')
        planned = segments[segment_id]["planned_start"]
        expected = planned + shift_for(self.store.shifts(event_id), planned)
        delta = timedelta(seconds=round((self.clock.now() - expected).total_seconds()))
        return delta, self.shift(delta, by, segment_id, event_id, action="cue")

    def post_now(self, draft_id: int, by: str) -> Draft:
        """Post this draft at once: an approved one before its time, or a missed one (a person decides)."""
        with self.store.begin() as conn:
            draft = self.store.get(draft_id, conn)
            now = self.clock.now()
            window = max(draft.valid_until - draft.at, timedelta(minutes=1))
            if draft.state not in (S.APPROVED, S.MISSED, S.FAILED):
                raise IllegalMove(
                    f"draft {draft.id} is {draft.state.value}: only an approved, missed or failed draft can be "
                    "posted now (approve it first)"
                )
            return self.store.transition(
                conn,
                draft,
                "post-now",
                actor=Actor.OPERATOR,
                by=by,
                at=now,
                changes={
                    "at": now,
                    "valid_until": now + window,
                    "approved_revision": draft.revision,
                    "approved_by": by,
                    "approved_at": now,
                    "next_attempt_at": None,
                },
            )

    def edit(
        self, draft_id: int, text: str, by: str, revision: int | None = None, seen_version: int | None = None
    ) -> tuple[Draft, list[str]]:
        """Replace the text with a new revision, back to pending; returns the hashtags added."""
        text = clean_text(text).strip()  # typed or pasted, from the CLI or the console: one normal form
        with self.store.begin() as conn:
            draft = self.store.get(draft_id, conn)
            if seen_version is not None and seen_version != draft.version:
                self.store.transition(
                    conn, draft, "edit", actor=Actor.OPERATOR, by=by, at=self.clock.now(), seen_version=seen_version
                )  # raises Conflict, with who changed it
            if draft.state not in EDITABLE:
                raise DraftError(f"draft {draft.id} is {draft.state.value}: it can no longer be edited")
            tagged = self.check_text(conn, draft.event_id, list(draft.wanted_hashtags), text, draft.id)
            now = self.clock.now()
            new_revision = draft.revision + 1
            self.store.add_revision(conn, draft.id, new_revision, tagged.text, by, now, "edit")
            edited = self.store.transition(
                conn,
                draft,
                "edit",
                actor=Actor.OPERATOR,
                by=by,
                at=now,
                expected_revision=revision,
                changes={
                    "revision": new_revision,
                    "text": tagged.text,
                    "weighted_length": tagged.parsed.weighted_length,
                    "hashtags": json.dumps(list(tagged.hashtags)),
                    **CLEAR_APPROVAL,
                },
                detail={"appended_hashtags": list(tagged.appended)} if tagged.appended else None,
            )
            return edited, list(tagged.appended)

    def check_text(
        self, conn: sa.Connection, event_id: str, wanted: list[str], text: str, draft_id: int | None = None
    ) -> Tagged:
        """The rules a template's output obeys, for a typed text; raise TextRefused if broken."""
        if not text:
            what = f" of draft {draft_id}" if draft_id else ""
            raise TextRefused(f"the new text{what} is empty: nothing was changed")
        tagged = tag_text(text, wanted)
        length = tagged.parsed.weighted_length
        if length > MAX_WEIGHTED_LENGTH:
            raise TextRefused(
                f"the new text is {length}/{MAX_WEIGHTED_LENGTH} weighted characters, "
                f"{length - MAX_WEIGHTED_LENGTH} too many: nothing was changed"
            )
        if tagged.missing:
            raise TextRefused(
                f"the new text lacks {', '.join(tagged.missing)}, and adding "
                f"{'it' if len(tagged.missing) == 1 else 'them'} would pass 280 characters: "
                "shorten it; nothing was changed"
            )
        if not tagged.parsed.valid:
            raise TextRefused("the new text contains characters X refuses: nothing was changed")
        other = self.same_text(conn, event_id, tagged.text, draft_id)
        if other is not None:
            raise TextRefused(
                f"draft {other.id} (slot {other.slot}) already has this text, and X refuses duplicate "
                "posts: nothing was changed"
            )
        return tagged

    def same_text(self, conn: sa.Connection, event_id: str, text: str, draft_id: int | None = None) -> Draft | None:
        """A live draft (not `draft_id`) whose text X would call a duplicate of `text`."""
        same = " ".join(text.split()).casefold()
        for other in self.store.drafts(event_id=event_id, conn=conn):
            live = other.id != draft_id and other.state not in (S.REJECTED, S.WITHDRAWN)
            if live and " ".join(other.text.split()).casefold() == same:
                return other
        return None

    def add_draft(
        self,
        conn: sa.Connection,
        *,
        event_id: str,
        slot: str,
        segment: str,
        source: str,
        template: str,
        tagged: Tagged,
        wanted: list[str],
        at: datetime,
        by: str,
        detail: dict[str, Any] | None = None,
    ) -> Draft:
        """A pending draft that no schedule slot made (a reshare, a composed line), audited."""
        now = self.clock.now()
        inserted = conn.execute(
            drafts_table.insert().values(
                event_id=event_id,
                slot=slot,
                segment=segment,
                source=source,
                template=template,
                state=S.PENDING.value,
                revision=1,
                text=tagged.text,
                planned_text=tagged.text,
                weighted_length=tagged.parsed.weighted_length,
                hashtags=json.dumps(list(tagged.hashtags)),
                wanted_hashtags=json.dumps(wanted),
                planned_at=at,
                at=at,
                valid_until=at + DEFAULT_VALID_FOR,
                reply_to=None,
                version=1,
                updated_at=now,
            )
        )
        draft_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        action = "reshare" if source == "dm" else source
        self.store.add_revision(conn, draft_id, 1, tagged.text, by, now, action)
        self.store.write_audit(
            conn,
            at=now,
            operator=by,
            action=action,
            draft_id=draft_id,
            event_id=event_id,
            to_state=S.PENDING,
            revision=1,
            detail=detail,
        )
        return self.store.get(draft_id, conn)


class InboxService:
    """Direct messages: kept once each, shown cleaned, reshared through the approval path."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.store = service.store
        self.clock = service.clock

    def poll(self, publisher: Publisher) -> PollResult:
        """Fetch what is new and keep each message once (by X's event id)."""
        result = PollResult()
        with self.store.engine.connect() as conn:
            # X's ids are numbers kept as text: compare them as numbers
            newest = conn.execute(sa.select(sa.func.max(sa.cast(inbox_table.c.dm_id, sa.BigInteger)))).scalar()
        newer_than = str(newest) if newest is not None else None
        try:
            messages, result.pages = publisher.fetch_direct_messages(newer_than)
        except RateLimited as exc:
            wait = self.clock.from_real(exc.retry_after) if exc.retry_after is not None else timedelta(minutes=1)
            result.retry_at = self.clock.now() + wait
            result.error = str(exc)
            return result
        except PublisherError as exc:
            result.error = str(exc)
            return result
        result.fetched = len(messages)
        result.stored = self.keep(messages)
        return result

    def keep(self, messages: list[IncomingMessage]) -> int:
        """Store messages not already kept; returns how many were new."""
        if not messages:
            return 0
        now = self.clock.now()
        unique = {m.id: m for m in messages}
        with self.store.begin() as conn:
            known: set[str] = set()
            chunk = list(unique)
            for i in range(0, len(chunk), 500):
                q = sa.select(inbox_table.c.dm_id).where(inbox_table.c.dm_id.in_(chunk[i : i + 500]))
                known.update(r[0] for r in conn.execute(q))
            rows = [
                {
                    "dm_id": m.id,
                    "sender_id": m.sender_id,
                    "sender_username": m.sender_username,
                    "text": clean_text(m.text),
                    "original": original_for_storage(m.text),
                    "received_at": m.created_at,
                    "conversation_id": m.conversation_id,
                    "media_keys": json.dumps(list(m.media_keys)),
                    "state": "new",
                    "draft_id": None,
                    "fetched_at": now,
                    "version": 1,
                }
                for m in sorted(unique.values(), key=lambda m: int(m.id))
                if m.id not in known
            ]
            if rows:
                conn.execute(inbox_table.insert(), rows)
            return len(rows)

    def messages(self, include_all: bool = False) -> list[Message]:
        q = sa.select(inbox_table).order_by(inbox_table.c.received_at, inbox_table.c.id)
        if not include_all:
            q = q.where(inbox_table.c.state == "new")
        with self.store.engine.connect() as conn:
            return [_message(r) for r in conn.execute(q).mappings()]

    def get(self, message_id: int, conn: sa.Connection | None = None) -> Message:
        if conn is None:
            with self.store.engine.connect() as c:
                return self.get(message_id, c)
        row = conn.execute(sa.select(inbox_table).where(inbox_table.c.id == message_id)).mappings().first()
        if row is None:
            raise InboxError(f"there is no message {message_id} in the inbox: `livetweet inbox --all` lists them")
        return _message(row)

    def dismiss(self, message_id: int, by: str) -> Message:
        with self.store.begin() as conn:
            message = self.get(message_id, conn)
            if message.state != "new":
                raise InboxError(f"message {message_id} is already {message.state}")
            self._set_state(conn, message, "dismissed")
            self.store.write_audit(
                conn,
                at=self.clock.now(),
                operator=by,
                action="dismiss",
                detail={"message": message_id, "dm_id": message.dm_id},
            )
            return self.get(message_id, conn)

    def reshare(
        self, message_id: int, by: str, at: datetime | None = None, text: str | None = None, event_id: str | None = None
    ) -> Draft:
        """A pending draft from the message, credited to its sender, in the segment running `at`."""
        event_id = self.service._event_id(event_id)
        event = self.store.event(event_id)
        assert event is not None
        when = at or self.clock.now()
        schedule = load_schedule(Path(event["schedule_path"]))
        composer = Composer(schedule)
        segment = _segment_at(schedule, self.store.shifts(event_id), when)
        wanted = wanted_hashtags(schedule, segment)
        with self.store.begin() as conn:
            message = self.get(message_id, conn)
            if message.state == "reshared":
                raise InboxError(f"message {message_id} was reshared already (draft {message.draft_id})")
            body = clean_text(text).strip() if text is not None else message.text.strip()
            if not body:
                raise InboxError(f"message {message_id} has no text to reshare: give one with --text")
            context = composer.context_for(segment, wanted)
            context["message"] = {"text": body, "sender": message.sender, "received_at": message.received_at}
            rendered = composer.render("dm_reshare", context)
            if isinstance(rendered, Problem):
                raise InboxError(f"the reshare template failed: {rendered}")
            tagged = tag_text(rendered, wanted)
            length = tagged.parsed.weighted_length
            if length > MAX_WEIGHTED_LENGTH or tagged.missing:
                over = max(length - MAX_WEIGHTED_LENGTH, 0)
                need = f"{over} characters too long" if over else f"too long to add {', '.join(tagged.missing)}"
                raise InboxError(
                    f"the reshare of message {message_id} would be {length}/{MAX_WEIGHTED_LENGTH} weighted "
                    f"characters, {need}: shorten the message with --text (nothing was cut, nothing was created)"
                )
            if not tagged.parsed.valid:
                raise InboxError(
                    f"the reshare of message {message_id} holds characters X refuses: give a text with --text"
                )
            twin = self.service.same_text(conn, event_id, tagged.text)
            if twin is not None:
                raise InboxError(
                    f"the reshare of message {message_id} would repeat draft {twin.id} ({twin.slot}) word for word, "
                    "and X refuses duplicate posts: dismiss it, or reshare it with another --text"
                )
            draft = self.service.add_draft(
                conn,
                event_id=event_id,
                slot=f"dm-{message.id}",
                segment=segment.id,
                source="dm",
                template="dm_reshare",
                tagged=tagged,
                wanted=wanted,
                at=when,
                by=by,
                detail={
                    "message": message.id,
                    "dm_id": message.dm_id,
                    "sender": message.sender,
                    "original": message.original,
                },
            )
            self._set_state(conn, message, "reshared", draft.id)
            return draft

    def _set_state(self, conn: sa.Connection, message: Message, state: str, draft_id: int | None = None) -> None:
        result = conn.execute(
            inbox_table.update()
            .where(inbox_table.c.id == message.id, inbox_table.c.state == message.state)
            .values(state=state, draft_id=draft_id, version=inbox_table.c.version + 1)
        )
        if result.rowcount != 1:
            raise InboxError(f"message {message.id} was changed by someone else at the same moment: look again")


def _message(row: sa.RowMapping) -> Message:
    return Message(
        id=row["id"],
        dm_id=row["dm_id"],
        sender_id=row["sender_id"],
        sender=row["sender_username"],
        text=row["text"],
        original=original_from_storage(row["original"]),
        received_at=row["received_at"],
        conversation_id=row["conversation_id"],
        media_keys=tuple(json.loads(row["media_keys"])),
        state=row["state"],
        draft_id=row["draft_id"],
    )


def _segment_at(schedule: Schedule, shifts: list[tuple[datetime | None, int]], when: datetime) -> Segment:
    """The segment running at `when` (with the operator's shifts), else the nearest one."""

    def start(seg: Segment) -> datetime:
        return seg.start + shift_for(shifts, seg.start)

    started = [s for s in schedule.segments if start(s) <= when]
    return started[-1] if started else schedule.segments[0]


def running_segment(service: Service, event_id: str, when: datetime) -> dict[str, Any]:
    """The segment running at `when` (shifts applied), or the first one before the event."""
    segments = service.store.segments(event_id)
    if not segments:
        raise DraftError("the event has no segments: load its schedule first")
    shifts = service.store.shifts(event_id)
    started = [s for s in segments if s["planned_start"] + shift_for(shifts, s["planned_start"]) <= when]
    return started[-1] if started else segments[0]


def as_posted(service: Service, text: str, draft_id: int | None = None, event_id: str | None = None) -> Tagged:
    """What `text` would become as a draft's new text (or, without a draft, as a composed post):
    the normal form with the hashtags livetweet adds. The console's counter shows this, so the
    length it shows is the length that is posted."""
    text = clean_text(text).strip()
    if draft_id is not None:
        return tag_text(text, list(service.store.get(draft_id).wanted_hashtags))
    event_id = service._event_id(event_id)
    return tag_text(text, json.loads(running_segment(service, event_id, service.clock.now())["hashtags"]))


def compose_draft(
    service: Service, text: str, by: str, at: datetime | None = None, event_id: str | None = None, approve: bool = True
) -> tuple[Draft, list[str]]:
    """What live posting mostly is: a line typed during the event, with the running segment's
    hashtags, checked like every draft, audited, and approved by its author at once.

    Returns the draft and the hashtags that were added.
    """
    text = clean_text(text)
    event_id = service._event_id(event_id)
    when = at or service.clock.now()
    segment = running_segment(service, event_id, when)
    wanted = json.loads(segment["hashtags"])
    now = service.clock.now()
    with service.store.begin() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(drafts_table).where(drafts_table.c.source == "compose")
        ).scalar_one()
        tagged = service.check_text(conn, event_id, wanted, text.strip())
        draft = service.add_draft(
            conn,
            event_id=event_id,
            slot=f"compose-{count + 1}",
            segment=segment["id"],
            source="compose",
            template="",
            tagged=tagged,
            wanted=wanted,
            at=when,
            by=by,
            detail={"appended_hashtags": list(tagged.appended)} if tagged.appended else None,
        )
        if approve:
            draft = service._approve(conn, draft, by, 1, now)
        return draft, list(tagged.appended)

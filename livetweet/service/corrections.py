"""Live corrections: the event runs late or early (shift, cue), or must stop at once (pause, resume).

A shift moves every unposted post still inside its window and is kept in the store, so that
a reload plans the next posts shifted too; a draft whose window closed stays closed. Its
preview (preview_shift, preview_cue) runs the same reads and checks and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..clock import show_time as _hm
from ..draft import Actor, Draft, DraftState
from ..errors import EventError, LiveControlError
from ..publishers.base import PublisherError
from ..store import Connection, EventRow, Pause, SegmentRow, shift_for

if TYPE_CHECKING:
    from .facade import Service

S = DraftState
POSTING_MARGIN = timedelta(hours=1)  # a store from before posting spans were kept: an hour before the start


def shift(
    service: Service,
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
    from ..plan.values import format_duration

    store = service.store
    event_id = service.resolve_event(event_id)
    with store.begin() as conn:
        now = service.clock.now()
        start, movable = _plan_shift(service, conn, event_id, delta, from_segment, now)
        store.add_shift(conn, event_id, start, int(delta.total_seconds()), by, now)
        moved = []
        for draft in movable:
            moved.append(
                (
                    draft,
                    store.transition(
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
            store.write_audit(
                conn,
                at=now,
                operator=by,
                action=action,
                event_id=event_id,
                reason=f"{format_duration(delta)}: no unposted post to move",
            )
        return moved


def preview_shift(
    service: Service, delta: timedelta, from_segment: str | None = None, event_id: str | None = None
) -> list[tuple[Draft, Draft]]:
    """What `shift` would do, as (before, after) pairs, changing nothing: the console shows it before a person confirms.

    Refused exactly when `shift` would be, with the same sentence.
    """
    store = service.store
    event_id = service.resolve_event(event_id)
    with store.begin() as conn:
        _, movable = _plan_shift(service, conn, event_id, delta, from_segment, service.clock.now())
    return [(d, replace(d, at=d.at + delta, valid_until=d.valid_until + delta)) for d in movable]


def _plan_shift(
    service: Service,
    conn: Connection,
    event_id: str,
    delta: timedelta,
    from_segment: str | None,
    now: datetime,
) -> tuple[datetime | None, list[Draft]]:
    """(the planned time the shift applies from, the drafts it moves), checked; writes nothing."""
    store = service.store
    event = store.event(event_id, conn)
    assert event is not None
    segments = store.segments(event_id, conn)
    shifts = store.shifts(event_id, conn)
    start: datetime | None = None
    position = 0
    if from_segment is not None:
        by_id = {s.id: s for s in segments}
        if from_segment not in by_id:
            known = ", ".join(by_id) or "none"
            raise EventError(f'there is no segment "{from_segment}" (segments: {known})')
        start = by_id[from_segment].planned_start
        position = by_id[from_segment].position
    drafts = store.drafts(event_id=event_id, conn=conn)
    # A draft whose window has closed stays closed: only a person's post-now reopens it.
    movable = [
        d
        for d in drafts
        if d.state in (S.PENDING, S.APPROVED) and (start is None or d.planned_at >= start) and d.valid_until >= now
    ]
    _check_shift(event, segments, shifts, drafts, movable, delta, start, position, from_segment)
    return start, movable


def _check_shift(
    event: EventRow,
    segments: list[SegmentRow],
    shifts: list[tuple[datetime | None, int]],
    drafts: list[Draft],
    movable: list[Draft],
    delta: timedelta,
    start: datetime | None,
    position: int,
    from_segment: str | None,
) -> None:
    """Refuse a shift or cue that would make nonsense of the event's timeline."""
    from ..plan.values import format_duration

    zone = ZoneInfo(event.timezone)
    length = event.ends_at - event.starts_at
    what = "cue" if from_segment and delta else "shift"
    if abs(delta) > length:
        raise LiveControlError(
            f"a {what} of {format_duration(delta)} is more than the event lasts ({format_duration(length)}): "
            "nothing was moved; check the segment and the time"
        )
    span_start = event.posts_from or event.starts_at - POSTING_MARGIN
    span_end = event.posts_until or event.ends_at
    for d in movable:
        new_at = d.at + delta
        if not span_start <= new_at <= span_end:
            raise LiveControlError(
                f"it would move {d.slot} (draft {d.id}) to {_hm(new_at, zone)}, outside the event's posting span "
                f"({_hm(span_start, zone)}-{_hm(span_end, zone)}): nothing was moved. If the event really runs "
                "that late, widen posts_from/posts_until in the schedule and `livetweet load` it again"
            )
    if start is None or position == 0:
        return
    previous = next(s for s in segments if s.position == position - 1)
    previous_start = previous.planned_start + shift_for(shifts, previous.planned_start)
    this_start = start + shift_for(shifts, start) + delta
    if this_start < previous_start:
        raise LiveControlError(
            f"segment {from_segment} would start at {_hm(this_start, zone)}, before segment {previous.id} "
            f"({_hm(previous_start, zone)}) that comes before it: nothing was moved"
        )
    earlier_ids = {s.id for s in segments if s.position < position}
    out = [d for d in drafts if d.state in (S.POSTED, S.POSTING) and d.segment in earlier_ids]
    if out and movable:
        last_out = max(out, key=lambda d: d.posted_at or d.at)
        when = last_out.posted_at or last_out.at
        first = min(movable, key=lambda d: d.at)
        if first.at + delta < when:
            raise LiveControlError(
                f"it would move {first.slot} (draft {first.id}) to {_hm(first.at + delta, zone)}, before "
                f"{last_out.slot} of the earlier segment {last_out.segment}, already out at {_hm(when, zone)}: "
                "nothing was moved"
            )


def cue(
    service: Service, segment_id: str, by: str, event_id: str | None = None
) -> tuple[timedelta, list[tuple[Draft, Draft]]]:
    """ "This segment started now": shift it and what follows by how late (or early) it is.

    "Now" is the event's clock: the running run's (live or a rehearsal's). With no run
    on this store there is no such clock, and cue refuses rather than guess.
    """
    event_id = service.resolve_event(event_id)
    delta = _cue_delta(service, segment_id, event_id)
    return delta, shift(service, delta, by, segment_id, event_id, action="cue")


def preview_cue(
    service: Service, segment_id: str, event_id: str | None = None
) -> tuple[timedelta, list[tuple[Draft, Draft]]]:
    """What `cue` would do now, changing nothing: how late the segment is, and the posts it would move."""
    event_id = service.resolve_event(event_id)
    delta = _cue_delta(service, segment_id, event_id)
    return delta, preview_shift(service, delta, segment_id, event_id)


def _cue_delta(service: Service, segment_id: str, event_id: str) -> timedelta:
    """How late (or early) `segment_id` starts if it starts now, by the event's clock."""
    store = service.store
    if not service.clock_is_live:
        raise LiveControlError(
            f"no `livetweet run` is posting from {store.display}, so there is no event clock to say "
            "when the segment started: cue while the run is live, or move posts with `livetweet shift`"
        )
    segments = {s.id: s for s in store.segments(event_id)}
    if segment_id not in segments:
        raise EventError(f'there is no segment "{segment_id}" (segments: {", ".join(segments) or "none"})')
    planned = segments[segment_id].planned_start
    expected = planned + shift_for(store.shifts(event_id), planned)
    return timedelta(seconds=round((service.clock.now() - expected).total_seconds()))


def pause(service: Service, by: str, reason: str | None = None) -> Pause:
    """Stop everything not yet claimed, at once, until `resume`."""
    store = service.store
    with store.begin() as conn:
        current = store.paused(conn, lock=True)
        if current:
            raise LiveControlError(f"posting is already paused (by {current.by})")
        now = service.clock.now()
        value = Pause(by, now.isoformat(), reason or "", "operator")
        store.set_paused(conn, value)
        store.write_audit(conn, at=now, operator=by, action="pause", reason=reason)
        return value


def resume(service: Service, by: str, verify: Callable[[], str] | None = None) -> Pause:
    """Go on posting; after X refused our credentials, only once `verify` shows X accepts them.

    `verify` re-reads the credentials and asks X who we are; it raises PublisherError
    while X still refuses them. Returns the pause that was lifted.
    """
    store = service.store
    current = store.paused()
    if not current:
        raise LiveControlError("posting is not paused")
    if current.kind == "credentials":
        if verify is None:
            raise LiveControlError(
                "posting was paused because X refused the credentials: resume from the console or with "
                "`livetweet resume`, which checks them against X first"
            )
        try:
            verify()
        except PublisherError as exc:
            raise LiveControlError(
                f"X still refuses the credentials ({exc}): nothing was resumed. Put the account's current "
                "keys in .env (X_API_KEY, X_API_KEY_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET), then "
                "`livetweet resume` again"
            ) from exc
    with store.begin() as conn:
        now_paused = store.paused(conn, lock=True)
        if not now_paused:
            raise LiveControlError("posting is not paused (someone resumed it meanwhile)")
        store.set_paused(conn, None)
        store.write_audit(conn, at=service.clock.now(), operator=by, action="resume")
        return now_paused

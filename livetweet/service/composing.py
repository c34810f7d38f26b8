"""Drafts no schedule slot made: a line typed during the event, or a direct message reshared.

Such a draft carries the hashtags of the segment running when it is written, obeys the
rules a template's output obeys, and is audited like every other draft.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..draft import Draft
from ..errors import EventError
from ..inbox import clean_text
from ..store import Connection, NewDraft, shift_for
from .actions import approve_draft
from .texts import check_text

if TYPE_CHECKING:
    from ..plan.compose import Tagged
    from .facade import Service


def segment_started(service: Service, event_id: str, when: datetime) -> dict[str, Any] | None:
    """The segment running at `when` (shifts applied); None before the first one starts."""
    segments = service.store.segments(event_id)
    shifts = service.store.shifts(event_id)
    started = [s for s in segments if s["planned_start"] + shift_for(shifts, s["planned_start"]) <= when]
    return started[-1] if started else None


def running_segment(service: Service, event_id: str, when: datetime) -> dict[str, Any]:
    """The segment whose hashtags a post at `when` carries: the running one, or the first before the event."""
    segments = service.store.segments(event_id)
    if not segments:
        raise EventError("the event has no segments: load its schedule first")
    return segment_started(service, event_id, when) or segments[0]


def as_posted(service: Service, text: str, draft_id: int | None = None, event_id: str | None = None) -> Tagged:
    """What `text` would become as a draft's new text (or, without a draft, as a composed post):
    the normal form with the hashtags livetweet adds. The console's counter shows this, so the
    length it shows is the length that is posted."""
    from ..plan.compose import tag_text

    text = clean_text(text).strip()
    if draft_id is not None:
        return tag_text(text, list(service.store.get(draft_id).wanted_hashtags))
    event_id = service.resolve_event(event_id)
    return tag_text(text, json.loads(running_segment(service, event_id, service.clock.now())["hashtags"]))


def compose_draft(
    service: Service, text: str, by: str, at: datetime | None = None, event_id: str | None = None, approve: bool = True
) -> tuple[Draft, list[str]]:
    """What live posting mostly is: a line typed during the event, with the running segment's
    hashtags, checked like every draft, audited, and approved by its author at once.

    Returns the draft and the hashtags that were added.
    """
    text = clean_text(text)
    event_id = service.resolve_event(event_id)
    when = at or service.clock.now()
    segment = running_segment(service, event_id, when)
    wanted = json.loads(segment["hashtags"])
    now = service.clock.now()
    store = service.store
    with store.begin() as conn:
        count = store.count_by_source(conn, "compose")
        tagged = check_text(store, conn, event_id, wanted, text.strip())
        draft = add_draft(
            service,
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
            draft = approve_draft(store, conn, draft, by, 1, now)
        return draft, list(tagged.appended)


def add_draft(
    service: Service,
    conn: Connection,
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
    from ..plan.schedule import DEFAULT_VALID_FOR

    action = "reshare" if source == "dm" else source
    new = NewDraft(
        slot=slot,
        segment=segment,
        source=source,
        template=template,
        text=tagged.text,
        planned_text=tagged.text,
        weighted_length=tagged.parsed.weighted_length,
        hashtags=tuple(tagged.hashtags),
        wanted_hashtags=tuple(wanted),
        planned_at=at,
        at=at,
        valid_until=at + DEFAULT_VALID_FOR,
        reply_to=None,
    )
    created = service.store.create_drafts(
        conn, event_id, [new], by=by, at=service.clock.now(), cause=action, action=action, detail=detail
    )
    return created[0]

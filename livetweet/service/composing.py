"""Drafts no schedule slot made: a line typed during the event, or a direct message reshared.

Such a draft carries the hashtags of the segment running when it is written, obeys the
rules a template's output obeys, and is audited like every other draft.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..clock import show_time
from ..draft import DEFAULT_ACCOUNT, Attachment, Draft, DraftState, UnknownDraft
from ..errors import EventError
from ..inbox import clean_text
from ..store import Connection, NewDraft, SegmentRow, shift_for
from .actions import COMPOSED_NOW, HOLD, approve_draft
from .texts import check_media, check_text

if TYPE_CHECKING:
    from ..plan.compose import Tagged
    from .facade import Service

PAST_TOLERANCE = timedelta(seconds=1)  # a time typed as "now" is not refused for the moment it took
# A composed reply answers a post that is out, or one still planned (it goes out after it).
REPLY_TARGETS = frozenset({DraftState.POSTED, DraftState.POSTING, DraftState.APPROVED, DraftState.PENDING})


def segment_started(service: Service, event_id: str, when: datetime) -> SegmentRow | None:
    """The segment running at `when` (shifts applied); None before the first one starts."""
    segments = service.store.segments(event_id)
    shifts = service.store.shifts(event_id)
    started = [s for s in segments if s.planned_start + shift_for(shifts, s.planned_start) <= when]
    return started[-1] if started else None


def running_segment(service: Service, event_id: str, when: datetime) -> SegmentRow:
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
    return tag_text(text, list(running_segment(service, event_id, service.clock.now()).hashtags))


def compose_draft(
    service: Service,
    text: str,
    by: str,
    at: datetime | None = None,
    event_id: str | None = None,
    approve: bool = True,
    reply_to: int | None = None,
    hold: timedelta = timedelta(0),
    media: tuple[Attachment, ...] = (),
) -> tuple[Draft, list[str]]:
    """What live posting mostly is: a line typed during the event, with the running segment's
    hashtags, checked like every draft, audited, and approved by its author at once.

    `media`: the images it carries (kept in the store, `livetweet.media.keep`), checked with its
    text; approving at once needs each one's alt text, saving it pending does not.

    Without `at` it goes now, after `hold` (time for its author to call it back with
    `cancel_post`); `reply_to` (a draft id) makes it a reply to that post, posted or still
    planned: it goes out after that post, never before. `approve=False` saves it pending.
    An `at` already past is refused when "now" is the event's clock (a run holds the store);
    without a run there is no such clock to compare with. Returns the draft and the hashtags added.
    """
    if hold < timedelta(0):
        raise ValueError("a hold cannot be negative")
    text = clean_text(text)
    event_id = service.resolve_event(event_id)
    now = service.clock.now()
    if at is not None and service.clock_is_live and at < now - PAST_TOLERANCE:
        zone = service.zone(event_id)
        raise EventError(
            f"{show_time(at, zone)} has passed (it is {show_time(now, zone)}): nothing was composed; "
            "give a time still ahead, or post it now"
        )
    composed_now = at is None and approve
    when = at or (now + hold if approve else now)
    parent = _parent(service, reply_to, event_id) if reply_to is not None else None
    if parent is not None and parent.state != DraftState.POSTED and parent.at > when:
        when = parent.at  # a reply never goes before the post it answers
    segment = running_segment(service, event_id, when)
    wanted = list(segment.hashtags)
    store = service.store
    with store.begin() as conn:
        count = store.count_by_source(conn, "compose")
        account = parent.account if parent is not None else primary_account(service, event_id)  # a reply: its parent's
        tagged = check_text(store, conn, event_id, wanted, text.strip(), account=account)
        check_media(store, conn, media, tagged.text, "{}; nothing was composed", require_alt=approve)
        detail: dict[str, Any] = {}
        if tagged.appended:
            detail["appended_hashtags"] = list(tagged.appended)
        if parent is not None:
            detail["reply_to_draft"] = parent.id
        draft = add_draft(
            service,
            conn,
            event_id=event_id,
            slot=f"compose-{count + 1}",
            segment=segment.id,
            source="compose",
            template="",
            tagged=tagged,
            wanted=wanted,
            at=when,
            by=by,
            detail=detail or None,
            reply_to=parent.slot if parent is not None else None,
            media=media,
            account=account,
        )
        if approve:
            sent = {HOLD: hold.total_seconds(), COMPOSED_NOW: True} if composed_now else None
            draft = approve_draft(store, conn, draft, by, 1, now, detail=sent)
        return draft, list(tagged.appended)


def _parent(service: Service, draft_id: int, event_id: str) -> Draft:
    """The post a composed reply answers: of the same event, posted or still to be posted."""
    try:
        parent = service.store.get(draft_id)
    except UnknownDraft:
        raise EventError(f"there is no draft {draft_id} to reply to: nothing was composed") from None
    if parent.event_id != event_id:
        raise EventError(
            f'draft {parent.id} belongs to event "{parent.event_id}", not "{event_id}": a reply answers a post '
            "of its own event; nothing was composed"
        )
    if parent.state not in REPLY_TARGETS:
        raise EventError(
            f"draft {parent.id} ({parent.slot}) is {parent.state.value} and will not be posted, so a reply to it "
            "could never go out: reply to a posted or planned post; nothing was composed"
        )
    return parent


def primary_account(service: Service, event_id: str) -> str:
    """Where a typed line goes: the event's X account (its first account when it has none on X)."""
    accounts = list(service.accounts(event_id).values())
    return next((a.id for a in accounts if a.network == "x"), accounts[0].id if accounts else DEFAULT_ACCOUNT)


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
    reply_to: str | None = None,
    media: tuple[Attachment, ...] = (),
    account: str | None = None,
) -> Draft:
    """A pending draft that no schedule slot made (a reshare, a composed line), audited; `media` are
    its images, already kept in the store (the caller checks them)."""
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
        reply_to=reply_to,
        media=media,
        account=account or primary_account(service, event_id),
    )
    created = service.store.create_drafts(
        conn, event_id, [new], by=by, at=service.clock.now(), cause=action, action=action, detail=detail
    )
    return created[0]

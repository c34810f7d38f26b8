"""Planning a schedule into the store: the first load, and every load after a change.

Loading the same files twice changes nothing. A reload never replaces words a person wrote
(an edit, a compose, a reshare) unless asked to, and leaves a draft alone once it is approved
or further on. The planning pipeline (YAML, Jinja2, twitter-text) is imported by `load`
alone, so that the commands that do not plan start without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..draft import MODES, Actor, Attachment, Draft, DraftState
from ..errors import EventError, LivetweetError, ScheduleError, deferred_interrupts, interrupt_point
from ..store import (
    Connection,
    EventAccount,
    EventRow,
    NewDraft,
    SegmentRow,
    Store,
    accounts_json,
    media_json,
    shift_for,
)
from .actions import CLEAR_APPROVAL, approve_draft

if TYPE_CHECKING:
    from ..media import Encoded
    from ..plan.compose import Post
    from ..plan.media import CardText
    from .facade import Service

S = DraftState
AUTO_OPERATOR = "auto"
SCHEDULE_OPERATOR = "schedule"


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


def load(
    service: Service, schedule_path: Path, mode: str = "approval", by: str | None = None, replace_edits: bool = False
) -> LoadReport:
    """Plan a schedule into the store, in one transaction.

    A draft whose text a person wrote keeps it, unless `replace_edits` says to take the
    schedule's text instead.
    """
    from ..media import reencode_file
    from ..plan.check import check_schedule, delivery_lengths
    from ..plan.compose import wanted_hashtags

    if mode not in MODES:
        raise LivetweetError(f'unknown mode "{mode}": use one of {", ".join(MODES)}')
    with deferred_interrupts():  # a Ctrl-C during a load rolls it back, never lost nor half-committed
        # each image re-encoded once, here, and each quote card drawn
        report = check_schedule(schedule_path, read_media=reencode_file, draw_card=draw_card)
        if report.schedule is None or not report.ok:
            raise ScheduleError(report.problems)
        schedule = report.schedule
        event = schedule.event
        store = service.store
        now = service.clock.now()
        actor = by or SCHEDULE_OPERATOR
        result = LoadReport(event.id, mode)
        with store.begin() as conn:
            row = EventRow(
                id=event.id,
                title=event.title,
                account=event.account,
                timezone=event.timezone,
                schedule_path=str(schedule_path.resolve()),
                mode=mode,
                starts_at=event.start,
                ends_at=event.end,
                posts_from=event.posts_from,
                posts_until=event.posts_until,
                loaded_at=now,
                x_usd_per_day=event.budget.x_usd_per_day if event.budget is not None else None,
                accounts=accounts_json(
                    [EventAccount(a.id, a.network, a.handle, a.max_chars, a.lang) for a in schedule.accounts]
                ),
            )
            if store.event(event.id, conn) is None:
                _refuse_a_renamed_event(store, conn, event.id, row.schedule_path)
                store.add_event(conn, row)
                store.write_audit(
                    conn,
                    at=now,
                    operator=actor,
                    action="event-created",
                    event_id=event.id,
                    detail={"mode": mode, "schedule": row.schedule_path},
                )
            else:
                store.update_event(conn, row)
            # cue, shift and the console need the segments
            segments = [
                SegmentRow(
                    id=seg.id,
                    title=seg.title,
                    planned_start=seg.start,
                    planned_end=seg.end,
                    hashtags=tuple(wanted_hashtags(schedule, seg)),
                    position=i,
                )
                for i, seg in enumerate(schedule.segments)
            ]
            store.replace_segments(conn, event.id, segments)
            shifts = store.shifts(event.id, conn)
            existing = {
                (d.slot, d.account): d for d in store.drafts(event_id=event.id, conn=conn) if d.source == "schedule"
            }
            planned: set[tuple[str, str]] = set()
            new_drafts: list[NewDraft] = []
            for post in report.posts:
                slot = post.slot
                moved_by = shift_for(shifts, slot.at)
                media = _keep_media(store, conn, post)
                base = post
                for account in schedule.accounts_of(slot):  # one delivery per slot and account (in its language)
                    planned.add((slot.id, account.id))
                    post = report.post_for(base, account.network, account.lang)  # its network's and language's text
                    length = delivery_lengths(post, account)[0]
                    draft = existing.get((slot.id, account.id))
                    if draft is None:
                        new_drafts.append(
                            NewDraft(
                                slot=slot.id,
                                segment=slot.segment,
                                source="schedule",
                                template=slot.template,
                                text=post.text,
                                planned_text=post.text,
                                weighted_length=length,
                                hashtags=tuple(post.hashtags),
                                wanted_hashtags=tuple(post.wanted_hashtags),
                                planned_at=slot.at,
                                at=slot.at + moved_by,
                                valid_until=slot.valid_until + moved_by,
                                reply_to=slot.reply_to,
                                media=media,
                                account=account.id,
                            )
                        )
                        continue
                    plan = {
                        "segment": slot.segment,
                        "template": slot.template,
                        "planned_text": post.text,
                        "planned_at": slot.at,
                        "at": slot.at + moved_by,
                        "valid_until": slot.valid_until + moved_by,
                        "reply_to": slot.reply_to,
                        "wanted_hashtags": json.dumps(list(post.wanted_hashtags)),
                    }
                    _reload(
                        store,
                        conn,
                        draft,
                        post.text,
                        length,
                        list(post.hashtags),
                        plan,
                        actor,
                        now,
                        result,
                        replace_edits,
                        media,
                    )
            result.created = store.create_drafts(
                conn, event.id, new_drafts, by=actor, at=now, cause="load", action="create"
            )
            planned_slots = {slot_id for slot_id, _ in planned}
            for key, draft in existing.items():
                if key not in planned and draft.state not in (S.POSTED, S.POSTING, S.WITHDRAWN):
                    result.withdrawn.append(
                        store.transition(
                            conn,
                            draft,
                            "withdraw",
                            actor=Actor.SCHEDULE,
                            by=actor,
                            at=now,
                            reason="its slot is no longer in the schedule"
                            if key[0] not in planned_slots
                            else f'its slot no longer posts to account "{key[1]}"',
                        )
                    )
                elif key not in planned and draft.state != S.WITHDRAWN:
                    result.untouched.append((draft, f"its slot left the schedule but it is {draft.state.value}"))
            if mode == "auto":
                # New texts are approved by "auto"; drafts an operator holds (or edited) stay held.
                for draft in result.created + result.revised + result.restored:
                    if draft in result.revised and _held_by_a_person(store, conn, draft.id):
                        continue
                    current = store.get(draft.id, conn)
                    result.auto_approved.append(
                        approve_draft(store, conn, current, AUTO_OPERATOR, None, now, actor=Actor.SCHEDULE)
                    )
            interrupt_point()  # the last moment to stop: the transaction is not committed yet
    service.forget_accounts(event.id)
    return result


def draw_card(text: CardText) -> Encoded:
    """A slot's quote card drawn and re-encoded as any image is, ready to be kept and posted."""
    from ..cards import draw
    from ..media import reencode

    return reencode(draw(text), "quote card")


def _keep_media(store: Store, conn: Connection, post: Post) -> tuple[Attachment, ...]:
    """The post's images, re-encoded by `check`, kept in the store in the load's transaction."""
    from ..media import attachment

    kept = []
    for image in post.media:
        encoded = image.encoded
        assert encoded is not None, "load checks with a media reader"
        sha = store.put_media(conn, encoded.data, encoded.kind, encoded.width, encoded.height)
        kept.append(attachment(sha, encoded, image.file, image.alt))
    return tuple(kept)


def _held_by_a_person(store: Store, conn: Connection, draft_id: int) -> bool:
    """Is the draft pending because a person held it (unapprove) or rewrote it (edit)?"""
    for entry in reversed(store.audit(draft_id, conn)):
        if entry.action in ("unapprove", "edit", "cancel", "unreject"):
            return True
        if entry.action in ("approve", "create", "restore", "post-now"):
            return False
    return False


def _refuse_a_renamed_event(store: Store, conn: Connection, event_id: str, path: str) -> None:
    """A new event id in a schedule file already loaded would plan every post a second time,
    under the new id: say so instead of doubling the event's posts."""
    for other in store.event_ids_from(conn, path):
        raise EventError(
            f'this store already holds event "{other}" from {path}; the file now says '
            f'"{event_id}". Loading it would plan every post twice: put the id back to '
            f'"{other}", or load the renamed event into a new store with --db'
        )


def _reload(
    store: Store,
    conn: Connection,
    draft: Draft,
    text: str,
    length: int,
    hashtags: list[str],
    plan: dict[str, Any],
    by: str,
    now: datetime,
    result: LoadReport,
    replace_edits: bool = False,
    media: tuple[Attachment, ...] = (),
) -> None:
    """Bring one draft of the schedule up to the schedule's plan, as far as its state allows.

    The images are part of the words: a change of the schedule's images (a file, an alt text)
    makes a new revision as a change of its text does. A revision a person wrote keeps its
    images with its text (the store keeps no planned images beside it), unless `replace_edits`.
    """
    author, cause = store.revision_author(conn, draft.id, draft.revision)
    by_person = cause not in ("load", "reload")
    media_changed = media != draft.media and (not by_person or replace_edits)
    text_changed = text != draft.planned_text or (replace_edits and by_person and text != draft.text) or media_changed
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
            "media": media_json(media),
            **CLEAR_APPROVAL,
        }
        store.add_revision(conn, draft.id, draft.revision + 1, text, by, now, "reload")
        result.restored.append(
            store.transition(
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
        what = "images" if media_changed and text == draft.planned_text else "text"
        what = what if text_changed else "time" if time_changed else "plan"
        result.untouched.append((draft, f"the schedule changed its {what}, but it is {draft.state.value}"))
        return
    changes: dict[str, Any] = dict(plan)
    action = "reschedule"
    if text_changed and by_person and not replace_edits:
        # A person's words are not overwritten by a reload: say so, and how to take the schedule's.
        kept = store.transition(
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
            revision=draft.revision + 1,
            text=text,
            weighted_length=length,
            hashtags=json.dumps(hashtags),
            media=media_json(media),
        )
        store.add_revision(conn, draft.id, draft.revision + 1, text, by, now, "reload")
        action = "reload"
    moved = store.transition(
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

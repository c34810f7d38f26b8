"""An operator's actions on one draft: approve, unapprove, reject, post now, edit, and their undo.

Each is one store transaction through `Store.transition`, which checks the move against
the table of actions and the version the operator saw, and audits it under their name.

A post-now (or a line composed to go now) may wait a short hold before it is due, so that
the person who pressed the button can still call it back (`cancel_post`); the hold and the
time the draft had before are kept in the audit row, so the undo needs nothing more.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..clock import show_time
from ..draft import EDITABLE, Actor, Attachment, Draft, DraftError, DraftState, IllegalMove
from ..inbox import clean_text
from ..store import Connection, Store, media_json
from .texts import check_media, check_text, same_text

if TYPE_CHECKING:
    from .facade import Service

S = DraftState
CLEAR_APPROVAL: dict[str, Any] = {"approved_revision": None, "approved_by": None, "approved_at": None}
# In the audit row of a post-now, or of the approval of a line composed to go now: the hold it was
# given (seconds), and (post-now) the time and window the draft had before, which a cancel restores.
HOLD = "hold_seconds"
COMPOSED_NOW = "composed_now"
PREVIOUS_AT, PREVIOUS_UNTIL = "previous_at", "previous_valid_until"


def approve(service: Service, draft_id: int, by: str, revision: int | None, seen_version: int | None) -> Draft:
    with service.store.begin() as conn:
        draft = service.store.get(draft_id, conn)
        return approve_draft(service.store, conn, draft, by, revision, service.clock.now(), seen_version)


def approve_all(
    service: Service, targets: list[tuple[int, int | None]], by: str, all_accounts: bool = False
) -> list[Draft]:
    """Approve several drafts in one transaction: all of them, or (on the first refusal) none.

    With `all_accounts`, each named draft brings its slot's deliveries on the other accounts that
    wait for approval (pending, or approved at an older revision); the audit of each says which
    accounts were approved together, and through which draft."""
    store = service.store
    with store.begin() as conn:
        now = service.clock.now()
        approved: list[Draft] = []
        done: set[int] = set()
        for draft_id, revision in targets:
            draft = store.get(draft_id, conn)
            if all_accounts:
                approved.extend(_approve_everywhere(store, conn, draft, by, revision, now, done))
            else:
                approved.append(approve_draft(store, conn, draft, by, revision, now))
        return approved


def approve_everywhere(
    service: Service, draft_id: int, by: str, revision: int | None, seen_version: int | None
) -> list[Draft]:
    """Approve one draft (as read at `seen_version`) and its slot's deliveries on the other accounts."""
    with service.store.begin() as conn:
        draft = service.store.get(draft_id, conn)
        return _approve_everywhere(service.store, conn, draft, by, revision, service.clock.now(), set(), seen_version)


def _approve_everywhere(
    store: Store,
    conn: Connection,
    draft: Draft,
    by: str,
    revision: int | None,
    now: datetime,
    done: set[int],
    seen_version: int | None = None,
) -> list[Draft]:
    others = [
        d
        for d in store.deliveries_of(conn, draft.event_id, draft.slot)
        if d.id != draft.id and d.id not in done and _awaits_approval(d)
    ]
    together = {"all_accounts": [draft.account, *(d.account for d in others)], "through": draft.id}
    approved = []
    if draft.id not in done:
        approved.append(approve_draft(store, conn, draft, by, revision, now, seen_version, detail=together))
        done.add(draft.id)
    for other in others:
        approved.append(approve_draft(store, conn, other, by, None, now, detail=together))
        done.add(other.id)
    return approved


def _awaits_approval(draft: Draft) -> bool:
    """A delivery that an approval of its whole slot takes along."""
    return draft.state == S.PENDING or (draft.state == S.APPROVED and draft.approved_revision != draft.revision)


def approve_draft(
    store: Store,
    conn: Connection,
    draft: Draft,
    by: str,
    revision: int | None,
    now: datetime,
    seen_version: int | None = None,
    actor: Actor = Actor.OPERATOR,
    detail: dict[str, Any] | None = None,
) -> Draft:
    """Approve `draft` as read in this transaction: by a person, or by auto mode's load."""
    if draft.state == S.MISSED:
        raise IllegalMove(
            f"draft {draft.id} is missed: it cannot be approved (its window has closed); "
            f"`livetweet post-now {draft.id}` posts it anyway"
        )
    unchanged_since_seen = seen_version in (None, draft.version)
    if draft.state == S.APPROVED and unchanged_since_seen and revision in (None, draft.revision):
        raise DraftError(
            f"draft {draft.id} is already approved (revision {draft.revision}, by {draft.approved_by}): nothing to do"
        )
    if draft.media:  # every image needs its alt text before anyone (or auto mode) approves the post
        check_media(
            store, conn, draft.media, draft.text,
            f"draft {draft.id} cannot be approved: {{}}; write the alt text with `livetweet edit {draft.id} "
            "--alt TEXT` (one --alt per image, in order)",
            known=draft.media,
        )  # fmt: skip
    return store.transition(
        conn,
        draft,
        "approve",
        actor=actor,
        by=by,
        at=now,
        expected_revision=revision,
        seen_version=seen_version,
        changes={"approved_revision": draft.revision, "approved_by": by, "approved_at": now},
        detail=detail,
    )


def unapprove(service: Service, draft_id: int, by: str, seen_version: int | None) -> Draft:
    with service.store.begin() as conn:
        draft = service.store.get(draft_id, conn)
        if draft.state != S.APPROVED:
            raise IllegalMove(f"draft {draft.id} is {draft.state.value}: only an approved draft can be unapproved")
        return service.store.transition(
            conn,
            draft,
            "unapprove",
            actor=Actor.OPERATOR,
            by=by,
            at=service.clock.now(),
            seen_version=seen_version,
            changes=dict(CLEAR_APPROVAL),
        )


def reject(service: Service, draft_id: int, by: str, reason: str | None, seen_version: int | None) -> Draft:
    with service.store.begin() as conn:
        draft = service.store.get(draft_id, conn)
        return service.store.transition(
            conn,
            draft,
            "reject",
            actor=Actor.OPERATOR,
            by=by,
            at=service.clock.now(),
            reason=reason or None,
            seen_version=seen_version,
            changes=dict(CLEAR_APPROVAL),
        )


def post_now(service: Service, draft_id: int, by: str, hold: timedelta = timedelta(0)) -> Draft:
    """A person decides: the draft is due after `hold` (time to call it back), with a window as long as it had."""
    if hold < timedelta(0):
        raise ValueError("a hold cannot be negative")
    with service.store.begin() as conn:
        draft = service.store.get(draft_id, conn)
        now = service.clock.now()
        window = max(draft.valid_until - draft.at, timedelta(minutes=1))
        if draft.state not in (S.APPROVED, S.MISSED, S.FAILED):
            raise IllegalMove(
                f"draft {draft.id} is {draft.state.value}: only an approved, missed or failed draft can be "
                "posted now (approve it first)"
            )
        due = now + hold
        return service.store.transition(
            conn,
            draft,
            "post-now",
            actor=Actor.OPERATOR,
            by=by,
            at=now,
            changes={
                "at": due,
                "valid_until": due + window,
                "approved_revision": draft.revision,
                "approved_by": by,
                "approved_at": now,
                "next_attempt_at": None,
            },
            detail={
                HOLD: hold.total_seconds(),
                PREVIOUS_AT: draft.at.isoformat(),
                PREVIOUS_UNTIL: draft.valid_until.isoformat(),
            },
        )


def standalone(service: Service, draft_id: int, by: str) -> Draft:
    """A reply the network would not take (X's reply restriction) goes out now as a post of its own."""
    with service.store.begin() as conn:
        draft = service.store.get(draft_id, conn)
        if not draft.reply_to:
            raise IllegalMove(f"draft {draft.id} is not a reply: `livetweet post-now {draft.id}` posts it again")
        if draft.state not in (S.FAILED, S.MISSED):
            raise IllegalMove(
                f"draft {draft.id} is {draft.state.value}: only a failed or missed reply can be sent as a "
                "standalone post"
            )
        now = service.clock.now()
        window = max(draft.valid_until - draft.at, timedelta(minutes=1))
        return service.store.transition(
            conn,
            draft,
            "standalone",
            actor=Actor.OPERATOR,
            by=by,
            at=now,
            reason=f"sent as a post of its own, no longer a reply to {draft.reply_to}",
            changes={
                "reply_to": None,
                "at": now,
                "valid_until": now + window,
                "approved_revision": draft.revision,
                "approved_by": by,
                "approved_at": now,
                "next_attempt_at": None,
            },
            detail={"was_reply_to": draft.reply_to, PREVIOUS_AT: draft.at.isoformat()},
        )


def held_until(service: Service, draft: Draft, conn: Connection | None = None) -> datetime | None:
    """When a person's post-now or compose-now of `draft` stops being theirs to call back; None if it is not one.

    The console shows its undo button until then. It is the draft's time, as long as the last
    move of the draft was that post-now (or the approval of the composed line).
    """
    if draft.state != S.APPROVED:
        return None
    sent = _sent_now(service.store, conn, draft)
    return draft.at if sent is not None else None


def _sent_now(store: Store, conn: Connection | None, draft: Draft) -> dict[str, Any] | None:
    """The audit detail of the post-now or compose-now that made `draft` what it is, if that was its last move."""
    moves = [e for e in store.audit(draft.id, conn) if e.to_state is not None]
    if not moves:
        return None
    last = moves[-1]
    if last.action == "post-now" or (last.action == "approve" and last.detail.get(COMPOSED_NOW)):
        return last.detail
    return None


def cancel_post(service: Service, draft_id: int, by: str, seen_version: int | None) -> Draft:
    """Call back a post-now or a compose-now while its hold lasts: the draft waits, pending, with its words.

    Its time goes back to the one it had before the post-now when that is still ahead.
    """
    store = service.store
    with store.begin() as conn:
        draft = store.get(draft_id, conn)
        now = service.clock.now()
        zone = service.zone(draft.event_id)
        if draft.state == S.POSTING:
            raise IllegalMove(
                f"draft {draft.id} is going out now (the posting run has taken it): it can no longer be called back"
            )
        if draft.state == S.POSTED:
            when = f" at {show_time(draft.posted_at, zone)}" if draft.posted_at else ""
            raise IllegalMove(f"draft {draft.id} went out{when}: it can no longer be called back")
        if draft.state != S.APPROVED:
            raise IllegalMove(
                f"draft {draft.id} is {draft.state.value}: there is nothing to call back (only a post-now or a "
                "composed post, during its hold)"
            )
        sent = _sent_now(store, conn, draft)
        if sent is None:
            raise IllegalMove(
                f"draft {draft.id} was not sent by a post-now or a composed post: there is nothing to call back; "
                "unapprove it to hold it"
            )
        if now >= draft.at:
            raise IllegalMove(
                f"the hold of draft {draft.id} ran out at {show_time(draft.at, zone)}: it is going out, and can no "
                "longer be called back"
            )
        changes: dict[str, Any] = dict(CLEAR_APPROVAL)
        previous = sent.get(PREVIOUS_AT)
        if previous is not None and datetime.fromisoformat(previous) > now:
            changes.update(
                at=datetime.fromisoformat(previous), valid_until=datetime.fromisoformat(sent[PREVIOUS_UNTIL])
            )
        return store.transition(
            conn,
            draft,
            "cancel",
            actor=Actor.OPERATOR,
            by=by,
            at=now,
            seen_version=seen_version,
            reason="called back during its hold",
            changes=changes,
        )


def restore_rejected(service: Service, draft_id: int, by: str, seen_version: int | None) -> Draft:
    """Undo a rejection: the draft comes back pending (a person approves it again), if its window is still open."""
    store = service.store
    with store.begin() as conn:
        draft = store.get(draft_id, conn)
        now = service.clock.now()
        if draft.state != S.REJECTED:
            raise IllegalMove(f"draft {draft.id} is {draft.state.value}: only a rejected draft can be brought back")
        if draft.valid_until < now:
            raise IllegalMove(
                f"draft {draft.id}'s window closed at {show_time(draft.valid_until, service.zone(draft.event_id))}: "
                "it stays rejected; compose the post again if it should still go out"
            )
        twin = same_text(store, conn, draft.event_id, draft.text, draft.id, draft.account)
        if twin is not None:
            raise IllegalMove(
                f"draft {twin.id} ({twin.slot}) now has the same text as draft {draft.id}, and X refuses duplicate "
                f"posts: draft {draft.id} stays rejected; edit it to bring it back with other words"
            )
        return store.transition(
            conn,
            draft,
            "unreject",
            actor=Actor.OPERATOR,
            by=by,
            at=now,
            seen_version=seen_version,
            changes=dict(CLEAR_APPROVAL),
        )


def edit(
    service: Service,
    draft_id: int,
    text: str,
    by: str,
    revision: int | None,
    seen_version: int | None,
    media: tuple[Attachment, ...] | None = None,
) -> tuple[Draft, list[str]]:
    """A new revision with the text's rules checked; the approval goes (a person approves words, not slots).

    `media` replaces the draft's images (None keeps them; () removes them), checked with the
    new text: an image may wait for its alt text, but approving the draft needs it."""
    text = clean_text(text).strip()  # typed or pasted, from the CLI or the console: one normal form
    store = service.store
    with store.begin() as conn:
        draft = store.get(draft_id, conn)
        if seen_version is not None and seen_version != draft.version:
            store.transition(
                conn, draft, "edit", actor=Actor.OPERATOR, by=by, at=service.clock.now(), seen_version=seen_version
            )  # raises Conflict, with who changed it
        if draft.state not in EDITABLE:
            raise DraftError(f"draft {draft.id} is {draft.state.value}: it can no longer be edited")
        tagged = check_text(store, conn, draft.event_id, list(draft.wanted_hashtags), text, draft.id, draft.account)
        images = draft.media if media is None else media
        check_media(store, conn, images, tagged.text, "{}; nothing was changed", require_alt=False, known=draft.media)
        now = service.clock.now()
        new_revision = draft.revision + 1
        store.add_revision(conn, draft.id, new_revision, tagged.text, by, now, "edit")
        changes: dict[str, Any] = {
            "revision": new_revision,
            "text": tagged.text,
            "weighted_length": tagged.parsed.weighted_length,
            "hashtags": json.dumps(list(tagged.hashtags)),
            **CLEAR_APPROVAL,
        }
        detail: dict[str, Any] = {"appended_hashtags": list(tagged.appended)} if tagged.appended else {}
        if media is not None and media != draft.media:
            changes["media"] = media_json(media)
            detail["media"] = [{"sha256": a.sha256, "name": a.name, "alt": a.alt} for a in media]
        edited = store.transition(
            conn,
            draft,
            "edit",
            actor=Actor.OPERATOR,
            by=by,
            at=now,
            expected_revision=revision,
            changes=changes,
            detail=detail or None,
        )
        return edited, list(tagged.appended)

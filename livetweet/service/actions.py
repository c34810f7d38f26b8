"""An operator's actions on one draft: approve, unapprove, reject, post now, edit.

Each is one store transaction through `Store.transition`, which checks the move against
the table of actions and the version the operator saw, and audits it under their name.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..draft import EDITABLE, Actor, Draft, DraftError, DraftState, IllegalMove
from ..inbox import clean_text
from ..store import Connection, Store
from .texts import check_text

if TYPE_CHECKING:
    from .facade import Service

S = DraftState
CLEAR_APPROVAL: dict[str, Any] = {"approved_revision": None, "approved_by": None, "approved_at": None}


def approve(service: Service, draft_id: int, by: str, revision: int | None, seen_version: int | None) -> Draft:
    with service.store.begin() as conn:
        draft = service.store.get(draft_id, conn)
        return approve_draft(service.store, conn, draft, by, revision, service.clock.now(), seen_version)


def approve_all(service: Service, targets: list[tuple[int, int | None]], by: str) -> list[Draft]:
    """Approve several drafts in one transaction: all of them, or (on the first refusal) none."""
    with service.store.begin() as conn:
        now = service.clock.now()
        return [
            approve_draft(service.store, conn, service.store.get(draft_id, conn), by, revision, now)
            for draft_id, revision in targets
        ]


def approve_draft(
    store: Store,
    conn: Connection,
    draft: Draft,
    by: str,
    revision: int | None,
    now: datetime,
    seen_version: int | None = None,
    actor: Actor = Actor.OPERATOR,
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


def post_now(service: Service, draft_id: int, by: str) -> Draft:
    """A person decides: the draft is due now, with a window as long as the one it had."""
    with service.store.begin() as conn:
        draft = service.store.get(draft_id, conn)
        now = service.clock.now()
        window = max(draft.valid_until - draft.at, timedelta(minutes=1))
        if draft.state not in (S.APPROVED, S.MISSED, S.FAILED):
            raise IllegalMove(
                f"draft {draft.id} is {draft.state.value}: only an approved, missed or failed draft can be "
                "posted now (approve it first)"
            )
        return service.store.transition(
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
    service: Service, draft_id: int, text: str, by: str, revision: int | None, seen_version: int | None
) -> tuple[Draft, list[str]]:
    """A new revision with the text's rules checked; the approval goes (a person approves words, not slots)."""
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
        tagged = check_text(store, conn, draft.event_id, list(draft.wanted_hashtags), text, draft.id)
        now = service.clock.now()
        new_revision = draft.revision + 1
        store.add_revision(conn, draft.id, new_revision, tagged.text, by, now, "edit")
        edited = store.transition(
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

"""What operators do: on a draft, a message, the live timeline, or a composed post."""

from __future__ import annotations

from datetime import datetime

from starlette.datastructures import FormData
from starlette.requests import Request

from ...errors import BadValue
from ...plan.values import format_duration, parse_clock_time, parse_signed_duration
from ...service import compose_draft
from ..auth import Session
from ..shell import BadRequest, Goto, Shell, _id


def draft_action(shell: Shell, request: Request, form: FormData, session: Session) -> str:
    draft_id = _id(request.path_params["draft_id"], "draft")
    verb = request.path_params["verb"]
    seen = shell.int_field(form, "version")
    by = session.operator
    if verb == "approve":
        d = shell.ctx.service.approve(draft_id, by, shell.int_field(form, "revision"), seen)
        return f"Approved draft {d.id} ({d.slot})."
    if verb == "unapprove":
        d = shell.ctx.service.unapprove(draft_id, by, seen)
        return f"Draft {d.id} ({d.slot}) is on hold."
    if verb == "reject":
        d = shell.ctx.service.reject(draft_id, by, str(form.get("reason") or "").strip() or None, seen)
        return f"Rejected draft {d.id} ({d.slot})."
    if verb == "edit":
        d, added = shell.ctx.service.edit(draft_id, str(form.get("text") or ""), by, None, seen)
        extra = f" (added {' '.join(added)})" if added else ""
        return f"Draft {d.id} is now revision {d.revision}{extra}: it needs approval."
    if verb == "post-now":
        d = shell.ctx.service.post_now(draft_id, by)
        return f"Draft {d.id} ({d.slot}) goes out now."
    raise BadRequest(f"unknown action {verb}")


def inbox_action(shell: Shell, request: Request, form: FormData, session: Session) -> str | Goto:
    message_id = _id(request.path_params["message_id"], "message")
    if request.path_params["verb"] == "reshare":
        text = str(form.get("text") or "").strip() or None
        draft = shell.inbox.reshare(message_id, session.operator, text=text, event_id=shell.ctx.event_id)
        return Goto("/queue", f"Draft {draft.id} made from message {message_id}: approve it.", f"draft-{draft.id}")
    shell.inbox.dismiss(message_id, session.operator)
    return f"Message {message_id} dismissed."


def live_action(shell: Shell, request: Request, form: FormData, session: Session) -> str:
    verb = request.path_params["verb"]
    by = session.operator
    if verb == "pause":
        shell.ctx.service.pause(by, str(form.get("reason") or "").strip() or None)
        return "Posting is paused."
    if verb == "resume":
        shell.ctx.service.resume(by, shell.ctx.verify_credentials)
        return "Posting resumed."
    if verb == "shift":
        text = str(form.get("duration") or "").strip()
        try:
            delta = parse_signed_duration(text)
        except BadValue as exc:
            raise BadRequest(f'"{text[:40]}" {exc}') from None
        moved = shell.ctx.service.shift(delta, by, str(form.get("from") or "") or None, shell.ctx.event_id)
        return f"Moved {len(moved)} posts by {format_duration(delta)}."
    if verb == "cue":
        delta, moved = shell.ctx.service.cue(str(form.get("segment") or ""), by, shell.ctx.event_id)
        return f"Cued: moved {len(moved)} posts by {format_duration(delta)}."
    raise BadRequest(f"unknown action {verb}")


def compose_action(shell: Shell, request: Request, form: FormData, session: Session) -> Goto:
    at: datetime | None = None
    at_text = str(form.get("at") or "").strip()
    if form.get("when") == "at" and at_text:
        try:
            clock = parse_clock_time(at_text)
        except BadValue as exc:
            raise BadRequest(f'"{at_text[:40]}" {exc}') from None
        event = shell.store.event(shell.ctx.event_id)
        assert event is not None
        at = datetime.combine(event["starts_at"].astimezone(shell.ctx.zone).date(), clock, tzinfo=shell.ctx.zone)
    draft, added = compose_draft(
        shell.ctx.service, str(form.get("text") or ""), session.operator, at, shell.ctx.event_id
    )
    when = "now" if at is None else f"at {shell.hm(draft.at)}"
    tags = f" (added {' '.join(added)})" if added else ""
    note = f"Composed draft {draft.id}{tags}, approved; it goes out {when}."
    return Goto("/queue", note, f"draft-{draft.id}")

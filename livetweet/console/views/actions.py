"""What operators do: on a draft, a message, the live timeline, or a composed post.

A refused edit or compose never loses a word: the page comes back with the form open, the
text as typed, and the reason beside it (a conflict shows the other version too).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ...draft import Attachment
from ...errors import BadValue, Conflict, LivetweetError
from ...plan.values import format_duration, parse_clock_time, parse_signed_duration
from ...service import compose_draft, readmodels
from ..auth import Session
from ..display import words
from ..shell import BadRequest, Goto, Shell, _id
from ..uploads import SLOTS, images_from_form
from .pages import compose_values, queue_values

CARD_NAME = "quote-card.png"


def draft_action(shell: Shell, request: Request, form: FormData, session: Session) -> str | Goto | Response:
    draft_id = _id(request.path_params["draft_id"], "draft")
    verb = request.path_params["verb"]
    seen = shell.int_field(form, "version")
    by = session.operator
    service = shell.ctx.service
    if verb == "approve" and form.get("everywhere") == "1":
        approved = service.approve_everywhere(draft_id, by, shell.int_field(form, "revision"), seen)
        where = ", ".join(shell.account_label(a) or a.account for a in approved)
        return f"Approved {approved[0].slot} on {where}: it goes out at {shell.hm(approved[0].at)}."
    if verb == "approve":
        d = service.approve(draft_id, by, shell.int_field(form, "revision"), seen)
        return f"Approved {d.slot}: it goes out at {shell.hm(d.at)}."
    if verb == "standalone":
        d = service.standalone(draft_id, by)
        return f"{d.slot} goes out now as a post of its own (no longer a reply)."
    if verb == "unapprove":
        d = service.unapprove(draft_id, by, seen)
        return f"{d.slot} is on hold: it needs approval again."
    if verb == "reject":
        d = service.reject(draft_id, by, str(form.get("reason") or "").strip() or None, seen)
        return f"Rejected {d.slot}. Changed your mind? Restore it from the Rejected filter."
    if verb == "restore":
        d = service.restore(draft_id, by, seen)
        return f"{d.slot} is back: it needs approval."
    if verb == "cancel":
        d = service.cancel_post(draft_id, by, seen)
        return f"Cancelled: {d.slot} did not go out. It is on hold, with its words kept."
    if verb == "edit":
        return _edit(shell, request, form, session, draft_id, seen)
    if verb == "post-now":
        d = service.post_now(draft_id, by, hold=shell.ctx.hold)
        return f"{d.slot} goes out in {round(shell.ctx.hold_seconds)} s: cancel it on its card if that was a slip."
    raise BadRequest(f"unknown action {verb}")


def _edit(
    shell: Shell, request: Request, form: FormData, session: Session, draft_id: int, seen: int | None
) -> str | Response:
    text = str(form.get("text") or "")
    media: tuple[Attachment, ...] | None = None
    try:
        before = shell.ctx.service.show(draft_id)
        media = images_from_form(shell.store, form, before.media)
        d, added = shell.ctx.service.edit(draft_id, text, session.operator, None, seen, media=media)
    except LivetweetError as exc:
        theirs = shell.ctx.service.show(draft_id) if isinstance(exc, Conflict) else None
        reopen = {
            draft_id: {
                "text": text,
                "error": words(str(exc)),
                "theirs": theirs,
                "version": theirs.version if theirs else seen,
                "media": media if media is not None else shell.ctx.service.show(draft_id).media,
            }
        }
        params = dict(parse_qsl(urlsplit(request.headers.get("referer") or "").query))
        params.pop("msg", None)
        params.pop("sig", None)
        values = queue_values(shell, {**params, "show": "all"} if theirs or "show" not in params else params)
        if draft_id not in {x.id for x in values["q"].drafts}:
            values["q"].drafts.insert(0, shell.ctx.service.show(draft_id))
        values["reopen"] = reopen
        return shell.page("queue.html", request, session, status=409 if theirs else 422, **values)
    extra = f" (added {' '.join(added)})" if added else ""
    return f"Saved {d.slot} as revision {d.revision}{extra}: it needs approval."


def approve_selected(shell: Shell, request: Request, form: FormData, session: Session) -> str:
    """Several drafts approved together, each checked as if approved alone; all or none."""
    targets: list[tuple[int, int | None]] = []
    for value in form.getlist("pick"):
        draft, _, version = str(value).partition(":")
        if not draft.isdigit() or not version.isdigit():
            raise BadRequest(f"not a draft to approve: {str(value)[:30]}")
        targets.append((_id(int(draft), "draft"), int(version)))
    if not targets:
        return "error:tick the drafts to approve first"
    approved = shell.ctx.service.approve_all(targets, session.operator)
    return f"Approved {len(approved)} drafts: {', '.join(d.slot for d in approved)}."


def inbox_action(shell: Shell, request: Request, form: FormData, session: Session) -> str | Goto:
    message_id = _id(request.path_params["message_id"], "message")
    verb = request.path_params["verb"]
    if verb == "reshare":
        text = str(form.get("text") or "").strip() or None
        alts = [" ".join(str(form.get(f"alt{n}") or "").split()) for n in range(1, SLOTS + 1)]
        to = [str(account) for account in form.getlist("to")]
        if form.get("choose") == "1" and not to:
            return "error:tick the accounts to reshare the message to first"
        count = len(shell.inbox.get(message_id).media)
        drafts = shell.inbox.reshare(
            message_id, session.operator, text=text, event_id=shell.ctx.event_id, alt=alts[:count] if count else None,
            to=to or None,
        )  # fmt: skip
        first = drafts[0]
        if len(drafts) == 1:
            return Goto("/queue", f"Draft {first.slot} made from the message: approve it.", f"draft-{first.id}")
        where = ", ".join(shell.account_label(d) or d.account for d in drafts)
        return Goto(
            "/queue", f"Drafts {first.slot} made from the message on {where}: approve each.", f"draft-{first.id}"
        )
    if verb == "restore":
        shell.inbox.restore(message_id, session.operator)
        return "The message is back among the new ones."
    if verb == "dismiss":
        shell.inbox.dismiss(message_id, session.operator)
        return "Message dismissed. Restore it from All messages if that was a slip."
    raise BadRequest(f"unknown action {verb}")


def live_action(shell: Shell, request: Request, form: FormData, session: Session) -> str:
    verb = request.path_params["verb"]
    by = session.operator
    service = shell.ctx.service
    if verb == "pause":
        service.pause(by, str(form.get("reason") or "").strip() or None)
        return "Posting is paused: nothing goes out until someone resumes."
    if verb == "resume":
        service.resume(by, shell.ctx.verify_credentials)
        return "Posting resumed."
    if verb == "shift":
        text = str(form.get("duration") or "").strip()
        try:
            delta = parse_signed_duration(text)
        except BadValue as exc:
            raise BadRequest(f'"{text[:40]}" {exc}') from None
        moved = service.shift(delta, by, str(form.get("from") or "") or None, shell.ctx.event_id)
        return f"Moved {len(moved)} posts by {format_duration(delta)}."
    if verb == "cue":
        segment = str(form.get("segment") or "")
        if not segment:
            return "error:choose the segment that has just started"
        delta, moved = service.cue(segment, by, shell.ctx.event_id)
        return f"Cued {segment}: moved {len(moved)} posts by {format_duration(delta)}."
    raise BadRequest(f"unknown action {verb}")


def _has_card(media: tuple[Attachment, ...]) -> bool:
    return any(m.name == CARD_NAME for m in media)


def _quote_card(shell: Shell, quote: str, speaker: str) -> Attachment:
    """A quote card in the event's name and the running segment's first hashtag, kept like a photo."""
    from ...cards import Card, alt_text, render
    from ...media import keep

    segment = shell.running_segment(shell.ctx.service.clock.now())
    tags = readmodels.bands(shell.ctx.service, shell.ctx.event_id)
    hashtag = next((b.hashtags[0] for b in tags if segment and b.id == segment.id and b.hashtags), "")
    event = shell.event_row.title if shell.event_row else ""
    card = Card(quote=quote, speaker=speaker, event=event, hashtag=hashtag)
    return keep(shell.store, None, render(card), CARD_NAME, alt_text(card))


def compose_action(shell: Shell, request: Request, form: FormData, session: Session) -> Goto | Response:
    text = str(form.get("text") or "")
    at_text = str(form.get("at") or "").strip()
    when = "at" if form.get("when") == "at" else "now"
    approve = form.get("approve") != "0"
    reply = shell.int_field(form, "reply_to")
    media: tuple[Attachment, ...] = ()
    quote = " ".join(str(form.get("card_quote") or "").split())
    speaker = " ".join(str(form.get("card_speaker") or "").split())
    try:
        media = images_from_form(shell.store, form)
        if quote or speaker:
            media = (*media, _quote_card(shell, quote, speaker))
        at: datetime | None = None
        if when == "at":
            if not at_text:
                raise BadValue("give the time it goes out (24-hour, like 14:05), or choose Now")
            try:
                clock = parse_clock_time(at_text)
            except BadValue as exc:
                raise BadValue(f'the time "{at_text[:40]}" {exc}') from None
            today = shell.ctx.service.clock.now().astimezone(shell.ctx.zone).date()
            at = datetime.combine(today, clock, tzinfo=shell.ctx.zone)
        draft, added = compose_draft(
            shell.ctx.service,
            text,
            session.operator,
            at,
            shell.ctx.event_id,
            approve=approve,
            hold=shell.ctx.hold if at is None and approve else timedelta(0),
            reply_to=reply,
            media=media,
        )
    except (BadValue, LivetweetError) as exc:
        values = compose_values(
            shell,
            text=text,
            at=at_text,
            when=when,
            reply_to=reply,
            error=words(str(exc)),
            kept=media,
            card_quote="" if _has_card(media) else quote,
            card_speaker="" if _has_card(media) else speaker,
        )  # fmt: skip  (a card already made comes back with the images, not to be made twice)
        return shell.page("compose.html", request, session, status=422, **values)
    tags = f" with {' '.join(added)} added" if added else ""
    if not approve:
        note = f"Saved {draft.slot}{tags} as a draft: it needs approval."
    elif at is None:
        hold = round(shell.ctx.hold_seconds)
        note = f"{draft.slot}{tags} goes out in {hold} s: cancel it on its card if that was a slip."
    else:
        note = f"Approved {draft.slot}{tags}: it goes out at {shell.hm(draft.at)}."
    return Goto("/queue", note, f"draft-{draft.id}")

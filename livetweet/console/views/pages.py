"""The pages: Now, Queue, Inbox, Posted, History, Compose, and the confirmation of a move in time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...errors import BadValue, LivetweetError
from ...inbox import SHOWN_LENGTH, network_name, shorten
from ...plan.values import format_duration, parse_signed_duration
from ...service import readmodels
from ...store import EventAccount
from ..auth import Session
from ..display import words
from ..shell import MAX_PAGE, PAGE_SIZE, Shell


async def now_page(shell: Shell, request: Request, session: Session) -> Response:
    def data() -> dict[str, Any]:
        now = shell.ctx.service.clock.now()
        return {"b": readmodels.board(shell.ctx.service, shell.ctx.event_id, now, shell.alarms())}

    return await shell.cached_page("now.html", request, session, data)


def queue_values(shell: Shell, params: Mapping[str, str]) -> dict[str, Any]:
    """What the queue shows for a filter, a search and a page (also when an edit comes back refused)."""
    raw_page = params.get("page", "1")
    number = min(int(raw_page), MAX_PAGE) if raw_page.isdigit() and len(raw_page) < 10 and int(raw_page) else 1
    show = params.get("show") or readmodels.DEFAULT_FILTER
    q = readmodels.queue(shell.ctx.service, shell.ctx.event_id, show, params.get("q", "")[:200], number, PAGE_SIZE)
    return {
        "q": q,
        "filters": [(key, label) for key, (label, _) in readmodels.FILTERS.items()],
        "filter_label": readmodels.FILTERS[q.filter][0],
        "reopen": {},
    }


async def queue_page(shell: Shell, request: Request, session: Session) -> Response:
    params = dict(request.query_params)
    return await shell.cached_page("queue.html", request, session, lambda: queue_values(shell, params))


async def inbox_page(shell: Shell, request: Request, session: Session) -> Response:
    include_all = request.query_params.get("all") == "1"

    def data() -> dict[str, Any]:
        messages = readmodels.messages(shell.ctx.service, include_all)
        accounts = shell.ctx.service.accounts(shell.ctx.event_id)
        # Where each came and where a reshare may go: said only when the event has several accounts.
        several = len(accounts) > 1
        return {
            "messages": [
                (m, shorten(m.text, SHOWN_LENGTH), came_to(accounts, m.account) if several else "") for m in messages
            ],
            "accounts": [(a.id, came_to(accounts, a.id)) for a in accounts.values()] if several else [],
            "all": include_all,
        }

    return await shell.cached_page("inbox.html", request, session, data)


def came_to(accounts: Mapping[str, EventAccount], account_id: str) -> str:
    """An account for people: "Bluesky unmignetwork.bsky.social" (its id alone when the event has none so named)."""
    account = accounts.get(account_id)
    return f"{network_name(account.network)} {account.handle}" if account is not None else account_id


async def posted_page(shell: Shell, request: Request, session: Session) -> Response:
    def data() -> dict[str, Any]:
        rows = [
            (d, lag, shell.ctx.post_link(d.tweet_id or ""))
            for d, lag in readmodels.posted(shell.ctx.service, shell.ctx.event_id)
        ]
        return {"rows": rows}

    return await shell.cached_page("posted.html", request, session, data)


async def history_page(shell: Shell, request: Request, session: Session) -> Response:
    query = request.query_params.get("q", "").strip()[:200]

    def data() -> dict[str, Any]:
        return {"rows": readmodels.history(shell.ctx.service, shell.ctx.event_id, query), "q": query}

    return await shell.cached_page("history.html", request, session, data)


def compose_values(shell: Shell, **typed: Any) -> dict[str, Any]:
    """The compose form: the running segment's hashtags, what may be replied to, and what was typed."""
    now = shell.ctx.service.clock.now()
    segment = shell.running_segment(now)
    bands = {b.id: b for b in readmodels.bands(shell.ctx.service, shell.ctx.event_id)}
    return {
        "segment": segment,
        "hashtags": list(bands[segment.id].hashtags) if segment else [],
        "parents": readmodels.reply_targets(shell.ctx.service, shell.ctx.event_id),
        "zone_name": now.astimezone(shell.ctx.zone).tzname(),
        "hold_seconds": round(shell.ctx.hold_seconds),
        "text": "",
        "at": "",
        "when": "now",
        "reply_to": None,
        "error": "",
        "kept": (),
        "card_quote": "",
        "card_speaker": "",
        **typed,
    }


async def compose_page(shell: Shell, request: Request, session: Session) -> Response:
    text = request.query_params.get("text", "")[:2000]
    values = await run_in_threadpool(lambda: compose_values(shell, text=text))
    return await run_in_threadpool(lambda: shell.page("compose.html", request, session, **values))


async def confirm_page(shell: Shell, request: Request, session: Session) -> Response:
    """A move in time shown before it happens: which posts move, from when to when."""
    params = request.query_params
    verb = params.get("verb", "")
    service = shell.ctx.service

    def data() -> dict[str, Any]:
        values: dict[str, Any] = {"verb": verb, "problem": "", "moves": [], "fields": []}
        try:
            if verb == "cue":
                segment = params.get("segment", "")
                if not segment:
                    raise _Problem("choose the segment that has just started")
                delta, moves = service.preview_cue(segment, shell.ctx.event_id)
                now = service.clock.now()
                late = "late" if delta.total_seconds() >= 0 else "early"
                values.update(
                    heading=f"Segment {segment} started just now?",
                    summary=(
                        f"It is {shell.hm(now)}: it was expected at {shell.hm(now - delta)}, so it runs "
                        f"{format_duration(abs(delta))} {late}. "
                        f"This moves {len(moves)} posts by {format_duration(delta)}."
                    ),
                    confirm_label=f"Yes: move {len(moves)} posts",
                    fields=[("segment", segment)],
                )
            elif verb == "shift":
                text = params.get("duration", "").strip()[:40]
                try:
                    delta = parse_signed_duration(text)
                except BadValue as exc:
                    raise _Problem(f'"{text}" {exc}') from None
                start = params.get("from", "") or None
                moves = service.preview_shift(delta, start, shell.ctx.event_id)
                values.update(
                    heading=f"Move posts by {format_duration(delta)}?",
                    summary=f"This moves {len(moves)} posts{f' from segment {start} on' if start else ''}.",
                    confirm_label=f"Yes: move {len(moves)} posts by {format_duration(delta)}",
                    fields=[("duration", text), ("from", start or "")],
                )
            else:
                raise _Problem("there is nothing to confirm here")
            values["moves"] = moves
        except (_Problem, LivetweetError) as exc:
            values.update(heading="Nothing can move", problem=words(str(exc)))
        return values

    values = await run_in_threadpool(data)
    return await run_in_threadpool(lambda: shell.page("confirm.html", request, session, **values))


async def media(shell: Shell, request: Request, session: Session) -> Response:
    """An image kept in the store, by its SHA-256: only to logged-in operators, never sniffed."""
    sha = str(request.path_params.get("sha", ""))
    if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        return Response("no such image", status_code=404, media_type="text/plain")
    found = await run_in_threadpool(shell.store.media_data, sha)
    if found is None:
        return Response("no such image", status_code=404, media_type="text/plain")
    data, kind = found
    if kind not in ("image/jpeg", "image/png", "image/webp", "image/gif"):
        return Response("not an image", status_code=404, media_type="text/plain")
    return Response(data, media_type=kind, headers={"cache-control": "private, max-age=86400, immutable"})


async def report_page(shell: Shell, request: Request, session: Session) -> Response:
    """The event's report, as `livetweet report` makes it, from the console's store."""

    def build() -> str:
        from ...config import PRICES
        from ...report import render_html
        from ...service.report import compute_report, objectives_of, read_report_data

        data = read_report_data(shell.store, shell.ctx.event_id)
        figures = compute_report(data, PRICES, None, objectives_of(data.event.schedule_path))
        return render_html(figures, shell.ctx.service.clock.now())

    return Response(await run_in_threadpool(build), media_type="text/html; charset=utf-8")


class _Problem(ValueError):
    """What the confirmation page says instead of a preview."""

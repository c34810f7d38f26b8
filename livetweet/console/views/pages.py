"""The pages: Now, Queue, Inbox, Posted, History, Compose."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...draft import DraftState
from ...inbox import SHOWN_LENGTH, shorten
from ..auth import Session
from ..shell import MAX_PAGE, PAGE_SIZE, S, Shell


async def now_page(shell: Shell, request: Request, session: Session) -> Response:
    def data() -> dict[str, Any]:
        now = shell.ctx.service.clock.now()
        upcoming = [d for d in shell.store.drafts(event_id=shell.ctx.event_id, states=[S.APPROVED, S.PENDING])]
        return {
            "now": now,
            "speed": shell.ctx.speed,
            "segment": shell.running_segment(now),
            "segments": shell.store.segments(shell.ctx.event_id),
            "upcoming": upcoming[:8],
        }

    values = await run_in_threadpool(data)
    return await run_in_threadpool(lambda: shell.page("now.html", request, session, **values))


async def queue_page(shell: Shell, request: Request, session: Session) -> Response:
    state = request.query_params.get("state") or None
    raw_page = request.query_params.get("page", "1")
    number = min(int(raw_page), MAX_PAGE) if raw_page.isdigit() and len(raw_page) < 10 and int(raw_page) else 1
    states = [DraftState(state)] if state in {s.value for s in DraftState} else None

    def data() -> dict[str, Any]:
        total = shell.store.count_drafts(event_id=shell.ctx.event_id, states=states)
        drafts = shell.store.drafts(
            event_id=shell.ctx.event_id, states=states, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
        )
        return {
            "drafts": drafts,
            "total": total,
            "page": number,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "state": state or "",
            "states": [s.value for s in DraftState],
        }

    return await shell.cached_page("queue.html", request, session, data)


async def inbox_page(shell: Shell, request: Request, session: Session) -> Response:
    include_all = request.query_params.get("all") == "1"

    def data() -> dict[str, Any]:
        messages = shell.inbox.messages(include_all)
        return {"messages": [(m, shorten(m.text, SHOWN_LENGTH)) for m in messages], "all": include_all}

    return await shell.cached_page("inbox.html", request, session, data)


async def posted_page(shell: Shell, request: Request, session: Session) -> Response:
    def data() -> dict[str, Any]:
        drafts = shell.store.drafts(event_id=shell.ctx.event_id, states=[S.POSTED])
        rows = [
            (d, (d.posted_at - d.at).total_seconds() if d.posted_at else None, shell.ctx.post_link(d.tweet_id or ""))
            for d in sorted(drafts, key=lambda d: d.posted_at or d.at)
        ]
        return {"rows": rows}

    return await shell.cached_page("posted.html", request, session, data)


async def history_page(shell: Shell, request: Request, session: Session) -> Response:
    query = request.query_params.get("q", "").strip()

    def data() -> dict[str, Any]:
        entries = shell.store.audit()
        slots = {d.id: d.slot for d in shell.store.drafts(event_id=shell.ctx.event_id)}
        rows = [(e, slots.get(e.draft_id or 0, "")) for e in reversed(entries)]
        if query:
            needle = query.casefold()
            rows = [
                (e, slot)
                for e, slot in rows
                if needle
                in " ".join(str(x) for x in (e.operator, e.action, e.to_state, e.reason, slot, e.draft_id)).casefold()
            ]
        return {"rows": rows[:500], "q": query}

    return await shell.cached_page("history.html", request, session, data)


async def compose_page(shell: Shell, request: Request, session: Session) -> Response:
    def data() -> dict[str, Any]:
        now = shell.ctx.service.clock.now()
        segment = shell.running_segment(now)
        return {
            "segment": segment,
            "hashtags": json.loads(segment["hashtags"]) if segment else [],
            "text": request.query_params.get("text", ""),
        }

    values = await run_in_threadpool(data)
    return await run_in_threadpool(lambda: shell.page("compose.html", request, session, **values))

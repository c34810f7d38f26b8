"""Live updates (Server-Sent Events) and the counter that shows a text as it will be posted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ...errors import LivetweetError
from ...service import as_posted
from ..auth import Session
from ..display import rich
from ..guard import same
from ..shell import BadRequest, Shell, _id

PING = 1  # seconds between beats: a page notices a silent run within a few


async def count(shell: Shell, request: Request, session: Session) -> Response:
    if not same(request.headers.get("x-csrf-token") or "", session.csrf):
        return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
    try:
        body = await request.json()  # at most BODY_LIMIT bytes (RequestGuard)
    except (ValueError, RecursionError):
        return JSONResponse({"error": 'send JSON like {"text": "..."}'}, status_code=400)
    text = body.get("text") if isinstance(body, dict) else None
    draft = body.get("draft") if isinstance(body, dict) else None
    if not isinstance(text, str) or not (draft is None or isinstance(draft, int)):
        return JSONResponse({"error": 'send JSON like {"text": "...", "draft": 12}'}, status_code=400)

    def posted() -> Any:
        # What would be posted: the normal form, with the hashtags livetweet adds (of the
        # draft being edited, or of the running segment for a composed post).
        return as_posted(
            shell.ctx.service, text, _id(draft, "draft") if draft is not None else None, shell.ctx.event_id
        )

    try:
        tagged = await run_in_threadpool(posted)  # not on the event loop
    except (BadRequest, LivetweetError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    result = tagged.parsed
    return JSONResponse(
        {
            "weighted_length": result.weighted_length,
            "valid": result.valid,
            "permillage": result.permillage,
            "added": list(tagged.appended),
            "missing": list(tagged.missing),
            "text": tagged.text,
            "html": str(rich(tagged.text)),
        }
    )


async def events(shell: Shell, request: Request, session: Session) -> Response:
    """The change marker as it moves, and a beat every PING seconds so that a page knows the run is there."""

    async def stream() -> AsyncIterator[str]:
        last = shell.marker()  # the watch thread reads the store; this reads its value
        yield f"retry: 1000\nevent: hello\ndata: {last}\n\n"
        beats = 0
        while not await request.is_disconnected():
            await asyncio.sleep(0.25)
            current = shell.marker()
            beats += 1
            if current != last:
                last = current
                beats = 0
                yield f"event: changed\ndata: {current}\n\n"
            elif beats >= PING * 4:
                beats = 0
                yield f"event: ping\ndata: {shell.ctx.service.clock.now().isoformat()}\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )

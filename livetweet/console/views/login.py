"""Logging in and out: the one place a password or a link's token is checked."""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..auth import DEVICE_COOKIE, DEVICE_DAYS, SESSION_COOKIE
from ..guard import _plain, same
from ..shell import _LOGIN_ERRORS, Shell


async def login_page(shell: Shell, request: Request) -> Response:
    return shell.templates.TemplateResponse(
        request,
        "login.html",
        {
            "token": request.query_params.get("token", ""),
            "uses_token": shell.ctx.auth.uses_token,
            "error": _LOGIN_ERRORS.get(request.query_params.get("error", ""), ""),
            "event": shell.store.event(shell.ctx.event_id),
        },
    )


async def login(shell: Shell, request: Request) -> Response:
    # The peer's own address: uvicorn runs with proxy_headers off, X-Forwarded-For is ignored.
    client = request.client.host if request.client else "?"
    form = await shell.read_form(request)
    name = " ".join(str(form.get("name") or "").split())[:60]
    auth = shell.ctx.auth
    device = await run_in_threadpool(auth.trusted_device, request.cookies.get(DEVICE_COOKIE))
    wait = auth.attempt(client, device)  # counted as a failure before it waits: guesses queue up
    if wait is None:
        later = max(1, round(shell.ctx.auth.retry_after(client)))
        return _plain(429, f"too many failed logins: try again in {later} s", {"retry-after": str(later)})
    if wait:
        await asyncio.sleep(wait)  # slows down password guessing
    if not name:  # asked before the password is checked: a link's token is not spent for nothing
        return RedirectResponse("/login?error=name", status_code=303)
    async with shell.verify_slots:  # argon2 in a thread, a few at a time: the pages stay responsive
        right = await run_in_threadpool(shell.ctx.auth.check_password, str(form.get("password") or ""))
    if not right:
        return RedirectResponse("/login?error=wrong", status_code=303)
    sid = await run_in_threadpool(auth.login, client, name, device)
    response = RedirectResponse("/", status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", path="/", secure=secure)
    response.set_cookie(
        DEVICE_COOKIE, auth.device_cookie(), max_age=DEVICE_DAYS * 86400, httponly=True, samesite="strict",
        path="/login", secure=secure,
    )  # fmt: skip
    return response


async def logout(shell: Shell, request: Request) -> Response:
    sid, session = await run_in_threadpool(shell.session_of, request)
    form = await shell.read_form(request)
    if session is None or not same(str(form.get("csrf") or ""), session.csrf):
        return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
    await run_in_threadpool(shell.ctx.auth.logout, sid)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

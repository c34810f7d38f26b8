"""The console's views, one module per kind (login, pages, actions, live), and the routes to them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..auth import Session
from ..shell import HERE, Shell
from . import actions, live, login, pages

PageView = Callable[[Shell, Request, Session], Awaitable[Response]]


def routes(shell: Shell) -> list[BaseRoute]:
    """Every URL of the console, each view bound to the shell it runs in."""

    def bare(view: Callable[[Shell, Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await view(shell, request)

        return endpoint

    def page(view: PageView) -> Callable[[Request], Awaitable[Response]]:
        return shell.guarded(lambda request, session: view(shell, request, session))

    def act(view: Callable[..., object]) -> Callable[[Request], Awaitable[Response]]:
        return shell.action(lambda request, form, session: view(shell, request, form, session))  # type: ignore[arg-type,return-value]

    return [
        Route("/login", bare(login.login_page), methods=["GET"]),
        Route("/login", bare(login.login), methods=["POST"]),
        Route("/logout", bare(login.logout), methods=["POST"]),
        Route("/", page(pages.now_page), methods=["GET"]),
        Route("/queue", page(pages.queue_page), methods=["GET"]),
        Route("/inbox", page(pages.inbox_page), methods=["GET"]),
        Route("/posted", page(pages.posted_page), methods=["GET"]),
        Route("/history", page(pages.history_page), methods=["GET"]),
        Route("/compose", page(pages.compose_page), methods=["GET"]),
        Route("/compose", act(actions.compose_action), methods=["POST"]),
        Route("/live/confirm", page(pages.confirm_page), methods=["GET"]),
        Route("/media/{sha}", page(pages.media), methods=["GET"]),
        Route("/report", page(pages.report_page), methods=["GET"]),
        Route("/drafts/approve-selected", act(actions.approve_selected), methods=["POST"]),
        Route("/drafts/{draft_id:int}/{verb}", act(actions.draft_action), methods=["POST"]),
        Route("/inbox/{message_id:int}/{verb}", act(actions.inbox_action), methods=["POST"]),
        Route("/live/{verb}", act(actions.live_action), methods=["POST"]),
        Route("/api/count", page(live.count), methods=["POST"]),
        Route("/events", page(live.events), methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

"""The console's pages and actions: a thin shell over the same service the CLI uses.

Every rule lives in the service; a view only reads the request, calls the service as the
logged-in operator, and shows the result. Pages are rendered on the server with autoescape;
a little JavaScript (static/console.js, no inline script) adds the live counter, countdowns,
and a reload when Server-Sent Events say the store changed.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .guard import SAFE_METHODS, RequestGuard, SecurityHeaders, _plain
from .shell import PAGES, BadRequest, ConsoleContext, Shell
from .views import routes

__all__ = ["BadRequest", "ConsoleContext", "create_app"]


def create_app(ctx: ConsoleContext) -> Starlette:
    """The console's ASGI application: the shell, its views, and the guard in front."""
    shell = Shell(ctx)

    async def not_found(request: Request, exc: Exception) -> Response:
        # Starlette's own slash redirect builds an absolute URL from the Host header; this one
        # is relative, and only to the console's pages.
        path = request.url.path
        if request.method in SAFE_METHODS and path.endswith("/") and path.rstrip("/") in PAGES:
            query = request.url.query
            return RedirectResponse(path.rstrip("/") + (f"?{query}" if query else ""), status_code=307)
        return _plain(404, "not found")

    app = Starlette(
        routes=routes(shell),
        middleware=[
            Middleware(SecurityHeaders),  # adds headers only, to every answer (the guard's too)
            Middleware(RequestGuard, allowed_hosts=ctx.allowed_hosts),  # before anything else
        ],
        exception_handlers={404: not_found},
    )
    app.router.redirect_slashes = False
    return app

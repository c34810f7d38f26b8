"""The operator console: a web page to run the event from (Starlette, server-rendered)."""

from .app import ConsoleContext, create_app
from .auth import ConsoleAuth

__all__ = ["ConsoleAuth", "ConsoleContext", "create_app"]

"""Serving the console from `run`: uvicorn in a thread beside the dispatcher."""

from __future__ import annotations

import threading
import time

import uvicorn
from starlette.applications import Starlette

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_address(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `:PORT`, or `PORT`) -> (host, port)."""
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'"{value}" is not HOST:PORT, like 127.0.0.1:8000')
    return (host.strip("[]") or "127.0.0.1"), int(port)


class ConsoleServer:
    """The console's HTTP server, started and stopped with the run."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="error", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self._thread = threading.Thread(target=self.server.run, name="console", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, wait: float = 10.0) -> ConsoleServer:
        self._thread.start()
        deadline = time.monotonic() + wait
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the console could not listen on {self.host}:{self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=5)

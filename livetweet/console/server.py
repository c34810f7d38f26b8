"""Serving the console from `run`: uvicorn in a thread beside the dispatcher."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import uvicorn
from starlette.applications import Starlette

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_address(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `:PORT`, or `PORT`) -> (host, port)."""
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'"{value}" is not HOST:PORT, like 127.0.0.1:8000')
    return (host.strip("[]") or "127.0.0.1"), int(port)


def host_value(host: str, port: int) -> str:
    """`host:port` as a Host header names it (IPv6 literals in brackets), lower case."""
    host = host.strip().strip("[]").lower().rstrip(".")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host values the console answers to: the address it listens on, the loopback names,
    and any other name given (a TLS proxy's, a machine's name on the LAN). Anything else is a
    page on another site that had its name resolved to this machine (DNS rebinding)."""
    names = {host, *LOOPBACK}
    values = {host_value(name, port) for name in names}
    if port == 80:  # a browser leaves the default port out
        values |= {host_value(name, port).rpartition(":")[0] for name in names}
    for item in extra:  # "name", "name:port", "[v6]" or "[v6]:port"
        item = item.strip().lower()
        if not item:
            continue
        if item.startswith("["):
            name, _, rest = item[1:].partition("]")
            given = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else port
        else:
            name, sep, rest = item.rpartition(":")
            if not (sep and rest.isdigit() and ":" not in name):
                name, rest = item, ""
            given = int(rest) if rest else port
            if not rest:  # a name without a port: also as a proxy in front passes it (no port)
                values.add(host_value(name, given).rpartition(":")[0])
        values.add(host_value(name, given))
    return frozenset(values)


class ConsoleServer:
    """The console's HTTP server, started and stopped with the run."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="error",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            # Nothing stands in front of the console: X-Forwarded-For and -Proto are anybody's
            # words (each guess would claim a new address and escape the login throttle).
            proxy_headers=False,
            server_header=False,
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

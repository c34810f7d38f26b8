"""Serving the console from `run`: uvicorn in a thread beside the dispatcher."""

from __future__ import annotations

import asyncio
import logging
import resource
import threading
import time
from collections.abc import Iterable

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

LOOPBACK = ("127.0.0.1", "localhost", "::1")
HEADER_TIMEOUT = 10.0  # seconds a new connection has to send its first request's headers
MAX_CONNECTIONS = 1000  # open connections at once; beyond, new ones are closed at once
FD_RESERVE = 256  # file descriptors kept for the store, X and the scheduler, whatever the console holds
log = logging.getLogger("livetweet.console")


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (at most 65,536), so that
    a flood of connections does not leave SQLite unable to open its files; returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


def connection_limit(fd_limit: int) -> int:
    """How many connections the console may hold and still leave FD_RESERVE descriptors free."""
    return max(16, min(MAX_CONNECTIONS, fd_limit - FD_RESERVE))


class GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 with two bounds: at most `limit` connections (a new one beyond is
    closed before anything is read), and a connection whose next request has not begun within
    HEADER_TIMEOUT of connecting or of the last answer is closed (idle sockets and slow
    headers cannot pile up). A streaming answer (the event stream) is a request under way."""

    limit = MAX_CONNECTIONS
    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limit:
            transport.close()
            self.transport = transport
            self._refused = True
            return
        self._refused = False
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(self.header_timeout, self._no_request)

    def _no_request(self) -> None:
        self._header_timer = None
        waiting = self.cycle is None or self.cycle.response_complete  # no request under way: idle or slow headers
        if waiting and not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        """Each request after the first has HEADER_TIMEOUT too (uvicorn's keep-alive timer stops
        at the next request's first byte, so slow headers would hold the connection forever)."""
        super().on_response_complete()
        if self._header_timer is not None:
            self._header_timer.cancel()
        if not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout, self._no_request)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


def parse_address(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `:PORT`, or `PORT`) -> (host, port)."""
    host, _, port = value.rpartition(":")
    if not (port.isascii() and port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
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

    def __init__(self, app: Starlette, host: str, port: int, max_connections: int | None = None) -> None:
        limit = max_connections or connection_limit(raise_fd_limit())
        protocol = type("ConsoleHTTP", (GuardedH11,), {"limit": limit})
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
            http=protocol,
            timeout_keep_alive=5,
            h11_max_incomplete_event_size=16 * 1024,  # a request line and headers: 16 KB at most
            ws="none",
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

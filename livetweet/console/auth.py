"""Who may use the console: a password (or its argon2 hash), or a one-time token per run.

Sessions live in memory only (a run's console forgets them when it stops); the cookie is
HttpOnly and SameSite=Strict, and every state-changing request carries the session's CSRF
token. Login attempts are throttled per client address and for everybody at once; each
attempt is counted when it arrives, before it waits, so parallel guesses queue up.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_COOKIE = "livetweet_session"
MAX_DELAY = 5.0  # the longest wait a client's failures add before its next attempt
MAX_WAIT = 30.0  # an attempt that would have to wait longer is refused at once (no sleeping pile)
GLOBAL_BUDGET = 20  # failed attempts, from all clients together, per GLOBAL_WINDOW ...
GLOBAL_WINDOW = 60.0  # ... before every attempt is spaced GLOBAL_WINDOW / GLOBAL_BUDGET apart
MAX_CLIENTS = 1024  # client addresses remembered; beyond, new ones share one bucket
FORGET_AFTER = 15 * 60.0  # a client's failures are forgotten after this long without an attempt
OVERFLOW = "*"


def _delay(failures: int) -> float:
    return 0.0 if failures <= 0 else min(0.25 * 2 ** (failures - 1), MAX_DELAY)


@dataclass
class _Client:
    failures: int = 0
    next_at: float = 0.0  # when its next attempt may be checked
    last: float = 0.0


@dataclass
class Session:
    """One logged-in browser: its operator's name and its CSRF token."""

    operator: str
    csrf: str
    created: float = field(default_factory=time.monotonic)


class ConsoleAuth:
    """Checks passwords, keeps sessions, and slows down guessing."""

    def __init__(
        self,
        password: str | None = None,
        password_hash: str | None = None,
        *,
        max_clients: int = MAX_CLIENTS,
        global_budget: int = GLOBAL_BUDGET,
        global_window: float = GLOBAL_WINDOW,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._password = password or None
        self._hash = password_hash or None
        # Without a password: a token for this run only, printed with the console's URL,
        # never written to disk or to a log.
        self.token = None if (self._password or self._hash) else secrets.token_urlsafe(24)
        self._sessions: dict[str, Session] = {}
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._overflow = _Client()
        self._max_clients = max_clients
        self._max_wait = max_wait
        # The global budget is a GCRA: a burst of `global_budget`, then one every `_interval`.
        self._interval = global_window / global_budget
        self._tolerance = global_window - self._interval
        self._tat = 0.0
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def uses_token(self) -> bool:
        return self.token is not None

    def check_password(self, given: str) -> bool:
        """Blocking (argon2 takes a good part of a second): the console calls it in a thread."""
        if self.token is not None:
            return hmac.compare_digest(given.encode(), self.token.encode())
        if self._password is not None:
            return hmac.compare_digest(given.encode(), self._password.encode())
        try:
            return PasswordHasher().verify(self._hash or "", given)
        except (VerificationError, InvalidHashError):
            return False

    # --- throttling ---------------------------------------------------------------------

    def _client(self, client: str, now: float) -> _Client:
        """The client's bucket, from a map of at most `max_clients` addresses (LRU, idle ones
        dropped first); when the map is full of active clients, a new one shares the overflow
        bucket, so that a flood of addresses neither grows memory nor escapes the throttle."""
        state = self._clients.get(client)
        if state is None:
            if len(self._clients) >= self._max_clients:
                for key in [k for k, v in self._clients.items() if self._idle(v, now)]:
                    del self._clients[key]
            if len(self._clients) >= self._max_clients:
                return self._overflow
            state = self._clients[client] = _Client()
        self._clients.move_to_end(client)
        if self._idle(state, now):
            state.failures = 0
        return state

    @staticmethod
    def _idle(state: _Client, now: float) -> bool:
        return state.next_at <= now and now - state.last > FORGET_AFTER

    def attempt(self, client: str) -> float | None:
        """Count a login attempt as a failure now (a success takes it back) and say how long it
        must wait before its password is checked; None: refused, it would wait too long."""
        with self._lock:
            now = self._clock()
            state = self._client(client, now)
            at = max(now, state.next_at, self._tat - self._tolerance)
            if at - now > self._max_wait:
                return None
            state.failures += 1
            state.next_at = at + _delay(state.failures)
            state.last = at
            self._tat = max(self._tat, at) + self._interval
            return at - now

    def retry_after(self, client: str) -> float:
        """Seconds until an attempt from this client would be taken again."""
        with self._lock:
            now = self._clock()
            state = self._clients.get(client, self._overflow)
            return max(0.0, max(state.next_at, self._tat - self._tolerance) - now - self._max_wait)

    def tracked_clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def delay_for(self, client: str) -> float:
        """How long this client's failures so far make its next login attempt wait."""
        with self._lock:
            state = self._clients.get(client)
        return _delay(state.failures if state else 0)

    def failed(self, client: str) -> None:
        """Count a failure after the fact (`attempt` counts them before)."""
        with self._lock:
            now = self._clock()
            state = self._client(client, now)
            state.failures += 1
            state.next_at = max(state.next_at, now) + _delay(state.failures)
            state.last = now

    def login(self, client: str, operator: str) -> str:
        with self._lock:
            state = self._clients.pop(client, None)
            if state is not None and state.failures:
                self._tat -= self._interval  # its attempt was counted as a failure: take it back
            session_id = secrets.token_urlsafe(32)
            self._sessions[session_id] = Session(operator, secrets.token_urlsafe(32))
            return session_id

    def session(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            return self._sessions.get(session_id)

    def logout(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

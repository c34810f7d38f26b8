"""Who may use the console: a password (or its argon2 hash), or a one-time token per run.

Sessions live in memory only (a run's console forgets them when it stops); the cookie is
HttpOnly and SameSite=Strict, and every state-changing request carries the session's CSRF
token. Failed logins are slowed down, per client address.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_COOKIE = "livetweet_session"
MAX_DELAY = 5.0


@dataclass
class Session:
    """One logged-in browser: its operator's name and its CSRF token."""

    operator: str
    csrf: str
    created: float = field(default_factory=time.monotonic)


class ConsoleAuth:
    """Checks passwords, keeps sessions, and slows down guessing."""

    def __init__(self, password: str | None = None, password_hash: str | None = None) -> None:
        self._password = password or None
        self._hash = password_hash or None
        # Without a password: a token for this run only, printed with the console's URL,
        # never written to disk or to a log.
        self.token = None if (self._password or self._hash) else secrets.token_urlsafe(24)
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def uses_token(self) -> bool:
        return self.token is not None

    def check_password(self, given: str) -> bool:
        if self.token is not None:
            return hmac.compare_digest(given.encode(), self.token.encode())
        if self._password is not None:
            return hmac.compare_digest(given.encode(), self._password.encode())
        try:
            return PasswordHasher().verify(self._hash or "", given)
        except (VerificationError, InvalidHashError):
            return False

    def delay_for(self, client: str) -> float:
        """How long to wait before answering this client's next login attempt."""
        with self._lock:
            failures = self._failures.get(client, 0)
        return 0.0 if failures == 0 else min(0.25 * 2 ** (failures - 1), MAX_DELAY)

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures[client] = self._failures.get(client, 0) + 1

    def login(self, client: str, operator: str) -> str:
        with self._lock:
            self._failures.pop(client, None)
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

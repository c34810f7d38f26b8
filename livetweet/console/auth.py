"""Who may use the console: a password (or its argon2 hash), or a link with a one-time token.

Sessions live in the store, by the hash of their id, with an idle and an absolute expiry:
a restart (or the standby's console on the same store) keeps everybody logged in, and a copy
of the store logs nobody in. A link's token is spent by its first login (`livetweet
console-link` prints another). The cookie is HttpOnly and SameSite=Strict; each session's
CSRF token is derived from its id, so it needs no storage either. Login attempts are
throttled per client address and for everybody at once; each attempt is counted when it
arrives, before it waits, so parallel guesses queue up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

if TYPE_CHECKING:
    from ..store import Store

SESSION_COOKIE = "livetweet_session"
DEVICE_COOKIE = "livetweet_device"  # set by a login that succeeded: this browser has logged in before
DEVICE_DAYS = 30
DEVICE_FAILURES = 5  # a device that fails this often in a row is no longer trusted
DEVICE_KEY = "console_device_key"
MAX_DELAY = 5.0  # the longest wait a client's failures add before its next attempt
MAX_WAIT = 30.0  # an attempt that would have to wait longer is refused at once (no sleeping pile)
GLOBAL_BUDGET = 20  # failed attempts, from all clients together, per GLOBAL_WINDOW ...
GLOBAL_WINDOW = 60.0  # ... before every attempt is spaced GLOBAL_WINDOW / GLOBAL_BUDGET apart
MAX_CLIENTS = 1024  # client addresses remembered; beyond, new ones share one bucket
FORGET_AFTER = 15 * 60.0  # a client's failures are forgotten after this long without an attempt
OVERFLOW = "*"
SESSION_IDLE = timedelta(hours=2)  # a browser left alone this long logs in again
SESSION_MAX = timedelta(hours=12)  # and every session ends this long after its login
LINK_VALID = timedelta(hours=1)  # a login link not used within this is void
TOUCH_EVERY = timedelta(minutes=1)  # a session's last use is written at most this often
CHECK_EVERY = 2.0  # seconds a session read from the store is trusted before it is read again


def _delay(failures: int) -> float:
    return 0.0 if failures <= 0 else min(0.25 * 2 ** (failures - 1), MAX_DELAY)


@dataclass
class _Client:
    failures: int = 0
    next_at: float = 0.0  # when its next attempt may be checked
    last: float = 0.0


def digest(secret: str) -> str:
    """What the store keeps of a session id or a link token: never the secret itself."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def _derived(session_id: str, purpose: str) -> str:
    mac = hmac.new(session_id.encode("utf-8", "replace"), purpose.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


@dataclass(frozen=True)
class Session:
    """One logged-in browser: its operator's name, its CSRF token and its key for messages."""

    operator: str
    csrf: str
    id_hash: str
    flash_key: str

    @classmethod
    def of(cls, session_id: str, operator: str) -> Session:
        return cls(operator, _derived(session_id, "csrf"), digest(session_id), _derived(session_id, "flash"))

    def sign(self, text: str) -> str:
        """A mark that this console said `text` to this session (a banner nobody else can set)."""
        mac = hmac.new(self.flash_key.encode(), text.encode("utf-8", "replace"), hashlib.sha256)
        return mac.hexdigest()[:32]

    def signed(self, text: str, mark: str) -> bool:
        return hmac.compare_digest(self.sign(text), mark)


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
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        store: Store | None = None,
    ) -> None:
        self._password = password or None
        self._hash = password_hash or None
        self.store = store
        self._wall = wall
        self._known: dict[str, tuple[Session, float]] = {}  # id hash -> (session, when it was read)
        # Browsers that logged in before have their own lane past the shared failure budget, so
        # a flood of guesses from elsewhere cannot lock the operators out (OWASP's device cookies).
        self._devices: OrderedDict[str, _Client] = OrderedDict()
        self._device_key: bytes | None = None
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
        """No password is set: operators log in with links (`livetweet console-link`)."""
        return not (self._password or self._hash)

    def _sessions(self) -> Store:
        if self.store is None:
            raise RuntimeError("ConsoleAuth has no store: create_app gives it the console's")
        return self.store

    def new_link_token(self) -> str:
        """A token for one login within LINK_VALID; only its hash is stored."""
        token = secrets.token_urlsafe(24)
        now = self._wall()
        self._sessions().add_console_token(digest(token), now, now + LINK_VALID)
        return token

    def check_password(self, given: str) -> bool:
        """Blocking (argon2 takes a good part of a second): the console calls it in a thread.

        A link's token is spent here, by the first login that gives it."""
        given = given.strip()
        if (
            self.store is not None
            and 20 <= len(given) <= 64
            and self.store.use_console_token(digest(given), self._wall())
        ):
            return True
        if self._password is not None:
            return hmac.compare_digest(given.encode("utf-8", "replace"), self._password.encode("utf-8", "replace"))
        if self._hash is None:
            return False
        try:
            return PasswordHasher().verify(self._hash, given)
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

    # --- device cookies ---------------------------------------------------------------------

    def _key(self) -> bytes:
        if self._device_key is None:
            self._device_key = self._sessions().console_secret(DEVICE_KEY).encode()
        return self._device_key

    def device_cookie(self) -> str:
        """A signed cookie naming this browser as one that logged in (set after each success)."""
        device = secrets.token_urlsafe(12)
        expires = int(self._wall().timestamp()) + DEVICE_DAYS * 86400
        body = f"{device}.{expires}"
        return f"{body}.{hmac.new(self._key(), body.encode(), hashlib.sha256).hexdigest()[:32]}"

    def trusted_device(self, cookie: str | None) -> str | None:
        """The device id of a valid, unexpired device cookie that has not failed too often; else None."""
        if not cookie or len(cookie) > 120 or self.store is None:
            return None
        device, _, rest = cookie.partition(".")
        expires, _, mark = rest.partition(".")
        body = f"{device}.{expires}"
        right = hmac.new(self._key(), body.encode(), hashlib.sha256).hexdigest()[:32]
        if not (expires.isascii() and expires.isdigit()) or not hmac.compare_digest(mark, right):
            return None
        if int(expires) < self._wall().timestamp():
            return None
        with self._lock:
            state = self._devices.get(device)
            if state is not None and state.failures >= DEVICE_FAILURES:
                return None  # guessed with too often: it queues with everybody else
        return device

    def attempt(self, client: str, device: str | None = None) -> float | None:
        """Count a login attempt as a failure now (a success takes it back) and say how long it
        must wait before its password is checked; None: refused, it would wait too long.

        A trusted device (see `trusted_device`) waits only for its own failures."""
        if device is not None:
            with self._lock:
                now = self._clock()
                state = self._devices.get(device) or _Client()
                self._devices[device] = state
                self._devices.move_to_end(device)
                while len(self._devices) > self._max_clients:
                    self._devices.popitem(last=False)
                at = max(now, state.next_at)
                state.failures += 1
                state.next_at = at + _delay(state.failures)
                state.last = at
                return at - now
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

    def succeeded(self, client: str, device: str | None = None) -> None:
        """A right password: its attempt was counted as a failure, take it back."""
        with self._lock:
            if device is not None:
                self._devices.pop(device, None)
                return
            state = self._clients.pop(client, None)
            if state is not None and state.failures:
                self._tat -= self._interval

    def login(self, client: str, operator: str, device: str | None = None) -> str:
        """A new session for `operator`; returns its id (the cookie), which is stored only hashed."""
        self.succeeded(client, device)
        session_id = secrets.token_urlsafe(32)
        now = self._wall()
        self._sessions().add_console_session(digest(session_id), operator, now, now + SESSION_MAX)
        return session_id

    def known_session(self, session_id: str | None) -> Session | None:
        """The session, if this process checked it against the store moments ago (no store read)."""
        if not session_id or len(session_id) > 100:
            return None
        with self._lock:
            known = self._known.get(digest(session_id))
        return known[0] if known is not None and self._clock() - known[1] < CHECK_EVERY else None

    def session(self, session_id: str | None) -> Session | None:
        """The live session with this id, or None (unknown, logged out, idle too long, too old)."""
        if not session_id or len(session_id) > 100:
            return None
        id_hash = digest(session_id)
        tick = self._clock()
        with self._lock:
            known = self._known.get(id_hash)
        if known is not None and tick - known[1] < CHECK_EVERY:
            return known[0]
        row = self._sessions().console_session(id_hash)
        now = self._wall()
        if row is None or now >= row.expires_at or now - row.seen_at >= SESSION_IDLE:
            if row is not None:
                self._sessions().drop_console_session(id_hash)
            with self._lock:
                self._known.pop(id_hash, None)
            return None
        if now - row.seen_at >= TOUCH_EVERY:
            self._sessions().touch_console_session(id_hash, now)
        session = Session.of(session_id, row.operator)
        with self._lock:
            if len(self._known) > 4096:
                self._known.clear()
            self._known[id_hash] = (session, tick)
        return session

    def logout(self, session_id: str | None) -> None:
        if not session_id:
            return
        id_hash = digest(session_id)
        with self._lock:
            self._known.pop(id_hash, None)
        self._sessions().drop_console_session(id_hash)

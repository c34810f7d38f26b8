"""The simulated world of the dispatch tests: a store, clocks the test moves, the simulated X
API over real HTTP (spoken to by real tweepy) and a dispatcher, wired as `run` wires them; and
`NetworksWorld`, that world with simulated Bluesky and Mastodon servers beside its X (spoken to by
real atproto and Mastodon.py), a publisher per account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from livetweet.clock import FixedClock
from livetweet.dispatch import Dispatcher, Notice
from livetweet.fakes import FakeXServer
from livetweet.fakes.bluesky import FakeBlueskyServer
from livetweet.fakes.mastodon import FakeMastodonServer
from livetweet.publishers.base import Publisher
from livetweet.publishers.bluesky import BlueskyPublisher
from livetweet.publishers.mastodon import MastodonPublisher
from livetweet.publishers.x import XPublisher
from livetweet.service import Service
from livetweet.store import RUNNER_STALE_SECONDS, Store

from .events import MINI_SCHEDULE, REPO, write_event

X_TEST_CREDENTIALS = {
    "X_API_KEY": "test-key",
    "X_API_KEY_SECRET": "test-key-secret",
    "X_ACCESS_TOKEN": "test-token",
    "X_ACCESS_TOKEN_SECRET": "test-token-secret",
}
BSKY_PASSWORD = "test-bsky-password"  # every simulated Bluesky account's app password
MASTO_TOKEN = "test-mastodon-token"  # every simulated Mastodon account's access token

T_1330 = datetime(2020, 11, 12, 12, 30, tzinfo=UTC)  # 13:30 CET
HELLO_AT = T_1330 + timedelta(minutes=1)  # hello: opening.start + 1m
Q1_AT = T_1330 + timedelta(minutes=17)  # q1: q1.start + 2m


class World:
    """A store, a clock, the simulated X API and a dispatcher, wired as `run` wires them."""

    def __init__(self, tmp_path: Path, schedule: str = MINI_SCHEDULE, mode: str = "auto") -> None:
        self.clock = FixedClock(T_1330)
        self.wall = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))  # the machine's clock, for leases
        # The simulated X knows the test's keys, so that it checks the signature of DM media requests.
        self.x = FakeXServer(clock=self.clock, hang_seconds=3, credentials=X_TEST_CREDENTIALS).start()
        self.store = Store(f"sqlite:///{tmp_path / 'livetweet.db'}", wall=self.wall)
        self.service = Service(self.store, self.clock)
        templates = {
            "hello.j2": "Welcome to {{ event.title }}!",
            "question.j2": "Now: {{ segment.title }}.",
            "thanks.j2": "Thanks for your questions!",
            "dm_reshare.j2": (REPO / "templates" / "dm_reshare.j2").read_text(),
        }
        self.service.load(write_event(tmp_path, schedule, templates), mode)
        self.notices: list[Notice] = []
        # While X processes a GIF the publisher waits: here the wait moves the test's clock instead.
        self.publisher = XPublisher(
            X_TEST_CREDENTIALS,
            self.x.url,
            timeout=1.0,
            clock=self.clock,
            sleep=lambda s: self.clock.advance(timedelta(seconds=s)),
        )
        self.dispatcher = Dispatcher(self.service, self.publisher, "demo", on_notice=self.notices.append)

    def at(self, when: datetime) -> World:
        self.clock.set(when)
        self.dispatcher.tick()
        return self

    def crash(self) -> Dispatcher:
        """The run dies (its lease goes quiet); a new run takes over the store."""
        self.wall.advance(timedelta(seconds=RUNNER_STALE_SECONDS + 1))
        return Dispatcher(self.service, self.publisher, "demo", on_notice=self.notices.append)

    def draft(self, slot: str):  # type: ignore[no-untyped-def]
        return next(d for d in self.store.drafts() if d.slot == slot)

    def texts(self) -> list[str]:
        return [t.text for t in self.x.posts()]

    def close(self) -> None:
        self.publisher.close()
        self.x.stop()
        self.store.close()


class NetworksWorld:
    """The world (`world`) with a simulated Bluesky or Mastodon per account beside its X, as a run wires them:
    `publishers` is the run's, one per account ("x" the world's own), and the world's dispatcher posts through it.
    A subclass (or a test) adds the accounts with `bluesky()` and `mastodon()`."""

    def __init__(self, tmp_path: Path, schedule: str, mode: str = "auto", timeout: float = 1.0) -> None:
        self.world = World(tmp_path, schedule, mode)
        self.timeout = timeout  # of each Bluesky and Mastodon publisher's requests
        self.servers: dict[str, FakeBlueskyServer | FakeMastodonServer] = {}  # by account
        self.handles: dict[str, str] = {}  # each Bluesky account's handle
        self.publishers: dict[str, Publisher] = {"x": self.world.publisher}
        self.world.dispatcher.publishers = self.publishers

    def bluesky(self, account: str, handle: str, **options: Any) -> FakeBlueskyServer:
        """Start a simulated Bluesky holding `handle` (BSKY_PASSWORD) for the account, and its publisher."""
        server = FakeBlueskyServer(clock=self.world.clock, handle=handle, password=BSKY_PASSWORD, **options).start()
        self.servers[account], self.handles[account] = server, handle
        self.publishers[account] = self.publisher(account)
        return server

    def mastodon(self, account: str, username: str = "demo", **options: Any) -> FakeMastodonServer:
        """Start a simulated Mastodon holding `username` (MASTO_TOKEN) for the account, and its publisher."""
        server = FakeMastodonServer(clock=self.world.clock, username=username, token=MASTO_TOKEN, **options).start()
        self.servers[account] = server
        self.publishers[account] = self.publisher(account)
        return server

    def publisher(self, account: str) -> Publisher:
        """A Bluesky or Mastodon account's publisher as a new run makes it (no cursor of its own yet)."""
        server, clock = self.servers[account], self.world.clock
        if isinstance(server, FakeBlueskyServer):
            return BlueskyPublisher(self.handles[account], BSKY_PASSWORD, server.url, timeout=self.timeout, clock=clock)
        return MastodonPublisher(server.url, MASTO_TOKEN, timeout=self.timeout, clock=clock)

    def fresh_publishers(self) -> dict[str, Publisher]:
        """Every Bluesky and Mastodon account's publisher as a new run makes them."""
        return {account: self.publisher(account) for account in self.servers}

    def at(self, when: datetime, dispatcher: Dispatcher | None = None) -> Self:
        """The clock set to `when`, and one sweep of the world's run (or of `dispatcher`)."""
        self.world.clock.set(when)
        (dispatcher or self.world.dispatcher).tick()
        return self

    def close(self) -> None:
        for account, publisher in self.publishers.items():
            if account != "x":
                publisher.close()
        for server in self.servers.values():
            server.stop()
        self.world.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def posting_run(service: Any) -> Any:
    """The ledger of the run holding the store's lease (taken for a test run if nobody holds it)."""
    from livetweet.service.ledger import Ledger, Run

    store = service.store
    held = store.lease()
    if held is None or not held.alive(store.wall.now()):
        held = store.take_lease("test-run", kind="live")
    return Ledger(store, service.clock, Run(held.holder, held.epoch))

"""X, Bluesky and Mastodon simulated side by side, started by a test or a bench so that they outlive a run.

A rehearsal given their addresses (LIVETWEET_X_API_URL, LIVETWEET_BLUESKY_URL,
LIVETWEET_MASTODON_URL) posts there instead of starting its own, with its placeholder
credentials, which these servers accept. What each network holds is read back in one shape
(`Post`), so that a test compares the three networks with the store by one rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from livetweet.clock import Clock
from livetweet.config import REHEARSAL_NETWORK_CREDENTIALS
from livetweet.fakes import FakeXServer
from livetweet.fakes.bluesky import FakeBlueskyServer
from livetweet.fakes.mastodon import FakeMastodonServer

X_HANDLE = "@UNMigNetwork"
BSKY_HANDLE = "unmignetwork.bsky.social"
MASTO_USER, MASTO_DOMAIN = "unmignetwork", "mastodon.social"
ACCOUNTS_YAML = f"""accounts:
  - id: x
    network: x
    handle: "{X_HANDLE}"
  - id: bsky
    network: bluesky
    handle: {BSKY_HANDLE}
  - id: masto
    network: mastodon
    handle: "@{MASTO_USER}@{MASTO_DOMAIN}"
"""
NETWORK_OF = {"x": "x", "bsky": "bluesky", "masto": "mastodon"}  # account id -> network
# The route each network posts through: where a test injects the faults of a post.
POST_ROUTES = {"x": "POST /2/tweets", "bsky": "com.atproto.repo.createRecord", "masto": "POST /api/v1/statuses"}


@dataclass(frozen=True)
class Post:
    """One post as its network holds it: its id (as livetweet records it), text, parent, images' alt texts."""

    id: str
    text: str
    parent: str | None  # the post it answers: X's in_reply_to, Bluesky's reply.parent uri, Mastodon's in_reply_to_id
    root: str | None  # Bluesky's reply.root uri (the thread's first post); None elsewhere
    alts: tuple[str, ...]  # the alt text of each image it carries, in order
    key: str | None = None  # Bluesky's record key, Mastodon's Idempotency-Key


@dataclass
class Networks:
    """The three simulated servers: one account each, as the schedule's accounts (ACCOUNTS_YAML) name them."""

    x: FakeXServer
    bsky: FakeBlueskyServer
    masto: FakeMastodonServer

    @classmethod
    def start(cls, clock: Clock | None = None, hang_seconds: float = 30.0, unlimited: bool = False) -> Networks:
        """Start all three; `unlimited` lifts their rate limits (a benchmark posts hundreds of times)."""
        x = FakeXServer(clock=clock, username=X_HANDLE.lstrip("@"), hang_seconds=hang_seconds,
                        rate_limits={} if unlimited else None).start()  # fmt: skip
        bsky = FakeBlueskyServer(
            clock=clock, handle=BSKY_HANDLE, password=REHEARSAL_NETWORK_CREDENTIALS["bluesky"]["BLUESKY_APP_PASSWORD"],
            hang_seconds=hang_seconds,
        ).start()  # fmt: skip
        masto = FakeMastodonServer(
            clock=clock, username=MASTO_USER, domain=MASTO_DOMAIN,
            token=REHEARSAL_NETWORK_CREDENTIALS["mastodon"]["MASTODON_ACCESS_TOKEN"], hang_seconds=hang_seconds,
        ).start()  # fmt: skip
        if unlimited:
            with masto.state.lock:
                masto.state.rate_limits = {
                    route: (10**9, seconds) for route, (_, seconds) in masto.state.rate_limits.items()
                }
        return cls(x, bsky, masto)

    def env(self) -> dict[str, str]:
        """The environment that points a rehearsal at these servers."""
        return {
            "LIVETWEET_X_API_URL": self.x.url,
            "LIVETWEET_BLUESKY_URL": self.bsky.url,
            "LIVETWEET_MASTODON_URL": self.masto.url,
        }

    def stop(self) -> None:
        for server in (self.x, self.bsky, self.masto):
            server.stop()

    def fault(self, account: str, kind: str, reset_seconds: float = 1.0) -> None:
        """The next post on this account's network is answered with `kind` (a 429 resets `reset_seconds` later)."""
        if account == "x":
            self.x.inject_fault(kind, POST_ROUTES["x"], reset_seconds=reset_seconds)
        elif account == "bsky":
            self.bsky.fault(POST_ROUTES["bsky"], kind, reset_seconds=reset_seconds)
        else:
            self.masto.fault(POST_ROUTES["masto"], kind, reset_seconds=reset_seconds)

    def requests(self, account: str) -> list[tuple[str, str]]:
        """Every (route, outcome) of the posts sent to this account's network, in order."""
        route = POST_ROUTES[account]
        if account == "x":
            with self.x.state.lock:
                return [r for r in self.x.state.requests if r[0] == route]
        if account == "bsky":
            return self.bsky.requests(route)
        return [r for r in self.masto.requests() if r[0] == route]

    def count(self, account: str) -> int:
        """How many posts the account holds now (cheap: no images read)."""
        if account == "x":
            return len(self.x.posts())
        if account == "bsky":
            return len(self.bsky.posts())
        return len(self.masto.statuses())

    def posts(self, account: str) -> list[Post]:
        """The account's posts, in the order its network made them."""
        if account == "x":
            return [
                Post(t.id, t.text, t.in_reply_to, None, tuple(m.alt for m in self.x.media_of(t)))
                for t in self.x.posts()
            ]
        if account == "bsky":
            found = []
            for r in self.bsky.posts():
                reply = r.reply or {}
                images = (r.embed or {}).get("images") or []
                found.append(
                    Post(
                        r.uri,
                        r.text,
                        (reply.get("parent") or {}).get("uri"),
                        (reply.get("root") or {}).get("uri"),
                        tuple(str(i.get("alt", "")) for i in images),
                        r.rkey,
                    )
                )
            return found
        return [
            Post(s.id, s.text, s.in_reply_to_id, None, tuple(m.description for m in s.media), s.idempotency_key)
            for s in self.masto.statuses()
        ]

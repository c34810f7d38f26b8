"""The simulated X API: the routes tweepy uses, X's answers, and faults on request.

A plain threaded HTTP server on 127.0.0.1 with its own state. Tests and rehearsals drive
it with real tweepy over real HTTP; its clock can be the rehearsal's, so that rate-limit
resets and post times are in event time.

Images: the v2 media routes (a single upload, or initialize/append/finalize with
`processing_info` for a GIF; the type read from the bytes, X's size limits, ids that expire
after `expires_after_secs`), alt text (POST /2/media/metadata), posts that carry media ids
(unknown, expired or unprocessed ones refused as X refuses them), and the images of direct
messages, served like X's ton.twitter.com: only to a request signed with OAuth 1.0a (and,
when the server knows the account's keys, signed with them). Every upload is recorded, so a
test can say which image reached X, how often, with which alt text, on which post.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import itertools
import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any, Self
from urllib.parse import parse_qs, quote, urlsplit

from oauthlib.oauth1.rfc5849 import (  # type: ignore[import-untyped]
    signature as oauth_signature,
    utils as oauth_utils,
)

from ..clock import Clock, SystemClock
from ..plan.tweettext import parse_tweet
from .base import HTML_TYPE, PAGE_POLICY, FakeHandler, FakeServer, Fault, NetworkState, sniff, timeline_page

ACCOUNT_ID = "1318230912000000000"
FIRST_TWEET_ID = 1_326_000_000_000_000_000
RATE_WINDOW = timedelta(minutes=15)
RATE_LIMITS = {"POST /2/tweets": 100, "GET /2/dm_events": 15, "GET /2/users/:id/tweets": 900}
MAX_BODY = 1024 * 1024  # bytes: X's own limit for a post's JSON is far smaller
MAX_MEDIA_BODY = 8 * 1024 * 1024  # bytes of JSON on an upload route: 5 MB of image, base64-encoded
# The control route /fake/dm keeps the 1 MB limit (a rehearsal's DM photo must be small): a page that
# floods the simulated X's own routes is refused early.
MEDIA_BODY_ROUTES = frozenset({"POST /2/media/upload", "POST /2/media/upload/:id/append"})
# X's answer to an automated reply the 2026 reply restriction refuses (as developers reported it).
REPLY_RESTRICTED = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by "
    "the author of the post you are replying to."
)
FAULT_KINDS = (
    "500", "503", "503-after-store", "429", "401", "403", "400", "hang", "hang-after-store", "drop-after-store",
)  # fmt: skip
# X's rules for media (https://docs.x.com/x-api/media): what it takes, by the bytes' own type.
IMAGE_KINDS = ("image/jpeg", "image/png", "image/webp", "image/gif")
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # an image (X's "5 MB")
MAX_GIF_BYTES = 15 * 1024 * 1024  # an animated GIF, uploaded in chunks as tweet_gif
MAX_CHUNK_BYTES = 5 * 1024 * 1024  # one append
MAX_ALT_TEXT = 1000  # characters
MAX_IMAGES_PER_POST = 4  # or one GIF
MEDIA_EXPIRES_AFTER = 86_400  # seconds X keeps an upload no post used
GIF_PROCESSING_SECONDS = 2.0  # how long (on the server's clock) X takes to process a GIF
INVALID_MEDIA = "Your media IDs are invalid."  # X's words for an unknown, expired or unprocessed media id
UPLOAD_ROUTES = (
    "POST /2/media/upload", "POST /2/media/upload/initialize", "POST /2/media/upload/:id/append",
    "POST /2/media/upload/:id/finalize", "GET /2/media/upload", "POST /2/media/metadata",
)  # fmt: skip
DM_MEDIA_ROUTE = "GET /1.1/ton/data/dm/:path"
DM_MEDIA_HOST = "https://ton.twitter.com"


@dataclass
class Tweet:
    id: str
    text: str
    created_at: datetime
    in_reply_to: str | None
    arrived_monotonic: float = 0.0
    media_ids: list[str] = field(default_factory=list)


@dataclass
class Media:
    """One upload, as X keeps it: its bytes, its alt text, the posts that carry it."""

    id: str
    key: str
    kind: str  # the MIME type X read from the bytes
    category: str  # tweet_image, tweet_gif, dm_image...
    created_at: datetime
    expires_at: datetime
    total_bytes: int
    data: bytes = b""
    chunks: dict[int, bytes] = field(default_factory=dict)  # a chunked upload, until finalized
    state: str = "succeeded"  # uploading, pending, in_progress, succeeded, failed
    ready_at: datetime | None = None  # when the processing of a GIF is done
    alt: str = ""
    attached_to: list[str] = field(default_factory=list)  # tweet ids

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class DmMedia:
    """An image a participant attached to a direct message."""

    key: str
    id: str
    kind: str
    data: bytes
    url: str  # on ton.twitter.com: signed requests of the account only


@dataclass
class DirectMessage:
    id: str
    text: str
    sender_id: str
    sender_username: str
    created_at: datetime
    attachments: list[str] = field(default_factory=list)  # media keys


@dataclass(frozen=True)
class Arrival:
    """One request as it reached one address of the simulated X: which route, its outcome, when."""

    route: str
    outcome: str
    wall: float  # time.time()
    monotonic: float


class FakeXState(NetworkState):
    """Everything the simulated X API knows; every method takes the lock."""

    def __init__(self, clock: Clock, username: str, rate_limits: dict[str, int] | None) -> None:
        super().__init__(clock)
        self.username = username.lstrip("@")
        self.tweets: list[Tweet] = []
        self.deleted: list[str] = []
        self.dms: list[DirectMessage] = []
        self.users: dict[str, str] = {ACCOUNT_ID: self.username}
        self.fault_reset: dict[str, float] = {}  # route -> real seconds to the reset of its injected 429
        self.rate_limits = dict(RATE_LIMITS if rate_limits is None else rate_limits)
        self._windows: dict[str, tuple[datetime, int]] = {}
        self._ids = itertools.count(FIRST_TWEET_ID, 7)
        self._user_ids = itertools.count(2_000_000)
        self.media: dict[str, Media] = {}  # every upload by media id, in the order they came
        self.dm_media: dict[str, DmMedia] = {}  # by media key
        # X's rule of 2026-02-23: an app's reply goes only to a post whose author summoned the account.
        # Whether a reply to one's own post is exempt is not documented: a rehearsal can try both.
        self.reply_restriction: str | None = None  # None: off; "others": replies to other authors; "all"
        self.media_expires_after = MEDIA_EXPIRES_AFTER  # seconds (of real time) an unused upload is kept
        self.credentials: dict[str, str] | None = None  # when known, DM media check the OAuth signature itself

    def next_id(self) -> str:
        return str(next(self._ids))

    def user_id(self, username: str) -> str:
        for uid, name in self.users.items():
            if name.lower() == username.lower():
                return uid
        uid = str(next(self._user_ids))
        self.users[uid] = username
        return uid

    def rate(self, route: str) -> tuple[int, int, int, bool]:
        """(limit, remaining, reset epoch, allowed) for one more call on `route`."""
        limit = self.rate_limits.get(route)
        now = self.clock.now()
        if limit is None:
            return 0, 0, 0, True
        start, used = self._windows.get(route, (now, 0))
        if now - start >= RATE_WINDOW:
            start, used = now, 0
        allowed = used < limit
        if allowed:
            used += 1
        self._windows[route] = (start, used)
        return limit, max(limit - used, 0), self.wall_epoch(start + RATE_WINDOW), allowed

    def wall_epoch(self, when: datetime) -> int:
        """X's reset headers are wall-clock epochs: `when` (on this server's clock) as one, rounded up."""
        return math.ceil(time.time() + self.clock.real_seconds(when - self.clock.now()))


class _Handler(FakeHandler):
    server: FakeXServer
    network = "X API"

    # --- plumbing ---------------------------------------------------------------

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        """X's problem details (RFC 7807)."""
        return {"title": HTTPStatus(status).phrase, "detail": message, "type": "about:blank", "status": status}

    def _problem(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        self._send(status, {**self._error_body(status, detail), **extra}, headers)

    def _json_body(self) -> Any:
        try:
            return json.loads(self._raw or b"{}")
        except ValueError:
            return None

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.startswith("OAuth ") or auth.startswith("Bearer ")

    def _route(self) -> tuple[str, str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        key = re.sub(r"^/2/users/(?!me$)[^/]+/tweets$", "/2/users/:id/tweets", path)
        key = re.sub(r"^/2/tweets/\d+$", "/2/tweets/:id", key)
        key = re.sub(r"^/2/media/upload/[^/]+/(append|finalize)$", r"/2/media/upload/:id/\1", key)
        key = re.sub(r"^/1\.1/ton/data/dm/.+$", "/1.1/ton/data/dm/:path", key)
        key = re.sub(r"^/fake/media/[^/]+$", "/fake/media/:key", key)
        return f"{self.command} {key}", path, parse_qs(parts.query)

    def _dispatch(self) -> None:
        if not self._from_own_host():
            return
        length = self._content_length()
        if length is None:
            return
        route, path, query = self._route()
        if not self._read_body(length, MAX_MEDIA_BODY if route in MEDIA_BODY_ROUTES else MAX_BODY):
            return
        state = self.server.state
        if route == DM_MEDIA_ROUTE and not self._signed_by_the_account():
            self._record(route, "401")
            self._problem(401, "Unauthorized: the images of direct messages need the account's OAuth 1.0a signature")
            return
        if route.split()[1].startswith(("/2/", "/1.1/")):
            if not self._authorized():
                self._problem(401, "Unauthorized")
                return
            with state.lock:
                fault = state.take_fault(route)
                limit, remaining, reset, allowed = state.rate(route)
            rate_headers = (
                {
                    "x-rate-limit-limit": str(limit),
                    "x-rate-limit-remaining": str(remaining),
                    "x-rate-limit-reset": str(reset),
                }
                if limit
                else {}
            )
            if fault is not None and self._fault(route, fault.kind, rate_headers):
                return
            if not allowed:
                self._record(route, "429")
                self._problem(429, "Too Many Requests", rate_headers)
                return
            handler = _API_ROUTES.get(route)
            if handler is None:
                self._problem(404, f"no such route in the simulated X API: {route}")
                return
            handler(self, path, query, rate_headers)
            return
        handler = _FAKE_ROUTES.get(route)
        if handler is None:
            self._problem(404, f"no such route: {route}")
            return
        if self._control_allowed():
            handler(self, path, query, {})

    def _signed_by_the_account(self) -> bool:
        """An OAuth 1.0a (HMAC-SHA1) header; checked against the account's keys when the server knows them.

        The client signed the URL it asked for (ton.twitter.com), not this server's address.
        """
        header = self.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return False
        uri = DM_MEDIA_HOST + self.path
        try:
            params = {k: oauth_utils.unescape(v) for k, v in oauth_utils.parse_authorization_header(header)}
        except (ValueError, TypeError):
            return False
        given = str(params.get("oauth_signature") or "")
        if params.get("oauth_signature_method") != "HMAC-SHA1" or not given or not params.get("oauth_token"):
            return False
        keys = self.server.state.credentials
        if keys is None:
            return True
        if (params.get("oauth_consumer_key"), params.get("oauth_token")) != (keys["X_API_KEY"], keys["X_ACCESS_TOKEN"]):
            return False
        collected = oauth_signature.collect_parameters(
            uri_query=urlsplit(uri).query, headers={"Authorization": header}, exclude_oauth_signature=True
        )
        base = oauth_signature.signature_base_string(
            "GET", oauth_signature.base_string_uri(uri), oauth_signature.normalize_parameters(collected)
        )
        secrets = SimpleNamespace(
            client_secret=keys["X_API_KEY_SECRET"], resource_owner_secret=keys["X_ACCESS_TOKEN_SECRET"]
        )
        expected = oauth_signature.sign_hmac_sha1_with_client(base, secrets)
        return hmac.compare_digest(str(expected), given)

    def _record(self, route: str, outcome: str) -> None:
        """Add the request to the log, and to this address's own (`arrivals`)."""
        with self.server.state.lock:
            self.server.state.requests.append((route, outcome))
            self.server.arrivals.append(Arrival(route, outcome, time.time(), time.monotonic()))

    def _fault(self, route: str, kind: str, rate_headers: dict[str, str]) -> bool:
        """Answer with an injected fault; False when the fault lets the request go on."""
        self._record(route, f"fault:{kind}")
        if kind in ("500", "503"):
            self._problem(int(kind), "Service Unavailable" if kind == "503" else "Internal Server Error")
        elif kind == "503-after-store":  # X stored the post, then failed to say so
            body = self._json_body()
            if route == "POST /2/tweets" and isinstance(body, dict):
                _store_tweet(self.server.state, body)
            self._problem(503, "Service Unavailable")
        elif kind == "429":
            with self.server.state.lock:
                reset = int(time.time() + self.server.state.fault_reset.get(route, 30.0))
            self._problem(
                429,
                "Too Many Requests",
                {**rate_headers, "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
            )
        elif kind == "401":
            self._problem(401, "Unauthorized")
        elif kind == "400":
            self._problem(400, "One or more parameters to your request was invalid.", rate_headers)
        elif kind == "403":
            self._problem(403, "You are not permitted to perform this action.")
        elif kind in ("hang", "hang-after-store"):
            body = self._json_body()
            if kind == "hang-after-store" and route == "POST /2/tweets" and isinstance(body, dict):
                _store_tweet(self.server.state, body)
            self._hang()
        elif kind == "drop-after-store":
            body = self._json_body()
            if route == "POST /2/tweets" and isinstance(body, dict):
                _store_tweet(self.server.state, body)
            self._drop()
        return True

    def do_DELETE(self) -> None:
        self._dispatch()


def _media_ids(body: dict[str, Any]) -> list[str]:
    media = body.get("media")
    ids = media.get("media_ids") if isinstance(media, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _store_tweet(state: FakeXState, body: dict[str, Any]) -> Tweet:
    reply = (body.get("reply") or {}).get("in_reply_to_tweet_id")
    media_ids = _media_ids(body)
    with state.lock:
        tweet = Tweet(state.next_id(), body["text"], state.clock.now(), reply, time.monotonic(), media_ids)
        state.tweets.append(tweet)
        for media_id in media_ids:
            if media_id in state.media:
                state.media[media_id].attached_to.append(tweet.id)
    return tweet


def _shown_text(t: Tweet) -> str:
    """As X shows a post with images: its text, then a t.co link to the images."""
    if not t.media_ids:
        return t.text
    return f"{t.text} https://t.co/{hashlib.sha256(t.id.encode()).hexdigest()[:10]}"


def _tweet_json(t: Tweet, state: FakeXState | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": t.id,
        "text": _shown_text(t) if state is not None else t.text,
        "created_at": t.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "author_id": ACCOUNT_ID,
        "edit_history_tweet_ids": [t.id],
    }
    if t.in_reply_to:
        data["in_reply_to_user_id"] = ACCOUNT_ID
        data["referenced_tweets"] = [{"type": "replied_to", "id": t.in_reply_to}]
    if t.media_ids and state is not None:
        keys = [state.media[i].key for i in t.media_ids if i in state.media]
        data["attachments"] = {"media_keys": keys}
    return data


def _media_problem(state: FakeXState, media_ids: list[str]) -> str | None:
    """Why X would refuse these media ids on a post (under the state's lock), or None."""
    now = state.clock.now()
    found = [state.media.get(i) for i in media_ids]
    if any(m is None or m.expires_at <= now or m.state != "succeeded" for m in found):
        return INVALID_MEDIA
    gifs = [m for m in found if m is not None and m.category.endswith("_gif")]
    if len(media_ids) > MAX_IMAGES_PER_POST or (gifs and len(media_ids) > 1):
        return f"A post carries at most {MAX_IMAGES_PER_POST} images or one GIF."
    return None


def _create_tweet(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    body = h._json_body()
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        h._record("POST /2/tweets", "400")
        h._problem(
            400,
            "One or more parameters to your request was invalid.",
            errors=[{"message": "the request body must be JSON with a text"}],
        )
        return
    text = body["text"]
    state = h.server.state
    if not parse_tweet(text).valid:
        h._record("POST /2/tweets", "400")
        h._problem(
            400,
            "One or more parameters to your request was invalid.",
            headers,
            errors=[{"message": "Your Tweet text is too long or contains invalid characters."}],
        )
        return
    reply = (body.get("reply") or {}).get("in_reply_to_tweet_id")
    with state.lock:
        duplicate = any(t.text == text for t in state.tweets if t.id not in state.deleted)
        known_parent = reply is None or any(t.id == reply for t in state.tweets)
        media_problem = _media_problem(state, _media_ids(body)) if "media" in body else None
    if media_problem:
        h._record("POST /2/tweets", "400-media")
        h._problem(
            400, "One or more parameters to your request was invalid.", headers, errors=[{"message": media_problem}]
        )
        return
    if duplicate:
        h._record("POST /2/tweets", "403-duplicate")
        h._problem(403, "You are not allowed to create a Tweet with duplicate content.", headers)
        return
    if reply is not None and state.reply_restriction == "all":
        h._record("POST /2/tweets", "403-reply-restricted")
        h._problem(403, REPLY_RESTRICTED, headers)
        return
    if not known_parent:
        h._record("POST /2/tweets", "400")
        h._problem(
            400,
            "One or more parameters to your request was invalid.",
            headers,
            errors=[{"message": f"The tweet to reply to ({reply}) does not exist."}],
        )
        return
    tweet = _store_tweet(state, body)
    h._record("POST /2/tweets", "201")
    shown = _shown_text(tweet)
    h._send(201, {"data": {"id": tweet.id, "text": shown, "edit_history_tweet_ids": [tweet.id]}}, headers)


def _delete_tweet(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    tweet_id = path.rsplit("/", 1)[-1]
    state = h.server.state
    with state.lock:
        found = any(t.id == tweet_id for t in state.tweets) and tweet_id not in state.deleted
        if found:
            state.deleted.append(tweet_id)
    h._send(200, {"data": {"deleted": found}}, headers)


def _me(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    h._send(200, {"data": {"id": ACCOUNT_ID, "name": state.username, "username": state.username}}, headers)


def _page(
    items: list[Any], query: dict[str, list[str]], default: int, low: int, high: int
) -> tuple[list[Any], str | None]:
    size = int((query.get("max_results") or [str(default)])[0])
    size = max(low, min(high, size))
    offset = int((query.get("pagination_token") or ["0"])[0] or 0)
    page = items[offset : offset + size]
    next_token = str(offset + size) if offset + size < len(items) else None
    return page, next_token


def _user_tweets(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    user_id = path.split("/")[3]
    with state.lock:
        tweets = [t for t in state.tweets if t.id not in state.deleted] if user_id == ACCOUNT_ID else []
    since_id = (query.get("since_id") or [""])[0]
    start = (query.get("start_time") or [""])[0]
    if since_id:
        tweets = [t for t in tweets if int(t.id) > int(since_id)]
    if start:
        start_at = datetime.fromisoformat(start.replace("Z", "+00:00"))
        tweets = [t for t in tweets if t.created_at >= start_at]
    tweets = sorted(tweets, key=lambda t: int(t.id), reverse=True)
    page, next_token = _page(tweets, query, 10, 5, 100)
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta.update(newest_id=page[0].id, oldest_id=page[-1].id)
    if next_token:
        meta["next_token"] = next_token
    body: dict[str, Any] = {"meta": meta}
    if page:
        with state.lock:
            body["data"] = [_tweet_json(t, state) for t in page]
    h._record("GET /2/users/:id/tweets", "200")
    h._send(200, body, headers)


def _dm_events(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        events = sorted(state.dms, key=lambda d: int(d.id), reverse=True)
    page, next_token = _page(events, query, 100, 1, 100)
    data = []
    for dm in page:
        item: dict[str, Any] = {
            "id": dm.id,
            "event_type": "MessageCreate",
            "text": dm.text,
            "sender_id": dm.sender_id,
            "created_at": dm.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "dm_conversation_id": f"{min(dm.sender_id, ACCOUNT_ID)}-{max(dm.sender_id, ACCOUNT_ID)}",
        }
        if dm.attachments:
            item["attachments"] = {"media_keys": dm.attachments}
        data.append(item)
    senders = {dm.sender_id: dm.sender_username for dm in page}
    body: dict[str, Any] = {"meta": {"result_count": len(page)}}
    if next_token:
        body["meta"]["next_token"] = next_token
    if data:
        body["data"] = data
        body["includes"] = {"users": [{"id": i, "username": u, "name": u} for i, u in senders.items()]}
        expansions = ",".join(query.get("expansions") or []).split(",")
        fields = ",".join(query.get("media.fields") or []).split(",")
        if "attachments.media_keys" in expansions:
            media = [_dm_media_json(state, key, "url" in fields) for dm in page for key in dm.attachments]
            if media:
                body["includes"]["media"] = media
    h._record("GET /2/dm_events", "200")
    h._send(200, body, headers)


# --- media: uploads, alt text, and the images of direct messages -------------------------


def _limit(category: str) -> int:
    return MAX_GIF_BYTES if category.endswith("_gif") else MAX_IMAGE_BYTES


def _bad_media(h: _Handler, route: str, message: str, headers: dict[str, str], status: int = 400) -> None:
    h._record(route, f"{status}")
    h._problem(status, "One or more parameters to your request was invalid.", headers, errors=[{"message": message}])


def _media_ok(h: _Handler, route: str, data: dict[str, Any], headers: dict[str, str]) -> None:
    """X's answer to a media call that worked: its `data`, recorded as a 200."""
    h._record(route, "200")
    h._send(200, {"data": data}, headers)


def _decoded(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _new_media(state: FakeXState, kind: str, category: str, total: int) -> Media:
    """A media id and key, under the state's lock."""
    media_id = state.next_id()
    prefix = "16" if category.endswith("_gif") else "3"  # X's key prefixes: 3 photo, 16 animated GIF
    now = state.clock.now()
    media = Media(
        media_id,
        f"{prefix}_{media_id}",
        kind,
        category,
        now,
        now + state.clock.from_real(state.media_expires_after),
        total,
    )
    state.media[media_id] = media
    return media


def _expires_after(state: FakeXState, m: Media) -> int:
    """Seconds until X forgets the upload (counted on the server's clock: on a fast one, sooner)."""
    return max(int(state.media_expires_after - (state.clock.now() - m.created_at).total_seconds()), 0)


def _media_json(state: FakeXState, m: Media) -> dict[str, Any]:
    now = state.clock.now()
    data: dict[str, Any] = {
        "id": m.id,
        "media_key": m.key,
        "size": m.total_bytes,
        "expires_after_secs": _expires_after(state, m),
    }
    if m.state in ("pending", "in_progress", "failed"):
        info: dict[str, Any] = {"state": m.state}
        if m.state != "failed":
            info["check_after_secs"] = 1
            total = GIF_PROCESSING_SECONDS
            left = (m.ready_at - now).total_seconds() if m.ready_at else total
            info["progress_percent"] = int(100 * max(0.0, min(1.0, 1 - left / total)))
        data["processing_info"] = info
    elif m.ready_at is not None:
        data["processing_info"] = {"state": "succeeded", "progress_percent": 100}
    return data


def _advance_processing(state: FakeXState, m: Media) -> None:
    if m.state in ("pending", "in_progress") and m.ready_at is not None:
        m.state = "succeeded" if state.clock.now() >= m.ready_at else "in_progress"


def _upload(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    """POST /2/media/upload: an image in one call (JSON, base64)."""
    route = "POST /2/media/upload"
    body = h._json_body()
    data = _decoded(body.get("media")) if isinstance(body, dict) else None
    if not isinstance(body, dict) or data is None:
        _bad_media(h, route, "send JSON with the image base64-encoded in media", headers)
        return
    category = str(body.get("media_category") or "tweet_image")
    kind = sniff(data)
    if category not in ("tweet_image", "dm_image"):
        _bad_media(
            h, route, f"media_category {category} needs the chunked upload (initialize, append, finalize)", headers
        )
        return
    if kind is None:
        _bad_media(h, route, "Unsupported media type: X takes JPEG, PNG, WebP and GIF images", headers)
        return
    declared = body.get("media_type")
    if declared and declared != kind:
        _bad_media(h, route, f"media_type says {declared} but the bytes are {kind}", headers)
        return
    if len(data) > _limit(category):
        _bad_media(h, route, f"File size exceeds {_limit(category)} bytes.", headers)
        return
    state = h.server.state
    with state.lock:
        media = _new_media(state, kind, category, len(data))
        media.data = data
        answer = _media_json(state, media)
    _media_ok(h, route, answer, headers)


def _initialize(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    route = "POST /2/media/upload/initialize"
    body = h._json_body()
    total = body.get("total_bytes") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(total, int) or total <= 0:
        _bad_media(h, route, "send JSON with media_type, total_bytes and media_category", headers)
        return
    kind = str(body.get("media_type") or "")
    category = str(body.get("media_category") or ("tweet_gif" if kind == "image/gif" else "tweet_image"))
    if kind not in IMAGE_KINDS or category not in ("tweet_image", "tweet_gif", "dm_image", "dm_gif"):
        _bad_media(h, route, f"Unsupported media type {kind or '(none)'} for {category}", headers)
        return
    if total > _limit(category):
        _bad_media(h, route, f"File size exceeds {_limit(category)} bytes.", headers)
        return
    state = h.server.state
    with state.lock:
        media = _new_media(state, kind, category, total)
        media.state = "uploading"
        answer = {"id": media.id, "media_key": media.key, "expires_after_secs": _expires_after(state, media)}
    _media_ok(h, route, answer, headers)


def _uploading(h: _Handler, path: str) -> Media | None:
    """The chunked upload a path names, if it is still open (under the state's lock)."""
    media_id = path.split("/")[4]
    media = h.server.state.media.get(media_id)
    if media is None or media.state != "uploading" or media.expires_at <= h.server.state.clock.now():
        return None
    return media


def _append(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    route = "POST /2/media/upload/:id/append"
    body = h._json_body()
    chunk = _decoded(body.get("media")) if isinstance(body, dict) else None
    index = body.get("segment_index") if isinstance(body, dict) else None
    if chunk is None or not isinstance(index, int) or not 0 <= index <= 999:
        _bad_media(h, route, "send JSON with media (base64) and segment_index (0-999)", headers)
        return
    if len(chunk) > MAX_CHUNK_BYTES:
        _bad_media(h, route, f"a segment holds at most {MAX_CHUNK_BYTES} bytes", headers)
        return
    state = h.server.state
    with state.lock:
        media = _uploading(h, path)
        if media is not None:
            media.chunks[index] = chunk
            over = sum(len(c) for c in media.chunks.values()) > media.total_bytes
            expires_at = int(time.time()) + _expires_after(state, media)
    if media is None:
        _bad_media(h, route, INVALID_MEDIA, headers)
        return
    if over:
        _bad_media(h, route, "the segments add up to more than total_bytes", headers)
        return
    _media_ok(h, route, {"expires_at": expires_at}, headers)


def _finalize(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    route = "POST /2/media/upload/:id/finalize"
    state = h.server.state
    problem = None
    with state.lock:
        media = _uploading(h, path)
        if media is None:
            problem = INVALID_MEDIA
        else:
            data = b"".join(media.chunks[i] for i in sorted(media.chunks))
            if sorted(media.chunks) != list(range(len(media.chunks))) or len(data) != media.total_bytes:
                problem = f"the segments hold {len(data)} bytes, not the {media.total_bytes} announced"
            elif sniff(data) != media.kind:
                problem = f"the bytes are {sniff(data) or 'no image X takes'}, not the {media.kind} announced"
            else:
                media.data, media.chunks = data, {}
                if media.category.endswith("_gif"):
                    media.state = "pending"
                    media.ready_at = state.clock.now() + timedelta(seconds=GIF_PROCESSING_SECONDS)
                else:
                    media.state = "succeeded"
                answer = _media_json(state, media)
    if problem:
        _bad_media(h, route, problem, headers)
        return
    _media_ok(h, route, answer, headers)


def _status(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    route = "GET /2/media/upload"
    media_id = (query.get("media_id") or [""])[0]
    state = h.server.state
    with state.lock:
        media = state.media.get(media_id)
        if media is not None:
            _advance_processing(state, media)
            answer = _media_json(state, media)
    if media is None or (query.get("command") or ["STATUS"])[0] != "STATUS":
        _bad_media(h, route, INVALID_MEDIA, headers)
        return
    _media_ok(h, route, answer, headers)


def _metadata(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    """POST /2/media/metadata: the alt text of an upload."""
    route = "POST /2/media/metadata"
    body = h._json_body()
    metadata = body.get("metadata") if isinstance(body, dict) else None
    alt = ((metadata or {}).get("alt_text") or {}).get("text") if isinstance(metadata, dict) else None
    if not isinstance(body, dict) or not isinstance(alt, str):
        _bad_media(h, route, 'send JSON like {"id": "...", "metadata": {"alt_text": {"text": "..."}}}', headers)
        return
    if len(alt) > MAX_ALT_TEXT:
        _bad_media(h, route, f"alt text is {len(alt)} characters: X takes at most {MAX_ALT_TEXT}", headers)
        return
    state = h.server.state
    with state.lock:
        media = state.media.get(str(body.get("id") or ""))
        if media is not None and media.expires_at > state.clock.now():
            media.alt = alt
        else:
            media = None
    if media is None:
        _bad_media(h, route, INVALID_MEDIA, headers)
        return
    _media_ok(h, route, {"id": media.id, "associated_metadata": {"alt_text": {"text": alt}}}, headers)


def _dm_media(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    """GET /1.1/ton/data/dm/{dm id}/{media id}/{name}: a direct message's image (signed requests only)."""
    state = h.server.state
    with state.lock:
        found = next((m for m in state.dm_media.values() if urlsplit(m.url).path == path), None)
    if found is None:
        h._record(DM_MEDIA_ROUTE, "404")
        h._problem(404, "Not Found")
        return
    h._record(DM_MEDIA_ROUTE, "200")
    h._send(200, found.data, {"X-Content-Type-Options": "nosniff", **headers}, content_type=found.kind)


def _dm_media_json(state: FakeXState, key: str, with_url: bool) -> dict[str, Any]:
    media = state.dm_media.get(key)
    kinds = {"3": "photo", "7": "video", "16": "animated_gif"}  # X's media key prefixes
    item: dict[str, Any] = {"media_key": key, "type": kinds.get(key.split("_")[0], "photo")}
    if media is not None and with_url:
        item["url"] = media.url
    return item


# --- routes of the simulated API itself (not X's) ----------------------------------


def add_dm(
    state: FakeXState, sender: str, text: str, attachments: list[str] | list[bytes] | list[str | bytes] | None = None
) -> DirectMessage:
    """An incoming direct message, as a participant would send it.

    Each attachment is a media key (X's reference, nothing behind it) or an image's bytes,
    which the account can then fetch, as on X, with a signed GET of the media's `url`.
    """
    with state.lock:
        sender_name = sender.lstrip("@")
        sender_id = ACCOUNT_ID if sender_name.lower() == state.username.lower() else state.user_id(sender_name)
        dm_id = state.next_id()
        keys: list[str] = []
        for item in attachments or []:
            if isinstance(item, str):
                keys.append(item)
                continue
            media_id = state.next_id()
            kind = sniff(item) or "application/octet-stream"
            key = f"{'16' if kind == 'image/gif' else '3'}_{media_id}"
            name = hashlib.sha256(item).hexdigest()[:8] + {"image/png": ".png", "image/gif": ".gif"}.get(kind, ".jpg")
            url = f"{DM_MEDIA_HOST}/1.1/ton/data/dm/{dm_id}/{media_id}/{quote(name)}"
            state.dm_media[key] = DmMedia(key, media_id, kind, bytes(item), url)
            keys.append(key)
        dm = DirectMessage(dm_id, text, sender_id, sender_name, state.clock.now(), keys)
        state.dms.append(dm)
    return dm


def _fake_dm(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    body = h._json_body()
    if not isinstance(body, dict) or not body.get("from") or not isinstance(body.get("text"), str):
        h._problem(400, 'send JSON like {"from": "username", "text": "...", "images": ["<base64>"]}')
        return
    images = [_decoded(i) for i in body.get("images") or []]
    if any(i is None for i in images):
        h._problem(400, "images are base64-encoded image files")
        return
    attachments: list[str | bytes] = [*map(str, body.get("media_keys") or []), *(i for i in images if i is not None)]
    dm = add_dm(h.server.state, str(body["from"]), body["text"], attachments)
    h._send(201, {"data": {"id": dm.id, "sender_id": dm.sender_id, "media_keys": dm.attachments}})


def _fake_faults(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    body = h._json_body()
    if not isinstance(body, dict) or body.get("kind") not in FAULT_KINDS:
        h._problem(400, f'send JSON like {{"route": "POST /2/tweets", "kind": one of {list(FAULT_KINDS)}, "times": 1}}')
        return
    route = str(body.get("route") or "POST /2/tweets")
    with h.server.state.lock:
        h.server.state.add_fault(route, Fault(body["kind"], int(body.get("times") or 1)))
    h._send(201, {"ok": True})


def _fake_state(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        body = {
            "account": state.username,
            "tweets": [_tweet_json(t, state) for t in state.tweets],
            "deleted": list(state.deleted),
            "dms": len(state.dms),
            "media": [
                {
                    "id": m.id, "media_key": m.key, "type": m.kind, "size": len(m.data), "sha256": m.sha256,
                    "alt_text": m.alt, "state": m.state, "attached_to": list(m.attached_to),
                }
                for m in state.media.values()
            ],
            "requests": [list(r) for r in state.requests],
        }  # fmt: skip
    h._send(200, body)


def _figure(m: Media) -> str:
    alt = html.escape(m.alt, quote=True)
    shown = html.escape(m.alt).replace(chr(10), "<br>") if m.alt else "<em>no alt text</em>"
    return (
        f"<figure><img src='/fake/media/{html.escape(m.key, quote=True)}' alt='{alt}' loading=lazy>"
        f"<figcaption><b>ALT</b> {shown}</figcaption></figure>"
    )


def _timeline_page(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        tweets = [t for t in reversed(state.tweets) if t.id not in state.deleted]
        media = {t.id: [state.media[i] for i in t.media_ids if i in state.media] for t in tweets}
        username = state.username
    rows = "\n".join(
        f"<li><time>{t.created_at:%Y-%m-%d %H:%M:%S} UTC</time>"
        + (f" <small>reply to {html.escape(t.in_reply_to)}</small>" if t.in_reply_to else "")
        + f"<p>{html.escape(t.text).replace(chr(10), '<br>')}</p>"
        + "".join(_figure(m) for m in media[t.id])
        + "</li>"
        for t in tweets
    )
    style = (
        "figure{margin:.5rem 0}img{max-width:100%;max-height:20rem;border-radius:.5rem}"
        "figcaption{font-size:.875rem;color:#444}"
    )
    page = timeline_page(f"Simulated X: @{html.escape(username)}", len(tweets), rows, style)
    h._send(200, page, {"Content-Security-Policy": PAGE_POLICY}, content_type=HTML_TYPE)


def _posted_image(h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    """The bytes of an image on a post, for the timeline page (only images some post carries)."""
    key = path.rsplit("/", 1)[-1]
    state = h.server.state
    with state.lock:
        found = next((m for m in state.media.values() if m.key == key and m.attached_to), None)
    if found is None:
        h._problem(404, "no such image on the timeline")
        return
    h._send(200, found.data, {"X-Content-Type-Options": "nosniff"}, content_type=found.kind)


_API_ROUTES = {
    "POST /2/tweets": _create_tweet,
    "DELETE /2/tweets/:id": _delete_tweet,
    "GET /2/users/me": _me,
    "GET /2/users/:id/tweets": _user_tweets,
    "GET /2/dm_events": _dm_events,
    "POST /2/media/upload": _upload,
    "POST /2/media/upload/initialize": _initialize,
    "POST /2/media/upload/:id/append": _append,
    "POST /2/media/upload/:id/finalize": _finalize,
    "GET /2/media/upload": _status,
    "POST /2/media/metadata": _metadata,
    DM_MEDIA_ROUTE: _dm_media,
}
_FAKE_ROUTES = {
    "POST /fake/dm": _fake_dm,
    "POST /fake/faults": _fake_faults,
    "GET /fake/state": _fake_state,
    "GET /fake/media/:key": _posted_image,
    "GET /": _timeline_page,
}


class FakeXServer(FakeServer[FakeXState]):
    """The simulated X API; `start()` serves it from a thread, `url` says where."""

    thread_name = "fake-x"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        username: str = "UNMigNetwork",
        rate_limits: dict[str, int] | None = None,
        hang_seconds: float = 30.0,
        credentials: dict[str, str] | None = None,
        state: FakeXState | None = None,
    ) -> None:
        super().__init__(host, port, _Handler, hang_seconds)
        if state is None:
            state = FakeXState(clock or SystemClock(), username, rate_limits)
            state.credentials = dict(credentials) if credentials else None
        self.state = state
        self.arrivals: list[Arrival] = []  # the requests that came through this address

    def page_url(self, console_host: str = "127.0.0.1") -> str:
        """Its timeline's address for a browser, by another name than the console's: cookies do
        not care about ports, so the console's session cookie never comes here."""
        host, port = self.server_address[:2]
        if host not in ("127.0.0.1", "localhost"):
            return self.url
        name = "localhost" if console_host.strip("[]") in ("127.0.0.1", "::1") else "127.0.0.1"
        return f"http://{name}:{port}"

    def start(self) -> Self:
        parse_tweet("warm")  # its patterns are built on first use: not during the first post
        return super().start()

    def door(self) -> FakeXServer:
        """Another address of the same X (one account, one timeline) with its own request log:
        two machines posting to one account, and every request traceable to the one that sent it."""
        return FakeXServer(str(self.server_address[0]), 0, state=self.state, hang_seconds=self.hang_seconds)

    # Conveniences for tests and the CLI.
    def inject_fault(
        self, kind: str, route: str = "POST /2/tweets", times: int = 1, reset_seconds: float = 30.0
    ) -> None:
        """Answer the next `times` calls on `route` with `kind` (a 429's reset `reset_seconds` of real time away)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        with self.state.lock:
            self.state.add_fault(route, Fault(kind, times, reset_seconds))
            self.state.fault_reset[route] = reset_seconds

    def posts(self) -> list[Tweet]:
        with self.state.lock:
            return [t for t in self.state.tweets if t.id not in self.state.deleted]

    def uploads(self) -> list[Media]:
        """Every upload, in the order it began (finished or not, used or not)."""
        with self.state.lock:
            return list(self.state.media.values())

    def media_of(self, tweet: Tweet) -> list[Media]:
        """The images a post carries, in its order, with their alt text."""
        with self.state.lock:
            return [self.state.media[i] for i in tweet.media_ids if i in self.state.media]

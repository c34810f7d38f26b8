"""The simulated Mastodon server: the routes Mastodon.py uses, Mastodon's answers, and faults on request.

A plain threaded HTTP server on 127.0.0.1 with its own state, like the simulated X
(`fakes/x.py`). Tests and rehearsals drive it with the real Mastodon.py over real HTTP; its
clock can be the rehearsal's, so that post times and status ids (snowflakes: milliseconds
since the epoch, shifted 16 bits) are in event time.

What it does as Mastodon 4.3 does:

- `POST /api/v1/statuses` honours `Idempotency-Key`: the same key within an hour answers the
  status made the first time, and makes no second one; the text's length is counted as the
  server counts it (`plan.mastodon`), every URL 23, `@user@domain` as `@user`;
- statuses come back with their text as HTML (`content`), with favourites, reblogs and replies
  counts; an account's statuses and the notifications are paged with since_id/min_id/max_id
  and `Link` headers;
- `POST /api/v2/media` answers 202 while an image is processed, `GET /api/v1/media/:id` 206
  until it is done (after `processing_polls` looks), then 200 with its `url`;
- a bearer token on every authenticated route (401 otherwise), rate-limit headers on every
  answer (X-RateLimit-Limit/Remaining/Reset) and a 429 past the limit;
- a direct message is a direct-visibility status from another account mentioning ours, and a
  `mention` notification (`add_direct_message`).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from ..clock import Clock, SystemClock
from ..plan.mastodon import DEFAULT_MAX_CHARS, MAX_ALT, MAX_IMAGES, URL_WEIGHT, length, mentions
from ..plan.tweettext import extract_hashtags, extract_urls
from .base import (
    HTML_TYPE,
    PAGE_POLICY,
    FakeHandler,
    FakeServer,
    Fault,
    NetworkState,
    iso_millis as _iso,
    sniff,
    timeline_page,
)

VERSION = "4.3.0"  # what the instance says it runs (Mastodon.py reads it to pick the media route)
API_VERSION = 2  # api_versions.mastodon of 4.3.0
MAX_BODY = 64 * 1024  # bytes of a status's form; Mastodon's own limit for text is far smaller
MAX_MEDIA_BODY = 16 * 1024 * 1024 + 64 * 1024  # an image of 16 MB (MediaAttachment::IMAGE_LIMIT) and its form
MAX_IMAGE_BYTES = 16 * 1024 * 1024
IDEMPOTENCY_TTL = timedelta(hours=1)  # Mastodon keeps a key in Redis for 3,600 s
FAULT_KINDS = (
    "500", "502", "503", "429", "401", "403", "422", "404", "hang", "drop",
    "503-after-store", "drop-after-store", "hang-after-store",
)  # fmt: skip
IMAGE_KINDS = ("image/jpeg", "image/png", "image/gif", "image/webp")
# (requests, seconds) per route on the server's clock; "*" for every other authenticated route.
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "*": (300, 300.0),  # 300 calls in 5 minutes, Mastodon's default per account
    "POST /api/v1/statuses": (300, 3 * 3600.0),
    "POST /api/v2/media": (30, 1800.0),
}
PAGE_LIMITS = {"statuses": (20, 40), "notifications": (40, 80)}  # (default, most) per page
ACCOUNT_ID = "109300000000000001"


@dataclass
class Account:
    id: str
    username: str
    acct: str  # username, or username@domain for an account of another server
    url: str


@dataclass
class Media:
    """One upload, as Mastodon keeps it: its bytes, its description, the status that carries it."""

    id: str
    kind: str  # the MIME type read from the bytes
    data: bytes
    description: str
    owner: str  # account id
    polls_left: int  # GETs until its processing is done
    status_id: str | None = None

    @property
    def ready(self) -> bool:
        return self.polls_left <= 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Status:
    """A status: ours (posted through the API) or a participant's direct message."""

    id: str
    text: str
    account: Account
    created_at: datetime
    visibility: str = "public"
    in_reply_to_id: str | None = None
    spoiler_text: str = ""
    language: str | None = None
    media_ids: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    mentions: list[Account] = field(default_factory=list)
    favourites_count: int = 0
    reblogs_count: int = 0
    replies_count: int = 0
    deleted: bool = False


@dataclass(frozen=True)
class PostedMedia:
    """An image on a status, as a test asks about it."""

    id: str
    kind: str
    description: str
    sha256: str


@dataclass(frozen=True)
class PostedStatus:
    """What was posted on the account, as a test asks about it."""

    id: str
    text: str
    in_reply_to_id: str | None
    visibility: str
    idempotency_key: str | None
    media: tuple[PostedMedia, ...]
    created_at: datetime
    language: str | None


@dataclass
class Notification:
    id: int
    type: str
    account: Account
    status_id: str
    created_at: datetime


class FakeMastodonState(NetworkState):
    """Everything the simulated Mastodon knows; every method is called under `lock`."""

    def __init__(
        self, clock: Clock, username: str, domain: str, max_chars: int, token: str, processing_polls: int
    ) -> None:
        super().__init__(clock)
        self.domain = domain
        self.max_chars = max_chars
        self.token = token
        self.processing_polls = processing_polls
        self.me = Account(ACCOUNT_ID, username, username, f"https://{domain}/@{username}")
        self.accounts: dict[str, Account] = {ACCOUNT_ID: self.me}
        self.statuses: dict[str, Status] = {}
        self.media: dict[str, Media] = {}
        self.notifications: list[Notification] = []
        self.idempotency: dict[str, tuple[str, datetime]] = {}
        self.rate_limits = dict(RATE_LIMITS)
        self._windows: dict[str, tuple[datetime, int]] = {}
        self._last_id = 0
        self._account_ids = itertools.count(109_300_000_000_000_100)
        self._notification_ids = itertools.count(1000)

    def next_id(self) -> str:
        """A snowflake: the clock's milliseconds shifted 16 bits, always more than the last one."""
        ms = int(self.clock.now().timestamp() * 1000)
        self._last_id = max(self._last_id + 1, ms << 16)
        return str(self._last_id)

    def account(self, acct: str) -> Account:
        acct = acct.lstrip("@")
        if acct.lower() in (self.me.acct.lower(), f"{self.me.acct}@{self.domain}".lower()):
            return self.me
        for a in self.accounts.values():
            if a.acct.lower() == acct.lower():
                return a
        username, _, domain = acct.partition("@")
        a = Account(str(next(self._account_ids)), username, acct, f"https://{domain or self.domain}/@{username}")
        self.accounts[a.id] = a
        return a

    def rate(self, route: str) -> tuple[int, int, datetime, bool]:
        """(limit, remaining, reset on the server's clock, allowed) for one more call on `route`."""
        key = route if route in self.rate_limits else "*"
        limit, seconds = self.rate_limits[key]
        window = timedelta(seconds=seconds)
        now = self.clock.now()
        start, used = self._windows.get(key, (now, 0))
        if now - start >= window:
            start, used = now, 0
        allowed = used < limit
        if allowed:
            used += 1
        self._windows[key] = (start, used)
        return limit, max(limit - used, 0), start + window, allowed

    def wall(self, when: datetime) -> float:
        """A time on the server's clock as the machine's epoch: what a client's own clock compares it to."""
        return time.time() + self.clock.real_seconds(when - self.clock.now())

    def live(self, status_id: str) -> Status | None:
        status = self.statuses.get(status_id)
        return status if status is not None and not status.deleted else None


# --- how Mastodon shows things --------------------------------------------------------------


def _link(url: str) -> str:
    """A link as Mastodon's TextFormatter writes it: the scheme hidden, a long one cut at 30."""
    scheme, _, rest = url.partition("://")
    prefix = html.escape(f"{scheme}://")
    if len(rest) > 30:
        shown = (
            f'<span class="ellipsis">{html.escape(rest[:30])}</span>'
            f'<span class="invisible">{html.escape(rest[30:])}</span>'
        )
    else:
        shown = f'<span class="">{html.escape(rest)}</span><span class="invisible"></span>'
    return (
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{prefix}</span>{shown}</a>'
    )


def render_html(state: FakeMastodonState, text: str) -> str:
    """A plain-text status as Mastodon renders it: paragraphs, line breaks, links, hashtags, mentions."""
    text = text.strip(" \t\n\v\f\r\0")
    entities: list[tuple[int, int, str]] = []
    for u in extract_urls(text):
        if u.value.lower().startswith(("http://", "https://")):
            entities.append((u.start, u.end, _link(u.value)))
    for start, end, _shown in mentions(text):  # the mentions the length counts
        name, _, domain = text[start + 1 : end].partition("@")
        href = f"https://{domain or state.domain}/@{name}"
        entities.append(
            (
                start,
                end,
                f'<span class="h-card" translate="no"><a href="{html.escape(href, quote=True)}" '
                f'class="u-url mention">@<span>{html.escape(name)}</span></a></span>',
            )
        )
    for tag in extract_hashtags(text):
        href = f"https://{state.domain}/tags/{tag.value}"
        entities.append(
            (
                tag.start,
                tag.end,
                f'<a href="{html.escape(href, quote=True)}" class="mention hashtag" rel="tag">'
                f"#<span>{html.escape(tag.value)}</span></a>",
            )
        )
    out: list[str] = []
    last = 0
    for start, end, shown in sorted(entities):
        if start < last:
            continue
        out.append(_plain(text[last:start]))
        out.append(shown)
        last = end
    out.append(_plain(text[last:]))
    body = "".join(out)
    paragraphs = [p for p in body.split("\x00P") if p]
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def _plain(text: str) -> str:
    """Escaped, with paragraph breaks marked (\\x00P: never in a status, Mastodon strips NULs) and <br />."""
    escaped = html.escape(text, quote=True).replace("\r\n", "\n")
    parts = escaped.split("\n\n")
    return "\x00P".join(p.strip("\n").replace("\n", "<br />") for p in parts)


def _account_json(state: FakeMastodonState, a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "username": a.username,
        "acct": a.acct,
        "display_name": a.username,
        "locked": False,
        "bot": a is state.me,
        "url": a.url,
        "note": "",
        "avatar": f"https://{state.domain}/avatars/original/missing.png",
        "header": f"https://{state.domain}/headers/original/missing.png",
        "followers_count": 0,
        "following_count": 0,
        "statuses_count": sum(1 for s in state.statuses.values() if s.account is a and not s.deleted),
        "created_at": "2022-11-01T00:00:00.000Z",
        "emojis": [],
        "fields": [],
    }


def _media_json(state: FakeMastodonState, base: str, m: Media) -> dict[str, Any]:
    url = f"{base}/system/media_attachments/{m.id}/original.{m.kind.split('/')[1]}" if m.ready else None
    return {
        "id": m.id,
        "type": "image",
        "url": url,
        "preview_url": url,
        "remote_url": None,
        "description": m.description or None,
        "blurhash": None,
        "meta": {},
    }


def _status_json(state: FakeMastodonState, base: str, s: Status, with_text: bool = False) -> dict[str, Any]:
    parent = state.statuses.get(s.in_reply_to_id or "")
    data: dict[str, Any] = {
        "id": s.id,
        "uri": f"https://{state.domain}/users/{s.account.username}/statuses/{s.id}",
        "url": f"https://{state.domain}/@{s.account.username}/{s.id}",
        "created_at": _iso(s.created_at),
        "account": _account_json(state, s.account),
        "content": render_html(state, s.text),
        "visibility": s.visibility,
        "sensitive": False,
        "spoiler_text": s.spoiler_text,
        "language": s.language,
        "in_reply_to_id": s.in_reply_to_id,
        "in_reply_to_account_id": parent.account.id if parent else None,
        "media_attachments": [_media_json(state, base, state.media[i]) for i in s.media_ids if i in state.media],
        "mentions": [{"id": a.id, "username": a.username, "acct": a.acct, "url": a.url} for a in s.mentions],
        "tags": [],
        "emojis": [],
        "favourites_count": s.favourites_count,
        "reblogs_count": s.reblogs_count,
        "replies_count": s.replies_count,
        "reblog": None,
        "poll": None,
        "card": None,
        "edited_at": None,
        "application": {"name": "livetweet", "website": None} if s.account is state.me else None,
    }
    if with_text:  # Mastodon sends the source text only where it is asked to (delete, edit)
        data["text"] = s.text
    return data


def _instance_configuration(state: FakeMastodonState) -> dict[str, Any]:
    return {
        "statuses": {
            "max_characters": state.max_chars,
            "max_media_attachments": MAX_IMAGES,
            "characters_reserved_per_url": URL_WEIGHT,
        },
        "media_attachments": {
            "supported_mime_types": list(IMAGE_KINDS),
            "description_limit": MAX_ALT,
            "image_size_limit": MAX_IMAGE_BYTES,
            "image_matrix_limit": 33_177_600,
            "video_size_limit": 103_809_024,
            "video_frame_rate_limit": 120,
            "video_matrix_limit": 8_294_400,
        },
        "polls": {
            "max_options": 4,
            "max_characters_per_option": 50,
            "min_expiration": 300,
            "max_expiration": 2_629_746,
        },
    }


# --- the HTTP side ------------------------------------------------------------------------------


class _Handler(FakeHandler):
    server: FakeMastodonServer
    network = "Mastodon"
    _form: dict[str, list[str]]
    _files: dict[str, tuple[bytes, str]]

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        """Mastodon's error: its words alone."""
        return {"error": message}

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, self._error_body(status, message), headers)

    def _route(self) -> tuple[str, list[str], dict[str, list[str]]]:
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        if segments[:2] == ["system", "media_attachments"]:
            return f"{self.command} /system/media_attachments/:id/:file", segments, parse_qs(parts.query)
        shape = []
        for i, s in enumerate(segments):
            previous = segments[i - 1] if i else ""
            numbered = previous in ("statuses", "media", "accounts", "media_attachments") and s != "verify_credentials"
            shape.append(":id" if numbered and i >= 2 else s)
        return f"{self.command} /{'/'.join(shape)}", segments, parse_qs(parts.query)

    def _dispatch(self) -> None:
        if not self._from_own_host():
            return
        if self.headers.get("Transfer-Encoding"):
            self._refuse(411, "send a Content-Length")
            return
        size = self._content_length()
        if size is None:
            return
        route, segments, query = self._route()
        if not self._read_body(size, MAX_MEDIA_BODY if route == "POST /api/v2/media" else MAX_BODY):
            return
        if not self._parse_body():
            self._error(400, "the body could not be read (form, multipart form or JSON)")
            return
        state = self.server.state
        if route.startswith(("GET /api/v1/instance", "GET /api/v2/instance")) or route.startswith("GET /system/"):
            handler = _PUBLIC_ROUTES.get(route)
            if handler is None:
                self._error(404, "Record not found")
                return
            handler(self, segments, query, {})
            return
        if route.split()[1].startswith("/api/"):
            if not self._authorized():
                self._record(route, "401")
                self._error(401, "The access token is invalid")
                return
            with state.lock:
                fault = state.take_fault(route)
                limit_n, remaining, reset, allowed = state.rate(route)
                reset_wall = state.wall(reset)
            headers = {
                "X-RateLimit-Limit": str(limit_n),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": _iso(datetime.fromtimestamp(reset_wall, UTC)),
            }
            if fault is not None and self._fault(route, fault, headers):
                return
            if not allowed:
                self._record(route, "429")
                self._error(429, "Too many requests", headers)
                return
            handler = _API_ROUTES.get(route)
            if handler is None:
                self._error(404, "Record not found", headers)
                return
            handler(self, segments, query, headers)
            return
        handler = _FAKE_ROUTES.get(route)
        if handler is None:
            self._error(404, f"no such route: {route}")
            return
        if self._control_allowed():
            handler(self, segments, query, {})

    def _parse_body(self) -> bool:
        """The form fields and files of the body (already read, within its limit)."""
        self._form, self._files = {}, {}
        if not self._raw:
            return True
        kind = (self.headers.get("Content-Type") or "").lower()
        try:
            if kind.startswith("application/x-www-form-urlencoded"):
                self._form = parse_qs(self._raw.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
            elif kind.startswith("multipart/form-data"):
                head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
                message = BytesParser(policy=HTTP).parsebytes(head + self._raw)
                if not message.is_multipart():
                    return False
                for part in list(message.iter_parts())[:20]:
                    name = part.get_param("name", header="content-disposition")
                    payload = part.get_payload(decode=True)
                    if not isinstance(name, str) or not isinstance(payload, bytes):
                        continue
                    if part.get_filename() is not None:
                        self._files[name] = (payload, part.get_content_type())
                    else:
                        self._form.setdefault(name, []).append(payload.decode("utf-8"))
            elif kind.startswith("application/json"):
                body = json.loads(self._raw)
                if not isinstance(body, dict):
                    return False
                for key, value in body.items():
                    values = value if isinstance(value, list) else [value]
                    self._form[f"{key}[]" if isinstance(value, list) else key] = [
                        v if isinstance(v, str) else json.dumps(v) for v in values
                    ]
        except (ValueError, UnicodeDecodeError):
            return False
        return True

    def field(self, name: str) -> str | None:
        values = self._form.get(name)
        return values[0] if values else None

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else ""
        return bool(given) and hmac.compare_digest(given.encode(), self.server.state.token.encode())

    def _fault(self, route: str, fault: Fault, headers: dict[str, str]) -> bool:
        """Answer with an injected fault; False when the fault lets the request go on."""
        kind = fault.kind
        self._record(route, f"fault:{kind}")
        if kind.endswith("-after-store") and route in _STORE:
            _STORE[route](self)
        if kind in ("500", "502", "503", "503-after-store"):
            code = int(kind[:3])
            self._error(code, {500: "Internal server error", 502: "Bad gateway"}.get(code, "Service unavailable"))
        elif kind == "429":
            reset = datetime.fromtimestamp(time.time() + fault.reset_seconds, UTC)
            self._error(
                429, "Too many requests", {**headers, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": _iso(reset)}
            )
        elif kind == "401":
            self._error(401, "The access token is invalid")
        elif kind == "403":
            self._error(403, "This action is not allowed")
        elif kind == "404":
            self._error(404, "Record not found")
        elif kind == "422":
            self._error(422, "Validation failed: Text character limit of 500 exceeded", headers)
        elif kind in ("hang", "hang-after-store"):
            self._hang()
        elif kind in ("drop", "drop-after-store"):
            self._drop()
        return True

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    @property
    def base(self) -> str:
        return self.server.url


def _instance_v1(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    h._send(
        200,
        {
            "uri": state.domain,
            "title": "Simulated Mastodon",
            "short_description": "livetweet's rehearsal server",
            "description": "",
            "email": "",
            "version": VERSION,
            "urls": {"streaming_api": "ws://127.0.0.1"},
            "stats": {"user_count": len(state.accounts), "status_count": len(state.statuses), "domain_count": 1},
            "languages": ["en"],
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": _instance_configuration(state),
            "contact_account": None,
            "rules": [],
        },
    )


def _instance_v2(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    h._send(
        200,
        {
            "domain": state.domain,
            "title": "Simulated Mastodon",
            "version": VERSION,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "livetweet's rehearsal server",
            "usage": {"users": {"active_month": len(state.accounts)}},
            "thumbnail": {"url": f"https://{state.domain}/packs/media/images/preview.png"},
            "languages": ["en"],
            "configuration": {"urls": {"streaming": "ws://127.0.0.1"}, **_instance_configuration(state)},
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "api_versions": {"mastodon": API_VERSION},
            "contact": {"email": "", "account": None},
            "rules": [],
        },
    )


def _verify_credentials(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        body = _account_json(state, state.me)
    h._record("GET /api/v1/accounts/verify_credentials", "200")
    h._send(200, body, headers)


def _store_status(h: _Handler) -> tuple[int, dict[str, Any]]:
    """Make the status the request asks for (or find the one its Idempotency-Key made): (HTTP status, body)."""
    state = h.server.state
    text = h.field("status") or ""
    media_ids = h._form.get("media_ids[]") or []
    reply = h.field("in_reply_to_id") or None
    visibility = h.field("visibility") or "public"
    spoiler = h.field("spoiler_text") or ""
    key = (h.headers.get("Idempotency-Key") or "").strip()[:256] or None
    with state.lock:
        now = state.clock.now()
        if key is not None:
            found = state.idempotency.get(key)
            if found is not None and now - found[1] < IDEMPOTENCY_TTL and found[0] in state.statuses:
                return 200, _status_json(state, h.base, state.statuses[found[0]])
        if visibility not in ("public", "unlisted", "private", "direct"):
            return 422, {"error": "Validation failed: Visibility is not included in the list"}
        if not text.strip() and not media_ids:
            return 422, {"error": "Validation failed: Text can't be blank"}
        if length(text, spoiler) > state.max_chars:
            return 422, {"error": f"Validation failed: Text character limit of {state.max_chars} exceeded"}
        if len(media_ids) > MAX_IMAGES:
            return 422, {"error": f"Cannot attach more than {MAX_IMAGES} files"}
        media = [state.media.get(i) for i in media_ids]
        missing = [
            i for i, m in zip(media_ids, media, strict=True) if m is None or m.owner != ACCOUNT_ID or m.status_id
        ]
        if missing:
            return 422, {"error": f"Media {', '.join(missing)} not found or already attached to another post"}
        if any(m is not None and not m.ready for m in media):
            return 422, {"error": "Cannot attach files that have not finished processing. Try again in a moment!"}
        parent = state.live(reply) if reply else None
        if reply and parent is None:
            return 404, {"error": "The post you are trying to reply to does not appear to exist."}
        status = Status(
            state.next_id(),
            text.strip(" \t\n\v\f\r\0"),
            state.me,
            now,
            visibility,
            reply,
            spoiler.strip(),
            h.field("language"),
            list(media_ids),
            key,
        )
        state.statuses[status.id] = status
        for m in media:
            if m is not None:
                m.status_id = status.id
        if parent is not None:
            parent.replies_count += 1
        if key is not None:
            state.idempotency[key] = (status.id, now)
        return 200, _status_json(state, h.base, status)


def _get_status(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        status = state.live(segments[-1])
        body = _status_json(state, h.base, status) if status is not None else None
    if body is None:
        h._error(404, "Record not found", headers)
        return
    h._send(200, body, headers)


def _delete_status(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        status = state.live(segments[-1])
        if status is not None and status.account is state.me:
            status.deleted = True
            body: dict[str, Any] | None = _status_json(state, h.base, status, with_text=True)
        else:
            body = None
    h._record("DELETE /api/v1/statuses/:id", "200" if body else "404")
    if body is None:
        h._error(404, "Record not found", headers)
        return
    h._send(200, body, headers)


def _page(
    h: _Handler, items: list[Any], query: dict[str, list[str]], limits: tuple[int, int], path: str
) -> tuple[list[Any], str | None]:
    """Mastodon's paging by id, newest first: max_id, since_id, min_id, limit; and the Link header."""

    def number(name: str) -> int | None:
        value = (query.get(name) or [""])[0]
        return int(value) if value.isdigit() else None

    default, most = limits
    limit = number("limit") or default
    limit = max(1, min(limit, most))
    max_id, since_id, min_id = number("max_id"), number("since_id"), number("min_id")
    ordered = sorted(items, key=lambda item: int(item[0]), reverse=True)
    if max_id is not None:
        ordered = [i for i in ordered if int(i[0]) < max_id]
    if since_id is not None:
        ordered = [i for i in ordered if int(i[0]) > since_id]
    if min_id is not None:  # the oldest ones just after min_id
        ordered = [i for i in ordered if int(i[0]) > min_id][-limit:]
    page = ordered[:limit]
    if not page:
        return [], None
    keep = {k: v for k, v in query.items() if k not in ("max_id", "since_id", "min_id")}
    base = f"{h.base}{path}"
    older = urlencode({**{k: v[0] for k, v in keep.items()}, "max_id": page[-1][0]})
    newer = urlencode({**{k: v[0] for k, v in keep.items()}, "min_id": page[0][0]})
    return [i[1] for i in page], f'<{base}?{older}>; rel="next", <{base}?{newer}>; rel="prev"'


def _account_statuses(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    account_id = segments[3]
    exclude_replies = (query.get("exclude_replies") or ["0"])[0] in ("1", "true")
    with state.lock:
        if account_id not in state.accounts:
            body: Any = None
        else:
            statuses = [
                (s.id, _status_json(state, h.base, s))
                for s in state.statuses.values()
                if s.account.id == account_id and not s.deleted and not (exclude_replies and s.in_reply_to_id)
            ]
            body, link = _page(h, statuses, query, PAGE_LIMITS["statuses"], f"/api/v1/accounts/{account_id}/statuses")
    if body is None:
        h._error(404, "Record not found", headers)
        return
    h._record("GET /api/v1/accounts/:id/statuses", "200")
    h._send(200, body, {**headers, **({"Link": link} if link else {})})


def _store_media(h: _Handler) -> tuple[int, dict[str, Any]]:
    state = h.server.state
    upload = h._files.get("file")
    if upload is None:
        return 422, {"error": "Validation failed: File can't be blank"}
    data = upload[0]
    kind = sniff(data)
    if kind is None:
        return 422, {"error": "Validation failed: File content type is invalid, File is invalid"}
    if len(data) > MAX_IMAGE_BYTES:
        return 422, {"error": "Validation failed: File file size must be less than 16 MB"}
    description = h.field("description") or ""
    if len(description) > MAX_ALT:
        return 422, {"error": f"Validation failed: Description is too long (maximum is {MAX_ALT} characters)"}
    with state.lock:
        media = Media(state.next_id(), kind, data, description, ACCOUNT_ID, state.processing_polls)
        state.media[media.id] = media
        return (200 if media.ready else 202), _media_json(state, h.base, media)


def _get_media(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        media = state.media.get(segments[-1])
        if media is not None and media.owner == ACCOUNT_ID:
            media.polls_left -= 1
            code, body = (200 if media.ready else 206), _media_json(state, h.base, media)
        else:
            code, body = 404, {"error": "Record not found"}
    h._record("GET /api/v1/media/:id", str(code))
    h._send(code, body, headers)


def _notifications(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    types = set(query.get("types[]") or [])
    excluded = set(query.get("exclude_types[]") or [])
    with state.lock:
        items = [
            (
                str(n.id),
                {
                    "id": str(n.id),
                    "type": n.type,
                    "created_at": _iso(n.created_at),
                    "account": _account_json(state, n.account),
                    "status": _status_json(state, h.base, state.statuses[n.status_id]),
                },
            )
            for n in state.notifications
            if (not types or n.type in types) and n.type not in excluded and state.live(n.status_id)
        ]
        body, link = _page(h, items, query, PAGE_LIMITS["notifications"], "/api/v1/notifications")
    h._record("GET /api/v1/notifications", "200")
    h._send(200, body, {**headers, **({"Link": link} if link else {})})


def _media_file(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    """An image's bytes, public as Mastodon's files are (once processed)."""
    state = h.server.state
    with state.lock:
        media = state.media.get(segments[2]) if len(segments) >= 4 else None
        found = media if media is not None and media.ready else None
    if found is None:
        h._error(404, "Record not found")
        return
    h._send(200, found.data, {"X-Content-Type-Options": "nosniff"}, content_type=found.kind)


# --- control routes: a rehearsal's page (and the CLI) drive the server through these ---------------


def _fake_faults(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    route, kind, times = h.field("route") or "POST /api/v1/statuses", h.field("kind"), h.field("times") or "1"
    if kind not in FAULT_KINDS or not times.isdigit():
        h._error(
            422, f'send JSON like {{"route": "POST /api/v1/statuses", "kind": one of {list(FAULT_KINDS)}, "times": 1}}'
        )
        return
    h.server.fault(route, kind, int(times))
    h._send(201, {"ok": True})


def _fake_dm(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    sender, text = h.field("from"), h.field("text")
    if not sender or text is None:
        h._error(422, 'send JSON like {"from": "alice@example.org", "text": "..."}')
        return
    status = h.server.add_direct_message(sender, text)
    h._send(201, {"id": status.id})


def _fake_state(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        body = {
            "account": f"{state.me.username}@{state.domain}",
            "statuses": [_status_json(state, h.base, s, with_text=True) for s in state.statuses.values()],
            "requests": [list(r) for r in state.requests],
        }
    h._send(200, body)


def _timeline_page(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
    state = h.server.state
    with state.lock:
        ours = [s for s in reversed(state.statuses.values()) if s.account is state.me and not s.deleted]
        rows = []
        for s in ours:
            figures = "".join(
                f"<figure><img src='/system/media_attachments/{html.escape(m.id)}/original.{m.kind.split('/')[1]}' "
                f"alt='{html.escape(m.description, quote=True)}' loading=lazy><figcaption><b>ALT</b> "
                f"{html.escape(m.description) or '<em>no alt text</em>'}</figcaption></figure>"
                for m in (state.media[i] for i in s.media_ids if i in state.media)
            )
            reply = f" <small>reply to {html.escape(s.in_reply_to_id)}</small>" if s.in_reply_to_id else ""
            rows.append(
                f"<li><time>{s.created_at:%Y-%m-%d %H:%M:%S} UTC</time>{reply}"
                f" <small>{html.escape(s.visibility)}</small>"
                f"{render_html(state, s.text)}{figures}</li>"
            )
        who = html.escape(f"@{state.me.username}@{state.domain}")
    style = (
        ".invisible{display:none}img{max-width:100%;max-height:20rem;border-radius:.5rem}"
        "figcaption{font-size:.875rem;color:#444}"
    )
    page = timeline_page(f"Simulated Mastodon: {who}", len(ours), "".join(rows), style)
    h._send(200, page, {"Content-Security-Policy": PAGE_POLICY}, content_type=HTML_TYPE)


_STORE: dict[str, Callable[[_Handler], tuple[int, dict[str, Any]]]] = {
    "POST /api/v1/statuses": _store_status,
    "POST /api/v2/media": _store_media,
}


_Route = Callable[[_Handler, list[str], dict[str, list[str]], dict[str, str]], None]


def _creating(route: str) -> _Route:
    """The handler of a route that makes something (`_STORE[route]`): what it made, or why not, recorded and sent."""

    def create(h: _Handler, segments: list[str], query: dict[str, list[str]], headers: dict[str, str]) -> None:
        code, body = _STORE[route](h)
        h._record(route, str(code))
        h._send(code, body, headers)

    return create


_PUBLIC_ROUTES: dict[str, _Route] = {
    "GET /api/v1/instance": _instance_v1,
    "GET /api/v2/instance": _instance_v2,
    "GET /system/media_attachments/:id/:file": _media_file,
}
_API_ROUTES: dict[str, _Route] = {
    "GET /api/v1/accounts/verify_credentials": _verify_credentials,
    "POST /api/v1/statuses": _creating("POST /api/v1/statuses"),
    "GET /api/v1/statuses/:id": _get_status,
    "DELETE /api/v1/statuses/:id": _delete_status,
    "GET /api/v1/accounts/:id/statuses": _account_statuses,
    "POST /api/v2/media": _creating("POST /api/v2/media"),
    "GET /api/v1/media/:id": _get_media,
    "GET /api/v1/notifications": _notifications,
}
_FAKE_ROUTES: dict[str, _Route] = {
    "POST /fake/faults": _fake_faults,
    "POST /fake/dm": _fake_dm,
    "GET /fake/state": _fake_state,
    "GET /": _timeline_page,
}


class FakeMastodonServer(FakeServer[FakeMastodonState]):
    """The simulated Mastodon; `start()` serves it from a thread, `url` says where."""

    thread_name = "fake-mastodon"

    def __init__(
        self,
        clock: Clock | None = None,
        username: str = "unmignetwork",
        domain: str = "mastodon.social",
        max_chars: int = DEFAULT_MAX_CHARS,
        token: str = "rehearsal-mastodon-token",
        host: str = "127.0.0.1",
        port: int = 0,
        processing_polls: int = 1,
        hang_seconds: float = 30.0,
    ) -> None:
        super().__init__(host, port, _Handler, hang_seconds)
        self.state = FakeMastodonState(
            clock or SystemClock(), username.lstrip("@"), domain, max_chars, token, processing_polls
        )

    def start(self) -> Self:
        extract_urls("warm.example")  # twitter-text's patterns are built on first use: not during the first post
        return super().start()

    # --- conveniences for tests and rehearsals ---

    def fault(self, route: str, kind: str, times: int = 1, reset_seconds: float = 30.0) -> None:
        """Answer the next `times` calls on `route` ("POST /api/v1/statuses") with `kind`.

        A 429's reset is `reset_seconds` of real time away.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self.state.lock:
            self.state.add_fault(route, Fault(kind, times, reset_seconds))

    def add_direct_message(
        self, sender: str, text: str, images: tuple[bytes, ...] = (), visibility: str = "direct"
    ) -> Status:
        """A participant's direct message: a direct status from `sender` ("alice@example.org") mentioning us.

        `text` is what they typed after the mention of our account, which is put first as Mastodon's
        composer does. Each image is kept as an upload of theirs, processed, served at its `url`.
        Another `visibility` ("public") makes a mere mention, which is no direct message.
        """
        state = self.state
        with state.lock:
            account = state.account(sender)
            media_ids = []
            for data in images:
                media = Media(state.next_id(), sniff(data) or "image/png", bytes(data), "", account.id, 0)
                state.media[media.id] = media
                media_ids.append(media.id)
            status = Status(
                state.next_id(),
                f"@{state.me.username}@{state.domain} {text}",
                account,
                state.clock.now(),
                visibility,
                media_ids=media_ids,
                mentions=[state.me],
            )
            state.statuses[status.id] = status
            for media_id in media_ids:
                state.media[media_id].status_id = status.id
            state.notifications.append(
                Notification(next(state._notification_ids), "mention", account, status.id, status.created_at)
            )
            return status

    def statuses(self) -> list[PostedStatus]:
        """What was posted on the account (and not deleted), oldest first."""
        with self.state.lock:
            return [
                PostedStatus(
                    s.id,
                    s.text,
                    s.in_reply_to_id,
                    s.visibility,
                    s.idempotency_key,
                    tuple(
                        PostedMedia(m.id, m.kind, m.description, m.sha256)
                        for m in (self.state.media[i] for i in s.media_ids)
                    ),
                    s.created_at,
                    s.language,
                )
                for s in self.state.statuses.values()
                if s.account is self.state.me and not s.deleted
            ]

    def set_counts(self, status_id: str, favourites: int = 0, reblogs: int = 0, replies: int = 0) -> None:
        """What the audience did with a status, for the report to read back."""
        with self.state.lock:
            status = self.state.statuses[status_id]
            status.favourites_count, status.reblogs_count = favourites, reblogs
            status.replies_count = replies

    def requests(self) -> list[tuple[str, str]]:
        """Every request the API routes recorded: (route, outcome), in order."""
        with self.state.lock:
            return list(self.state.requests)

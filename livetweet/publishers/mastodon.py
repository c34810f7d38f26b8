"""Posting to a Mastodon account with Mastodon.py (the REST API, a bearer token).

Exactly once rests on Mastodon's `Idempotency-Key`: the server keeps a key an hour, and a
status created with it is the answer to every later create with the same key, so a retry with
the delivery's key never makes a second status. Past the hour (or when the key is lost), the
account's recent statuses are looked up by their text (`find_post`), which the dispatcher does
before any retry after an unknown outcome.

Mastodon.py is used with `ratelimit_method="throw"` (it never sleeps for a rate limit; the
dispatcher decides when to come back), its own requests session (no retries, our timeout), and
the server's version read at first use, which is also when the instance's character limit is
read (`max_chars`). Its exceptions become our outcomes in one place, `_classify`; nothing above
this module sees one.

Direct messages are the account's `mention` notifications whose status has direct visibility,
paged by notification id (notification ids only grow, which a remote status's id need not). On
Mastodon 4.3 and later a private mention from an account ours does not follow is filtered out of
the notifications unless the account's notification policy accepts them: see `check`.
"""

from __future__ import annotations

import ipaddress
import math
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import requests
from mastodon import Mastodon  # type: ignore[import-untyped]
from mastodon.errors import (  # type: ignore[import-untyped]
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
    MastodonVersionError,
)
from requests.adapters import HTTPAdapter

from ..clock import Clock, SystemClock
from ..inbox import IncomingMedia, IncomingMessage
from ..plan.mastodon import DEFAULT_MAX_CHARS, MAX_ALT, MAX_IMAGES, URL_WEIGHT, mentions
from .base import (
    Outcome,
    OutcomeUnknown,
    Posted,
    Publisher,
    PublisherError,
    RateLimited,
    Refused,
    RetryLater,
    Uploaded,
    UploadOutcome,
    exception_line,
    read_at_most,
)

DEFAULT_TIMEOUT = 10.0
PROCESSING_WAIT = 60.0  # seconds of real time Mastodon may take to process an image before we try again later
MEDIA_KEPT = 86_400.0  # seconds: Mastodon removes an upload no status used after a day
MAX_CONTENT = 200_000  # characters of a status's HTML read at most (Mastodon's own are far shorter)
MAX_LOOKUP_PAGES = 25  # of 40 statuses: 1,000 recent statuses looked through at most
MAX_DM_PAGES = 50  # of 40 notifications
MEDIA_KINDS = {"image": "photo"}  # Mastodon's attachment types in the inbox's words (a gifv is an MP4 video)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class _Instance:
    """What the server says of itself, read once: its name and its limits."""

    domain: str
    version: str
    max_chars: int
    url_weight: int
    max_images: int
    max_alt: int


@dataclass(frozen=True)
class _Me:
    id: str
    username: str


@dataclass(frozen=True)
class _Failure:
    """What an exception of Mastodon.py says happened, in our terms.

    kind: "rate" (429), "auth" (401/403: no post can succeed), "refused" (the request was refused,
    4xx), "unreached" (never left or never connected: nothing was done), "unknown" (it may have
    been done: 5xx, a timeout, a broken connection, an answer not understood).
    """

    kind: str
    reason: str
    retry_after: float | None = None
    status: int | None = None


def _never_connected(exc: BaseException | None) -> bool:
    """A refused or unresolvable connection, or a connect timeout: the request never left."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        return "NewConnectionError" in text or "NameResolutionError" in text or "Connection refused" in text
    return False


def _classify(exc: MastodonError, ratelimit_reset: float | None) -> _Failure:
    """The one place where Mastodon.py's exceptions are read (and nothing of the token is repeated)."""
    if isinstance(exc, MastodonRatelimitError):
        if str(exc.args[0] if exc.args else "").startswith("Hit rate limit"):
            wait = max(math.ceil(ratelimit_reset - time.time()), 0) if ratelimit_reset else None
            return _Failure(
                "rate", "Mastodon's rate limit was reached (429)", float(wait) if wait is not None else None
            )
        return _Failure("unknown", f"Mastodon's rate-limit headers were not understood: {exception_line(exc)}")
    if isinstance(exc, MastodonNetworkError):
        cause = exc.__context__
        if _never_connected(cause):
            return _Failure("unreached", f"Mastodon could not be reached ({type(cause).__name__})")
        if isinstance(cause, requests.exceptions.Timeout):
            return _Failure("unknown", "Mastodon did not answer in time")
        return _Failure("unknown", f"the connection to Mastodon broke ({type(cause).__name__})")
    if isinstance(exc, MastodonVersionError):
        cause = exc.__cause__
        if isinstance(cause, MastodonError) and not isinstance(cause, MastodonVersionError):
            return _classify(cause, ratelimit_reset)
        return _Failure("unknown", "Mastodon's version could not be read")
    if isinstance(exc, MastodonIllegalArgumentError):
        return _Failure("refused", f"not sent: {exception_line(exc)}")
    if isinstance(exc, MastodonAPIError):  # MastodonServerError, MastodonNotFoundError... are ones too
        code, message = _http(exc)
        if code is None:
            return _Failure("unknown", f"Mastodon's answer was not understood: {exception_line(exc)}")
        if isinstance(exc, MastodonUnauthorizedError) or code == 403:
            return _Failure("auth", f"Mastodon refused our access token ({code}): {message}", status=code)
        if isinstance(exc, MastodonServerError) or code >= 500:
            return _Failure("unknown", f"Mastodon had an error ({code}): {message}", status=code)
        if isinstance(exc, MastodonNotFoundError):
            return _Failure("refused", f"Mastodon has no such thing (404): {message}", status=code)
        return _Failure("refused", f"Mastodon refused it ({code}): {message}", status=code)
    return _Failure("unknown", f"Mastodon.py failed: {exception_line(exc)}")


def _http(exc: MastodonAPIError) -> tuple[int | None, str]:
    """(HTTP status, the server's words) of an error answer; (None, "") for one that is not."""
    args = exc.args
    if len(args) >= 4 and isinstance(args[1], int):
        return args[1], str(args[3] or args[2] or "")[:300]
    return None, ""


class _Text(HTMLParser):
    """A status's HTML as its plain text: paragraphs and line breaks kept, every tag dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(content: str) -> str:
    """The plain text of Mastodon's HTML for a status (at most MAX_CONTENT characters of it read)."""
    parser = _Text()
    parser.feed(content[:MAX_CONTENT])
    parser.close()
    return "".join(parser.parts)


def comparable(text: str) -> str:
    """A status's text as two renderings of it agree: @user@domain as @user, spacing collapsed, NFC."""
    text = unicodedata.normalize("NFC", text)
    for start, end, shown in reversed(mentions(text)):
        text = text[:start] + shown + text[end:]
    return " ".join(text.split())


def _aware(when: Any, fallback: datetime) -> datetime:
    if not isinstance(when, datetime):
        return fallback
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _bounded(value: Any, default: int, low: int, high: int) -> int:
    """A number from the server, believed only within [low, high]."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if low <= number <= high else default


class MastodonPublisher(Publisher):
    """Posts to one Mastodon account."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        media_hosts: Sequence[str] = (),
    ) -> None:
        if not access_token or not access_token.strip():
            raise PublisherError("the Mastodon access token is missing: set it in .env (see .env.example)")
        parts = urlsplit(base_url.strip())
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http") or not host or (parts.scheme == "http" and host not in LOOPBACK):
            raise PublisherError(
                "the Mastodon server's address must be https://host (http only on this machine), "
                f"not {base_url[:100]!r}"
            )
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self.sleep = sleep  # while Mastodon processes an image (tests pass one that moves their clock)
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=0)
        for prefix in ("https://", "http://"):
            self.session.mount(prefix, adapter)
        self.api = Mastodon(
            access_token=access_token.strip(),
            api_base_url=self.base_url,
            request_timeout=timeout,
            ratelimit_method="throw",
            session=self.session,
            version_check_mode="none",
            user_agent="livetweet",
        )
        self._media_hosts = {host, *(h.lower() for h in media_hosts)}
        self._instance: _Instance | None = None
        self._me: _Me | None = None
        self._lock = threading.Lock()
        self.name = f"Mastodon at {self.base_url}"

    # --- what the server is --------------------------------------------------------------

    def _fail(self, exc: MastodonError) -> _Failure:
        return _classify(exc, self.api.ratelimit_reset)

    def _ready(self) -> _Instance:
        """The server's version and limits, read once (Mastodon.py picks its routes by the version)."""
        with self._lock:
            if self._instance is None:
                version = str(self.api.retrieve_mastodon_version(fail_hard=True))
                info = self.api.instance_v2()
                config = info.get("configuration") or {}
                statuses = config.get("statuses") or {}
                media = config.get("media_attachments") or {}
                self._instance = _Instance(
                    domain=str(info.get("domain") or urlsplit(self.base_url).hostname or "")[:253],
                    version=version,
                    max_chars=_bounded(statuses.get("max_characters"), DEFAULT_MAX_CHARS, 1, 1_000_000),
                    url_weight=_bounded(statuses.get("characters_reserved_per_url"), URL_WEIGHT, 0, 10_000),
                    max_images=_bounded(statuses.get("max_media_attachments"), MAX_IMAGES, 1, 100),
                    max_alt=_bounded(media.get("description_limit"), MAX_ALT, 1, 1_000_000),
                )
            return self._instance

    @property
    def max_chars(self) -> int:
        """The instance's character limit (`configuration.statuses.max_characters`), read at first use.

        Raises PublisherError when the server cannot be read.
        """
        with self._errors(f"reading the limits of {self.name} failed"):
            return self._ready().max_chars

    def me(self) -> tuple[str, str]:
        """(account id, username) of the account, asked once."""
        if self._me is None:
            with self._errors(f"cannot reach the account on {self.name}"):
                account = self.api.account_verify_credentials()
            if not isinstance(account, dict) or not account.get("id") or not account.get("username"):
                raise PublisherError(f"cannot reach the account on {self.name}: the server did not say who we are")
            self._me = _Me(str(account["id"]), str(account["username"]))
        return self._me.id, self._me.username

    def check(self) -> str:
        self._instance, self._me = None, None  # ask again: this is the check that the token works now
        _, username = self.me()
        with self._errors(f"reading the limits of {self.name} failed"):
            instance = self._ready()
        return f"Mastodon @{username}@{instance.domain} at {self.base_url} ({instance.max_chars} characters)"

    @contextmanager
    def _errors(self, what: str, rate_limit: str | None = None) -> Iterator[None]:
        """A look-up's failures as our errors: a 429 as RateLimited (when the caller words it), else PublisherError."""
        try:
            yield
        except MastodonError as exc:
            failure = self._fail(exc)
            if failure.kind == "rate" and rate_limit is not None:
                raise RateLimited(rate_limit, failure.retry_after) from exc
            raise PublisherError(f"{what}: {failure.reason}") from exc

    # --- posting ---------------------------------------------------------------------------

    def post(
        self,
        text: str,
        in_reply_to: str | None = None,
        media_ids: Sequence[str] = (),
        key: str | None = None,
        lang: str | None = None,
    ) -> Outcome:
        """Create the status with the delivery's Idempotency-Key (a fresh one when none is given), in its language."""
        try:
            self._ready()
        except MastodonError as exc:
            failure = self._fail(exc)  # nothing was sent to be posted
            if failure.kind == "auth":
                return Refused(failure.reason, halt=True)
            return RetryLater(f"before posting: {failure.reason}", failure.retry_after)
        try:
            status = self.api.status_post(
                text,
                in_reply_to_id=in_reply_to,
                media_ids=list(media_ids) or None,
                idempotency_key=key or uuid.uuid4().hex,
                language=lang,
            )
        except MastodonError as exc:
            return self._post_outcome(self._fail(exc), bool(media_ids))
        status_id = status.get("id") if isinstance(status, dict) else None
        if not status_id:
            return OutcomeUnknown("Mastodon's answer to the post had no status id")
        return Posted(str(status_id))

    def _post_outcome(self, failure: _Failure, with_media: bool) -> Outcome:
        if failure.kind == "rate":
            return RetryLater(failure.reason, failure.retry_after)
        if failure.kind == "unreached":
            return RetryLater(failure.reason)
        if failure.kind == "auth":
            return Refused(failure.reason, halt=True)
        if failure.kind == "refused":
            words = failure.reason.lower()
            if with_media and failure.status == 422 and "not finished processing" in words:
                return RetryLater(f"{failure.reason} (its images are still being processed)", 5.0)
            if with_media and failure.status == 422 and "not found" in words:
                return RetryLater(f"Mastodon no longer has its images ({failure.reason})", None, stale_media=True)
            return Refused(failure.reason)
        return OutcomeUnknown(failure.reason)

    def upload(self, data: bytes, kind: str, alt: str) -> UploadOutcome:
        """One image with its description, then its processing waited for (bounded)."""
        try:
            instance = self._ready()
            if len(alt) > instance.max_alt:
                return Refused(f"the alt text is {len(alt):,} characters long; Mastodon allows {instance.max_alt:,}")
            extension = kind.split("/")[-1] if kind.startswith("image/") else "bin"
            media = self.api.media_post(data, mime_type=kind, description=alt or None, file_name=f"image.{extension}")
            media_id = str(media["id"])
            waited, wait = 0.0, 1.0
            while not media.get("url"):  # asked at once, then after 1, 2, 4... seconds
                media = self.api.media(media_id)
                if media.get("url"):
                    break
                if waited + wait > PROCESSING_WAIT:
                    return RetryLater(f"Mastodon was still processing the image after {waited:.0f} s")
                self.sleep(wait)
                waited += wait
                wait = min(wait * 2, 10.0)
        except MastodonError as exc:
            failure = self._fail(exc)
            if failure.kind == "auth":
                return Refused(failure.reason, halt=True)
            if failure.kind == "refused":
                return Refused(f"the image was refused: {failure.reason}")
            return RetryLater(failure.reason, failure.retry_after)  # an upload is never "unknown": do it again
        except (KeyError, TypeError) as exc:
            return RetryLater(f"Mastodon's answer to the upload was not understood ({type(exc).__name__})")
        return Uploaded(media_id, MEDIA_KEPT)

    def delete(self, status_id: str) -> None:
        """Delete one of our statuses (an operator's undo). Raises PublisherError when it failed."""
        with self._errors(f"deleting status {status_id} on {self.name} failed"):
            self.api.status_delete(status_id)

    # --- look-ups --------------------------------------------------------------------------

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        """Our status with this text since `since`, looked for among the account's recent ones.

        Mastodon shows no status's Idempotency-Key, so `key` is not looked up: a retry with it is
        what makes a second status impossible within the hour.
        """
        user_id, _ = self.me()
        wanted = comparable(text)
        start = since - timedelta(seconds=5)  # the server's clock may be a little behind ours
        with self._errors("looking up recent statuses failed"):
            page = self.api.account_statuses(user_id, since_id=start, limit=40, exclude_reblogs=True)
            for _ in range(MAX_LOOKUP_PAGES):
                if not page:
                    return None
                for status in page:
                    if _aware(status.get("created_at"), start) < start:
                        return None  # older pages do not keep since_id (Mastodon.py drops it): stop here
                    if status.get("id") and comparable(_status_text(status)) == wanted:
                        return str(status["id"])
                page = self._next(page)
        return None

    def fetch_direct_messages(self, newer_than: str | None) -> tuple[list[IncomingMessage], int]:
        """Direct messages to the account since notification `newer_than`, newest first, and the pages read."""
        user_id, username = self.me()
        with self._errors(f"reading the limits of {self.name} failed"):
            domain = self._ready().domain
        ours = re.compile(rf"\A(?:\s*@{re.escape(username)}(?:@{re.escape(domain)})?(?![\w@.-]))+\s*", re.IGNORECASE)
        since = newer_than if newer_than and newer_than.isdigit() else None
        found: list[IncomingMessage] = []
        pages = 0
        with self._errors(
            "fetching direct messages failed", rate_limit="Mastodon's rate limit for notifications was reached (429)"
        ):
            page = self.api.notifications(types=["mention"], since_id=since, limit=40)
            pages = 1
            while page:
                reached_known = False
                for notification in page:
                    if not str(notification.get("id") or "").isdigit():
                        continue  # not a notification Mastodon would send
                    if since is not None and int(notification["id"]) <= int(since):
                        reached_known = True  # the server's paging went past what was kept
                        break
                    message = self._message(notification, user_id, ours)
                    if message is not None:
                        found.append(message)
                if reached_known or pages >= MAX_DM_PAGES:
                    break
                page = self._next(page)
                pages += page is not None
        return found, pages

    def _next(self, page: Any) -> Any:
        """The next (older) page, or None when the server gave no link to one."""
        if getattr(page, "_pagination_next", None) is None:
            return None
        return self.api.fetch_next(page)

    def _message(self, notification: Any, user_id: str, ours: re.Pattern[str]) -> IncomingMessage | None:
        status = notification.get("status")
        if not isinstance(status, dict) or status.get("visibility") != "direct":
            return None  # a public mention is not a direct message
        account = status.get("account") or {}
        sender = str(account.get("id") or "")
        if not sender or sender == user_id:
            return None
        media = tuple(
            IncomingMedia(
                str(m.get("id")), MEDIA_KINDS.get(str(m.get("type")), str(m.get("type") or "")), str(m.get("url") or "")
            )
            for m in status.get("media_attachments") or []
        )
        for item in media:
            host = (urlsplit(item.url).hostname or "").lower()
            if host:
                self._media_hosts.add(host)  # the server named it: its images may be fetched from there
        return IncomingMessage(
            id=str(notification["id"]),
            text=ours.sub("", _status_text(status), count=1),
            sender_id=sender,
            sender_username=str(account.get("acct") or account.get("username") or sender),
            created_at=_aware(status.get("created_at"), self.clock.now()),
            conversation_id=f"mastodon:{sender}",
            media_keys=tuple(m.key for m in media),
            media=media,
        )

    def fetch_dm_media(self, url: str, max_bytes: int) -> bytes:
        """A direct message's image, from the server or a host it named, unauthenticated (no token
        leaves for a file host); refused once it passes `max_bytes`, before the rest is read."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        local = parts.scheme == "http" and host in LOOPBACK and urlsplit(self.base_url).scheme == "http"
        if not (parts.scheme == "https" or local) or host not in self._media_hosts or _private(host, local):
            raise PublisherError(f"not fetched: {url[:100]} is not where {self.name} serves its images")
        what = "fetching a direct message's image failed"
        try:
            with requests.get(url, stream=True, timeout=self.timeout, allow_redirects=False) as response:
                if response.status_code != 200:
                    raise PublisherError(f"{what}: the server answered {response.status_code}")
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise PublisherError(
                        f"{what}: it is {int(declared):,} bytes, more than livetweet takes ({max_bytes:,})"
                    )
                return read_at_most(
                    response.iter_content(64 * 1024),
                    max_bytes,
                    lambda _: f"{what}: it is over {max_bytes:,} bytes, more than livetweet takes",
                )
        except requests.exceptions.RequestException as exc:
            raise PublisherError(f"{what}: {type(exc).__name__}") from exc

    def read_metrics(self, status_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Each status's counts by its id, in X's names (like_count, retweet_count, reply_count), for the report.

        A status the server no longer has is left out; raises PublisherError when the server cannot be read.
        """
        found: dict[str, dict[str, int]] = {}
        for status_id in dict.fromkeys(status_ids):
            try:
                status = self.api.status(status_id)
            except MastodonNotFoundError:
                continue
            except MastodonError as exc:
                raise PublisherError(
                    f"cannot read the statuses' counts from {self.name}: {self._fail(exc).reason}"
                ) from exc
            found[status_id] = {
                "like_count": _bounded(status.get("favourites_count"), 0, 0, 10**12),
                "retweet_count": _bounded(status.get("reblogs_count"), 0, 0, 10**12),
                "reply_count": _bounded(status.get("replies_count"), 0, 0, 10**12),
            }
        return found

    def close(self) -> None:
        self.session.close()


def _status_text(status: Any) -> str:
    """What was posted: the status's source `text` when the server sends it, else its HTML read as text."""
    text = status.get("text")
    if isinstance(text, str) and text:
        return text
    content = status.get("content")
    return html_to_text(content) if isinstance(content, str) else ""


def _private(host: str, local: bool) -> bool:
    """An address on this machine or a private network (never fetched, but in a rehearsal on 127.0.0.1)."""
    if local:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host in ("localhost",) or host.endswith((".local", ".internal"))
    return not address.is_global

"""Posting to X with tweepy's Client (API v2, OAuth 1.0a user context).

tweepy sends every call to https://api.twitter.com with no timeout; a requests adapter
mounted on the client's session adds a timeout to every call and, when a base URL is
given (LIVETWEET_X_API_URL), sends the calls there instead (the simulated X API).

Images: tweepy 4 has only X's retired v1.1 upload, so the v2 media calls (POST
/2/media/upload, chunked initialize/append/finalize for a GIF, POST /2/media/metadata for
alt text) go through the client's own `request`, signed with the same OAuth 1.0a
credentials, on the same session, raising the same tweepy exceptions. A direct message's
image is a GET to ton.twitter.com signed the same way (X serves DM media to nobody else).
"""

from __future__ import annotations

import base64
import html
import math
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from ..clock import Clock, SystemClock
from ..config import X_CREDENTIAL_NAMES
from ..inbox import IncomingMedia, IncomingMessage
from ..plan.tweettext import extract_urls
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

X_API = "https://api.twitter.com"
DEFAULT_TIMEOUT = 10.0
DUPLICATE = "duplicate content"


DM_MEDIA_HOSTS = frozenset({"ton.twitter.com", "ton.x.com"})  # where X serves the images of direct messages
X_HOSTS = frozenset({"api.twitter.com", "api.x.com", "upload.twitter.com", "upload.x.com", *DM_MEDIA_HOSTS})
CHUNK_BYTES = 4 * 1024 * 1024  # one append of a chunked upload (X takes at most 5 MB)
PROCESSING_WAIT = 60.0  # seconds of real time X may take to process a GIF before we try again later
CHUNKED_KINDS = frozenset({"image/gif"})  # X processes GIFs (they may be animated): chunked, as X asks
MEDIA_STALE = ("media id", "media_id", "media ids")  # X's words when it no longer knows an upload


class UnroutedHost(requests.exceptions.ConnectionError):
    """A call to a host that is not one of X's while the calls go to another base URL: refused,
    never sent (a rehearsal must not reach the real X, nor anybody else)."""


class _RoutingAdapter(HTTPAdapter):
    """Gives every call a timeout and, optionally, another base URL.

    Mounted on every scheme of the session: with a base URL, a call to any of X's hosts goes
    there (path and query kept) and a call to any other host is refused before it leaves.
    """

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self.base_url:
            request.url = self.route(request.url or "")
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().send(request, **kwargs)

    def route(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        if parts.scheme != "https" or host not in X_HOSTS or parts.port not in (None, 443):
            raise UnroutedHost(
                f"refused a call to {parts.scheme}://{parts.netloc}: only X's API is routed to {self.base_url}"
            )
        return str(self.base_url) + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def missing_credentials(credentials: dict[str, str]) -> list[str]:
    return [name for name in X_CREDENTIAL_NAMES if not credentials.get(name)]


def comparable(text: str) -> str:
    """A post's text as X may echo it back: URLs wrapped (t.co), HTML entities, spacing, NFC."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    for url in reversed(extract_urls(text)):
        text = text[: url.start] + "<url>" + text[url.end :]
    return " ".join(text.split())


REPLY_REFUSED = "reply to this conversation is not allowed"  # X's 2026 reply restriction, as it words it


class XPublisher(Publisher):
    """Posts through the X API v2."""

    noun = "tweet"

    def __init__(
        self,
        credentials: dict[str, str],
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        missing = missing_credentials(credentials)
        if missing:
            raise PublisherError(
                f"X credentials missing: {', '.join(missing)}. Set them in .env (see .env.example) or the "
                "environment; to rehearse without X, use `livetweet run --rehearse`"
            )
        self.base_url = base_url
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self.sleep = sleep  # while X processes a GIF (tests pass one that moves their clock instead)
        self.client = self._client(credentials)
        self._me: tuple[str, str] | None = None
        self.name = f"X at {base_url}" if base_url else "X"

    def _client(self, credentials: dict[str, str]) -> tweepy.Client:
        client = tweepy.Client(
            consumer_key=credentials["X_API_KEY"],
            consumer_secret=credentials["X_API_KEY_SECRET"],
            access_token=credentials["X_ACCESS_TOKEN"],
            access_token_secret=credentials["X_ACCESS_TOKEN_SECRET"],
            wait_on_rate_limit=False,
        )
        adapter = _RoutingAdapter(self.base_url, self.timeout)
        for prefix in ("https://", "http://"):  # every call passes through it, whatever its host
            client.session.mount(prefix, adapter)
        return client

    def use_credentials(self, credentials: dict[str, str]) -> None:
        missing = missing_credentials(credentials)
        if missing:
            raise PublisherError(f"X credentials missing: {', '.join(missing)}. Set them in .env (see .env.example)")
        old, self.client = self.client, self._client(credentials)
        old.session.close()

    # --- the one place where tweepy and requests exceptions become outcomes -----------

    def _outcome(self, exc: Exception) -> Outcome:
        if isinstance(exc, UnroutedHost):
            return Refused(f"not sent: {exc}", halt=True)  # it never left this machine
        if isinstance(exc, tweepy.TooManyRequests):
            return RetryLater("X's rate limit was reached (429)", _seconds_to_reset(exc))
        if isinstance(exc, tweepy.TwitterServerError):
            # X may have stored the post before it failed: look it up before trying again.
            return OutcomeUnknown(f"X had an error ({exc.response.status_code}); the post may have been made")
        if isinstance(exc, tweepy.Unauthorized):
            return Refused(f"X refused our credentials (401): {_message(exc)}", halt=True)
        if isinstance(exc, tweepy.Forbidden):
            message = _message(exc)
            if DUPLICATE in message.lower():
                return OutcomeUnknown(f"X says the text is a duplicate: it may be posted already ({message})")
            if REPLY_REFUSED in message.lower():
                return Refused(
                    "X refuses this reply: since February 2026 an app may reply only where the post's author "
                    f"mentioned or engaged the account ({message}). Post it as a standalone post instead "
                    "(`livetweet standalone ID`, or the console's button)"
                )
            return Refused(f"X refused the post (403): {message}")
        if isinstance(exc, tweepy.HTTPException):
            return Refused(f"X refused the post ({exc.response.status_code}): {_message(exc)}")
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return RetryLater("X could not be reached (connection timed out)")
        if isinstance(exc, requests.exceptions.ConnectionError) and _never_connected(exc):
            return RetryLater("X could not be reached (connection refused)")
        if isinstance(exc, requests.exceptions.Timeout):
            return OutcomeUnknown("X did not answer in time")
        if isinstance(exc, requests.exceptions.RequestException):
            return OutcomeUnknown(f"the connection to X broke ({type(exc).__name__})")
        raise exc

    def _upload_outcome(self, exc: Exception) -> UploadOutcome:
        """An upload's exceptions: never "unknown" (uploading again is safe), so X's errors and a
        broken connection are a retry; X refusing the image itself is a refusal."""
        if isinstance(exc, UnroutedHost):
            return Refused(f"not sent: {exc}", halt=True)
        if isinstance(exc, tweepy.TooManyRequests):
            return RetryLater("X's rate limit for uploads was reached (429)", _seconds_to_reset(exc))
        if isinstance(exc, tweepy.TwitterServerError):
            return RetryLater(f"X had an error ({exc.response.status_code})")
        if isinstance(exc, tweepy.Unauthorized):
            return Refused(f"X refused our credentials (401): {_message(exc)}", halt=True)
        if isinstance(exc, tweepy.HTTPException):
            return Refused(f"X refused the image ({exc.response.status_code}): {_message(exc)}")
        if isinstance(exc, requests.exceptions.Timeout):
            return RetryLater("X did not answer in time")
        if isinstance(exc, requests.exceptions.RequestException):
            return RetryLater(f"the connection to X broke ({type(exc).__name__})")
        raise exc

    def post(
        self,
        text: str,
        in_reply_to: str | None = None,
        media_ids: Sequence[str] = (),
        key: str | None = None,
        lang: str | None = None,
    ) -> Outcome:
        try:
            response = self.client.create_tweet(
                text=text, in_reply_to_tweet_id=in_reply_to, media_ids=list(media_ids) or None, user_auth=True
            )
        except tweepy.BadRequest as exc:
            message = _message(exc)
            if media_ids and any(word in message.lower() for word in MEDIA_STALE):
                # X no longer knows the images (expired, say): nothing was posted; upload them again.
                return RetryLater(f"X no longer has its images ({message}): they will be uploaded again", None, True)
            return self._outcome(exc)
        except (tweepy.TweepyException, requests.exceptions.RequestException) as exc:
            return self._outcome(exc)
        return Posted(str(response.data["id"]))

    def upload(self, data: bytes, kind: str, alt: str) -> UploadOutcome:
        """One image: a single call (a GIF: initialize, append, finalize, and wait while X processes
        it), then its alt text."""
        try:
            if kind in CHUNKED_KINDS:
                media = self._upload_chunked(data, kind, "tweet_gif")
            else:
                media = self._media_call(
                    "POST",
                    "/2/media/upload",
                    json={
                        "media": base64.b64encode(data).decode("ascii"),
                        "media_category": "tweet_image",
                        "media_type": kind,
                    },
                )
            processed = self._wait_for_processing(media)
            if isinstance(processed, (RetryLater, Refused)):
                return processed
            media_id = str(processed["id"])
            if alt:
                self._media_call(
                    "POST", "/2/media/metadata", json={"id": media_id, "metadata": {"alt_text": {"text": alt}}}
                )
        except (tweepy.TweepyException, requests.exceptions.RequestException) as exc:
            return self._upload_outcome(exc)
        except (KeyError, TypeError, ValueError) as exc:
            return RetryLater(f"X's answer to the upload was not understood ({type(exc).__name__}: {exc})")
        expires = processed.get("expires_after_secs")
        return Uploaded(media_id, float(expires) if expires is not None else None)

    def _media_call(
        self, method: str, route: str, params: dict[str, Any] | None = None, json: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A v2 media call, signed as tweepy signs its own; returns X's `data`."""
        response = self.client.request(method, route, params=params, json=json, user_auth=True)
        body = response.json() if response.content else {}
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ValueError(f"no data in X's answer to {method} {route}")
        return data

    def _upload_chunked(self, data: bytes, kind: str, category: str) -> dict[str, Any]:
        started = self._media_call(
            "POST",
            "/2/media/upload/initialize",
            json={"media_type": kind, "total_bytes": len(data), "media_category": category},
        )
        media_id = str(started["id"])
        for index, start in enumerate(range(0, len(data), CHUNK_BYTES)):
            chunk = data[start : start + CHUNK_BYTES]
            self._media_call(
                "POST",
                f"/2/media/upload/{media_id}/append",
                json={"media": base64.b64encode(chunk).decode("ascii"), "segment_index": index},
            )
        return self._media_call("POST", f"/2/media/upload/{media_id}/finalize")

    def _wait_for_processing(self, media: dict[str, Any]) -> dict[str, Any] | RetryLater | Refused:
        """Ask X how the processing goes, as often as it says, for at most PROCESSING_WAIT seconds."""
        waited = 0.0
        info: dict[str, Any] = media.get("processing_info") or {}
        while info.get("state") not in (None, "succeeded"):
            if info.get("state") == "failed":
                error = info.get("error") or {}
                why = error.get("message") or error.get("name") or "processing failed"
                return Refused(f"X could not process the image: {why}")
            wait = max(float(info.get("check_after_secs") or 1), 0.0)
            if waited + wait > PROCESSING_WAIT:
                return RetryLater(f"X was still processing the image after {waited:.0f} s")
            self.sleep(wait)
            waited += wait
            status = self._media_call(
                "GET", "/2/media/upload", params={"command": "STATUS", "media_id": str(media["id"])}
            )
            media = {**media, **status}
            info = status.get("processing_info") or {}
        return media

    def me(self) -> tuple[str, str]:
        """(user id, username) of the account, asked once."""
        if self._me is None:
            with x_errors(f"cannot reach the account on {self.name}"):
                user = self.client.get_me(user_auth=True).data
            self._me = (str(user.id), str(user.username))
        return self._me

    def check(self) -> str:
        self._me = None  # ask X again: this is the check that the credentials work now
        _user_id, username = self.me()
        return f"@{username} on {self.name}"

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        user_id, _ = self.me()
        wanted = comparable(text)
        start = (since - timedelta(seconds=5)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        token: str | None = None
        with x_errors("looking up recent posts failed"):
            for _ in range(10):  # at most 1,000 recent posts
                page = self.client.get_users_tweets(
                    user_id,
                    start_time=start,
                    max_results=100,
                    pagination_token=token,
                    tweet_fields=["attachments", "created_at"],
                    user_auth=True,
                )
                for tweet in page.data or []:
                    if comparable(_without_media_link(tweet)) == wanted:
                        return str(tweet.id)
                token = (page.meta or {}).get("next_token")
                if not token:
                    return None
        return None

    def fetch_direct_messages(self, newer_than: str | None) -> tuple[list[IncomingMessage], int]:
        """Newest first, page after page, back to the last message already kept."""
        my_id, _ = self.me()
        found: list[IncomingMessage] = []
        token: str | None = None
        pages = 0
        with x_errors(
            "fetching direct messages failed", rate_limit="X's rate limit for direct messages was reached (429)"
        ):
            while True:
                page = self.client.get_direct_message_events(
                    dm_event_fields=[
                        "id",
                        "text",
                        "event_type",
                        "sender_id",
                        "created_at",
                        "dm_conversation_id",
                        "attachments",
                    ],
                    event_types="MessageCreate",
                    expansions=["sender_id", "attachments.media_keys"],
                    user_fields=["username"],
                    media_fields=["media_key", "type", "url"],
                    max_results=100,
                    pagination_token=token,
                    user_auth=True,
                )
                pages += 1
                users = {str(u.id): str(u.username) for u in (page.includes or {}).get("users", [])}
                media = {
                    str(m.media_key): IncomingMedia(str(m.media_key), str(m.type or ""), str(m.url or ""))
                    for m in (page.includes or {}).get("media", [])
                }
                reached_known = False
                for event in page.data or []:
                    if newer_than is not None and int(event.id) <= int(newer_than):
                        reached_known = True
                        break
                    sender = str(event.sender_id)
                    if sender == my_id:
                        continue  # our own messages are not inbox items
                    attachments = getattr(event, "attachments", None) or {}
                    keys = tuple(str(k) for k in attachments.get("media_keys", []))
                    found.append(
                        IncomingMessage(
                            id=str(event.id),
                            text=str(event.text or ""),
                            sender_id=sender,
                            sender_username=users.get(sender, sender),
                            created_at=event.created_at or self.clock.now(),
                            conversation_id=str(event.dm_conversation_id or ""),
                            media_keys=keys,
                            media=tuple(media.get(k, IncomingMedia(k, "")) for k in keys),
                        )
                    )
                token = (page.meta or {}).get("next_token")
                if reached_known or not token:
                    return found, pages

    def fetch_dm_media(self, url: str, max_bytes: int) -> bytes:
        """A direct message's image, from X's DM media host only, signed with the account's credentials;
        refused once it passes `max_bytes`, before the rest is read."""
        parts = urlsplit(url)
        if parts.scheme != "https" or (parts.hostname or "").lower() not in DM_MEDIA_HOSTS:
            raise PublisherError(f"not fetched: {url[:100]} is not where X serves the images of direct messages")
        c = self.client
        auth = tweepy.OAuth1UserHandler(c.consumer_key, c.consumer_secret, c.access_token, c.access_token_secret)
        what = "fetching a direct message's image failed"
        with x_errors(what), c.session.get(url, auth=auth.apply_auth(), stream=True) as response:
            if response.status_code != 200:
                raise PublisherError(f"{what}: X answered {response.status_code} {response.reason or ''}".rstrip())
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise PublisherError(_too_big(int(declared), max_bytes))
            return read_at_most(
                response.iter_content(64 * 1024), max_bytes, lambda size: _too_big(size, max_bytes, at_least=True)
            )

    def close(self) -> None:
        self.client.session.close()


@contextmanager
def x_errors(what: str, rate_limit: str | None = None) -> Iterator[None]:
    """The one mapping of a look-up's tweepy and requests exceptions to our errors: a 429 to
    RateLimited (when the caller says how to word it), anything else to PublisherError. (A post's
    exceptions become outcomes instead: XPublisher._outcome.)"""
    try:
        yield
    except tweepy.TooManyRequests as exc:
        if rate_limit is None:
            raise PublisherError(f"{what}: {_describe(exc)}") from exc
        raise RateLimited(rate_limit, _seconds_to_reset(exc)) from exc
    except (tweepy.TweepyException, requests.exceptions.RequestException) as exc:
        raise PublisherError(f"{what}: {_describe(exc)}") from exc


def _too_big(size: int, limit: int, at_least: bool = False) -> str:
    def amount(n: int) -> str:
        return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"

    over = "over " if at_least else ""
    return f"a direct message's image is {over}{amount(size)}, more than livetweet takes ({amount(limit)}): not fetched"


def _without_media_link(tweet: Any) -> str:
    """X ends the text of a post with images with a link to them (t.co): not part of what we posted."""
    text = str(tweet.text)
    if (getattr(tweet, "attachments", None) or {}).get("media_keys"):
        urls = extract_urls(text)
        if urls and not text[urls[-1].end :].strip():
            text = text[: urls[-1].start].rstrip()
    return text


def _seconds_to_reset(exc: tweepy.TooManyRequests) -> float | None:
    """X's x-rate-limit-reset is a wall-clock epoch: the seconds from now until then."""
    reset = getattr(exc, "reset_time", None)
    if reset is None:
        try:
            reset = int(exc.response.headers.get("x-rate-limit-reset", ""))
        except (ValueError, AttributeError):
            return None
    return float(max(math.ceil(float(reset) - time.time()), 0))  # X's resets are whole seconds


def _message(exc: tweepy.HTTPException) -> str:
    parts = list(exc.api_messages) or [str(exc.response.reason or "")]
    try:
        detail = exc.response.json().get("detail")
    except ValueError:
        detail = None
    if detail and detail not in parts:
        parts.append(detail)
    return "; ".join(p for p in parts if p) or f"HTTP {exc.response.status_code}"


def _describe(exc: Exception) -> str:
    if isinstance(exc, tweepy.HTTPException):
        return f"HTTP {exc.response.status_code}: {_message(exc)}"
    return exception_line(exc)


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """A refused or unresolvable connection: the request never left, so no post was made."""
    text = repr(exc)
    return "NewConnectionError" in text or "NameResolutionError" in text or "Connection refused" in text

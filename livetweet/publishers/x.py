"""Posting to X with tweepy's Client (API v2, OAuth 1.0a user context).

tweepy sends every call to https://api.twitter.com with no timeout; a requests adapter
mounted on the client's session adds a timeout to every call and, when a base URL is
given (LIVETWEET_X_API_URL), sends the calls there instead (the simulated X API).
"""

from __future__ import annotations

import html
import math
import re
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from ..clock import Clock, SystemClock
from ..config import X_CREDENTIAL_NAMES
from ..inbox import IncomingMessage
from ..plan.tweettext import extract_urls
from .base import Outcome, OutcomeUnknown, Posted, Publisher, PublisherError, RateLimited, Refused, RetryLater

X_API = "https://api.twitter.com"
DEFAULT_TIMEOUT = 10.0
DUPLICATE = "duplicate content"


X_HOSTS = frozenset({"api.twitter.com", "api.x.com", "upload.twitter.com", "upload.x.com"})


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


class XPublisher(Publisher):
    """Posts through the X API v2."""

    def __init__(
        self,
        credentials: dict[str, str],
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
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

    def post(self, text: str, in_reply_to: str | None = None) -> Outcome:
        try:
            response = self.client.create_tweet(text=text, in_reply_to_tweet_id=in_reply_to, user_auth=True)
        except (tweepy.TweepyException, requests.exceptions.RequestException) as exc:
            return self._outcome(exc)
        return Posted(str(response.data["id"]))

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

    def find_post(self, text: str, since: datetime) -> str | None:
        user_id, _ = self.me()
        wanted = comparable(text)
        start = (since - timedelta(seconds=5)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        token: str | None = None
        with x_errors("looking up recent posts failed"):
            for _ in range(10):  # at most 1,000 recent posts
                page = self.client.get_users_tweets(
                    user_id, start_time=start, max_results=100, pagination_token=token, user_auth=True
                )
                for tweet in page.data or []:
                    if comparable(tweet.text) == wanted:
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
                    expansions=["sender_id"],
                    user_fields=["username"],
                    max_results=100,
                    pagination_token=token,
                    user_auth=True,
                )
                pages += 1
                users = {str(u.id): str(u.username) for u in (page.includes or {}).get("users", [])}
                reached_known = False
                for event in page.data or []:
                    if newer_than is not None and int(event.id) <= int(newer_than):
                        reached_known = True
                        break
                    sender = str(event.sender_id)
                    if sender == my_id:
                        continue  # our own messages are not inbox items
                    attachments = getattr(event, "attachments", None) or {}
                    found.append(
                        IncomingMessage(
                            id=str(event.id),
                            text=str(event.text or ""),
                            sender_id=sender,
                            sender_username=users.get(sender, sender),
                            created_at=event.created_at or self.clock.now(),
                            conversation_id=str(event.dm_conversation_id or ""),
                            media_keys=tuple(str(k) for k in attachments.get("media_keys", [])),
                        )
                    )
                token = (page.meta or {}).get("next_token")
                if reached_known or not token:
                    return found, pages

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
    return re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}")[:200]


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """A refused or unresolvable connection: the request never left, so no post was made."""
    text = repr(exc)
    return "NewConnectionError" in text or "NameResolutionError" in text or "Connection refused" in text

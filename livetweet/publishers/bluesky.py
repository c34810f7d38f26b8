"""Posting to Bluesky with the `atproto` Client (XRPC over httpx), exactly once by record key.

A post is created with `com.atproto.repo.createRecord` under the record key the delivery chose
when it was claimed (a TID), so however often it is sent it names one record: a second create
with that key cannot make a second post. The PDS answers such a create 500 InternalServerError
today (an explicit error is proposed); either way the record is read back by its key, and the
post counts as made when its text is ours. A create whose answer was lost (a timeout, a dropped
connection, a 502/503) is an unknown outcome: the dispatcher asks `find_post(key=...)` before it
tries again, with the same key.

The session is made on first use (an app password, never written anywhere) and refreshed by
the client ahead of its expiry, on our clock (a rehearsal's clock runs fast: so do its
sessions). Facets make links, hashtags and mentions clickable; mentions are resolved to DIDs
once per handle. Direct messages are Bluesky chat, read through the chat proxy: the log's
cursor says what is new.

Every exception of atproto and httpx is classified in one place (`_classify`); nothing above
this module sees one.
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from atproto import Client  # type: ignore[import-untyped]
from atproto_client import models  # type: ignore[import-untyped]
from atproto_client.exceptions import (  # type: ignore[import-untyped]
    LoginRequiredError,
    ModelError,
    RateLimitExceededError,
    RequestErrorBase,
)
from atproto_client.models.utils import get_model_as_dict  # type: ignore[import-untyped]
from atproto_client.request import Request  # type: ignore[import-untyped]
from pydantic import ValidationError

from ..clock import Clock, SystemClock
from ..inbox import IncomingMedia, IncomingMessage
from ..plan.bluesky import (
    MAX_CLOCK_ID,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    alt_problems,
    facet_records,
    facets,
    is_tid,
    mentioned_handles,
    tid,
    tid_at,
    tid_parts,
    weight_problems,
)
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
    read_at_most,
)

BLUESKY = "https://bsky.social"
POST = "app.bsky.feed.post"
DEFAULT_TIMEOUT = 10.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
CDN_HOSTS = frozenset({"cdn.bsky.app", "video.bsky.app"})  # where Bluesky serves the images of posts
MAX_LOG_PAGES = 20  # chat log pages read in one poll (then the next poll goes on from the cursor)
MAX_FIND_PAGES = 10  # listRecords pages (100 posts each) searched for a post without its key
T = TypeVar("T")


class UnroutedHost(Exception):
    """A call to another host than the simulated Bluesky's while rehearsing: refused before it leaves."""


@dataclass(frozen=True)
class _Failure:
    """What went wrong with one call, in our words: the one classification of atproto's and httpx's exceptions."""

    kind: Literal[
        "unrouted", "unreachable", "timeout", "broken", "rate_limited", "unauthorized", "expired",
        "server_error", "exists", "not_found", "refused", "bad_answer",
    ]  # fmt: skip
    detail: str
    status: int | None = None
    retry_after: float | None = None


def _classify(exc: BaseException, clock_now: Callable[[], datetime] | None = None) -> _Failure:
    """The one place that reads atproto's and httpx's exceptions."""
    if isinstance(exc, UnroutedHost):
        return _Failure("unrouted", str(exc))
    if isinstance(exc, RequestErrorBase) and exc.response is not None:
        status = int(exc.response.status_code)
        content = exc.response.content
        error = str(getattr(content, "error", "") or "")
        message = str(getattr(content, "message", "") or "")
        detail = f"{status} {error}: {message}".rstrip(": ") if error else f"HTTP {status}"
        if isinstance(exc, RateLimitExceededError) or status == 429:
            return _Failure("rate_limited", detail, status, _retry_after(exc))
        if error in ("ExpiredToken", "InvalidToken"):
            return _Failure("expired", detail, status)
        if status in (401, 403):
            return _Failure("unauthorized", detail, status)
        if error == "RecordNotFound":
            return _Failure("not_found", detail, status)
        if status == 409 or "alreadyexist" in error.lower() or "already exist" in message.lower():
            return _Failure("exists", detail, status)
        if status >= 500:
            return _Failure("server_error", detail, status)
        return _Failure("refused", detail, status)
    cause = exc.__cause__ if isinstance(exc, RequestErrorBase) else exc
    if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout)):
        return _Failure("unreachable", f"could not connect ({type(cause).__name__})")
    if isinstance(cause, httpx.TimeoutException):
        return _Failure("timeout", "no answer in time")
    if isinstance(cause, (httpx.HTTPError, OSError)) or isinstance(exc, RequestErrorBase):
        return _Failure("broken", f"the connection broke ({type(cause or exc).__name__})")
    if isinstance(exc, LoginRequiredError):
        return _Failure("unauthorized", "not logged in")
    if isinstance(exc, (ModelError, ValidationError, KeyError, TypeError, ValueError)):
        return _Failure("bad_answer", f"the answer was not understood ({type(exc).__name__})")
    raise exc


_CAUGHT = (RequestErrorBase, LoginRequiredError, ModelError, ValidationError, httpx.HTTPError, UnroutedHost)


def _retry_after(exc: BaseException) -> float | None:
    """Seconds of the machine's clock until Bluesky's rate limit resets (RateLimit-Reset is a wall-clock epoch)."""
    if isinstance(exc, RateLimitExceededError):
        if exc.retry_after is not None:
            return float(exc.retry_after)
        if exc.reset_at is not None:
            return float(max((exc.reset_at - datetime.now(UTC)).total_seconds(), 0.0))
    return None


class _Client(Client):  # type: ignore[misc]
    """atproto's Client on our clock: it refreshes its session ahead of the token's expiry as our clock reads it."""

    clock: Clock = SystemClock()

    def get_current_time(self) -> datetime:
        return self.clock.now()


def _route_guard(base_url: str) -> Callable[[httpx.Request], None]:
    """While the calls go to a simulated Bluesky on this machine, refuse any call elsewhere."""
    home = (urlsplit(base_url).hostname or "").lower()

    def check(request: httpx.Request) -> None:
        if home in LOOPBACK and request.url.host.lower() not in LOOPBACK:
            raise UnroutedHost(f"refused a call to {request.url.host}: rehearsing against {base_url} only")

    return check


def _comparable(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _as_dict(value: Any) -> dict[str, Any]:
    """A record's value as JSON, whether atproto parsed it into a model or left it a dict."""
    if isinstance(value, dict):
        return value
    converted = get_model_as_dict(value)
    return converted if isinstance(converted, dict) else {}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _at_uri(uri: str) -> tuple[str, str, str] | None:
    """(repo, collection, rkey) of an at:// URI, or None."""
    if not uri.startswith("at://"):
        return None
    parts = uri[len("at://") :].split("/")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 and all(parts) else None


class BlueskyPublisher(Publisher):
    """Posts to one Bluesky account through its PDS."""

    def __init__(
        self,
        handle: str,
        app_password: str,
        base_url: str = BLUESKY,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        langs: Sequence[str] = (),
    ) -> None:
        if not handle.strip() or not app_password:
            raise PublisherError(
                "Bluesky credentials missing: the account's handle and an app password (Settings > Privacy and "
                "security > App passwords). Set them in .env (see .env.example)"
            )
        self.handle = handle.strip().lstrip("@").lower()
        self._password = app_password
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self.langs = list(langs)
        self.name = f"Bluesky at {self.base_url}" if self.base_url != BLUESKY else "Bluesky"
        self._client: _Client | None = None
        self._chat: _Client | None = None
        self._did: str | None = None
        self._lock = threading.RLock()
        self._dids: dict[str, str | None] = {}  # handle -> DID (None: it does not resolve)
        self._refs: dict[str, tuple[str, dict[str, str]]] = {}  # our post's uri -> (its cid, its thread's root)
        self._handles: dict[str, str] = {}  # DID -> handle, of chat senders
        self._last_micros = 0
        self.chat_cursor: str | None = None  # the chat log's cursor after the last poll

    def __repr__(self) -> str:
        return f"BlueskyPublisher(@{self.handle} at {self.base_url})"  # never the password

    # --- the session ------------------------------------------------------------------

    def _session(self) -> _Client:
        """The logged-in client, made on first use."""
        with self._lock:
            if self._client is None:
                request = Request(timeout=self.timeout, event_hooks={"request": [_route_guard(self.base_url)]})
                client = _Client(self.base_url, request=request)
                client.clock = self.clock
                client.on_session_change(self._on_session)
                client.login(self.handle, self._password, fetch_bsky_profile=False)
                self._client, self._chat = client, None
            return self._client

    def _on_session(self, event: Any, session: Any) -> None:
        self._did = str(session.did)

    def _chat_client(self) -> _Client:
        client = self._session()
        with self._lock:
            if self._chat is None:
                self._chat = client.with_bsky_chat_proxy()
                self._chat.clock = self.clock
            return self._chat

    def _call(self, fn: Callable[[], T]) -> T:
        """One call; if the server says our token expired (clocks that disagree), log in again and call once more."""
        try:
            return fn()
        except RequestErrorBase as exc:
            if _classify(exc).kind != "expired":
                raise
        self._forget_session()
        return fn()

    def _forget_session(self) -> None:
        with self._lock:
            old, self._client, self._chat = self._client, None, None
        if old is not None:
            old.request.close()

    @property
    def did(self) -> str:
        """The account's DID (logging in when not yet done)."""
        self._session()
        assert self._did is not None
        return self._did

    def use_credentials(self, credentials: dict[str, str]) -> None:
        password = credentials.get("BLUESKY_APP_PASSWORD", "")
        if not password:
            raise PublisherError("Bluesky credentials missing: BLUESKY_APP_PASSWORD. Set it in .env")
        self.handle = (credentials.get("BLUESKY_HANDLE") or self.handle).lstrip("@").lower()
        self._password = password
        self._forget_session()

    # --- posting ------------------------------------------------------------------------

    def post(
        self,
        text: str,
        in_reply_to: str | None = None,
        media_ids: Sequence[str] = (),
        key: str | None = None,
        lang: str | None = None,
    ) -> Outcome:
        problems = weight_problems(text)
        if problems:
            return Refused("; ".join(problems))
        key = key or self.new_key()
        if not is_tid(key):
            return Refused(f"the record key {key[:40]!r} is not a TID")
        embed = _images_embed(media_ids)
        if isinstance(embed, Refused):
            return embed
        try:
            record = self._record(text, in_reply_to, embed, [lang] if lang else self.langs)
        except _NotPosted as failed:
            return failed.outcome
        try:
            answer = self._call(lambda: self._create(key, record))
        except _CAUGHT as exc:
            failure = _classify(exc)
            if failure.kind in ("server_error", "exists") and failure.status in (None, 400, 409, 500):
                return self._read_back(key, text, failure)
            return self._outcome(failure)
        uri, cid = str(answer.uri), str(answer.cid)
        self._refs[uri] = (cid, record.get("reply", {}).get("root") or {"uri": uri, "cid": cid})
        return Posted(uri)

    def new_key(self) -> str:
        """A fresh record key: a TID of our clock's time (never the same twice here) and a random clock id."""
        micros = tid_parts(tid_at(self.clock.now(), 0))[0]
        with self._lock:
            self._last_micros = max(micros, self._last_micros + 1)
            return tid(self._last_micros, secrets.randbelow(MAX_CLOCK_ID + 1))

    def _create(self, key: str, record: dict[str, Any]) -> Any:
        data = models.ComAtprotoRepoCreateRecord.Data(repo=self.did, collection=POST, rkey=key, record=record)
        return self._session().com.atproto.repo.create_record(data)

    def _record(
        self, text: str, in_reply_to: str | None, embed: dict[str, Any] | None, langs: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The app.bsky.feed.post record; raises _NotPosted when what it needs could not be read."""
        try:
            self._session()
            record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": _iso(self.clock.now())}
            found = facets(text)
            written = facet_records(found, self._resolve(mentioned_handles(found)))
            if written:
                record["facets"] = written
            if in_reply_to:
                record["reply"] = self._reply_refs(in_reply_to)
            if embed:
                record["embed"] = embed
            if langs:
                record["langs"] = list(langs)
        except _CAUGHT as exc:
            raise _NotPosted(self._not_posted(_classify(exc), "preparing the post")) from exc
        return record

    def _resolve(self, handles: list[str]) -> dict[str, str]:
        """DIDs of the handles that resolve, each asked once per publisher."""
        for handle in handles:
            if handle in self._dids:
                continue
            try:
                answer = self._call(lambda h=handle: self._session().com.atproto.identity.resolve_handle({"handle": h}))  # type: ignore[misc]
                self._dids[handle] = str(answer.did)
            except RequestErrorBase as exc:
                if _classify(exc).kind != "refused":
                    raise
                self._dids[handle] = None  # Bluesky says it does not resolve: it stays plain text
        return {h: d for h in handles if (d := self._dids.get(h))}

    def _reply_refs(self, parent_uri: str) -> dict[str, Any]:
        """The root and parent strong refs of a reply to `parent_uri` (read from the parent unless we made it)."""
        if parent_uri in self._refs:
            cid, thread_root = self._refs[parent_uri]
            return {"root": thread_root, "parent": {"uri": parent_uri, "cid": cid}}
        parts = _at_uri(parent_uri)
        if parts is None:
            raise _NotPosted(Refused(f"the post to reply to is not an at:// URI: {parent_uri[:100]!r}"))
        repo, collection, rkey = parts
        try:
            found = self._call(
                lambda: self._session().com.atproto.repo.get_record(
                    {"repo": repo, "collection": collection, "rkey": rkey}
                )
            )
        except RequestErrorBase as exc:
            if _classify(exc).kind == "not_found":
                raise _NotPosted(Refused(f"the post to reply to is not on Bluesky: {parent_uri}")) from exc
            raise
        parent = {"uri": str(found.uri), "cid": str(found.cid)}
        reply = _as_dict(found.value).get("reply") or {}
        root = reply.get("root") if isinstance(reply, dict) else None
        if isinstance(root, dict) and root.get("uri") and root.get("cid"):
            return {"root": {"uri": str(root["uri"]), "cid": str(root["cid"])}, "parent": parent}
        return {"root": parent, "parent": parent}

    def _read_back(self, key: str, text: str, failure: _Failure) -> Outcome:
        """After a create the PDS refused as it refuses a taken key: the record under the key says what happened."""
        try:
            found = self._get_own(key)
        except _CAUGHT as exc:
            return OutcomeUnknown(f"Bluesky answered {failure.detail}, and reading the post back failed "
                                  f"({_classify(exc).detail}): it may have been made")  # fmt: skip
        if found is None:
            return RetryLater(f"Bluesky answered {failure.detail}; no post was made under its key (read back)")
        uri, cid, value = found
        if _comparable(str(value.get("text", ""))) != _comparable(text):
            return Refused(f"record key {key} already holds another post ({uri}): not posted again")
        reply = value.get("reply") if isinstance(value.get("reply"), dict) else None
        self._refs[uri] = (cid, (reply or {}).get("root") or {"uri": uri, "cid": cid})
        return Posted(uri)

    def _get_own(self, rkey: str) -> tuple[str, str, dict[str, Any]] | None:
        """(uri, cid, value) of our post under `rkey`, or None when there is none."""
        try:
            found = self._call(
                lambda: self._session().com.atproto.repo.get_record(
                    {"repo": self.did, "collection": POST, "rkey": rkey}
                )
            )
        except RequestErrorBase as exc:
            if _classify(exc).kind == "not_found":
                return None
            raise
        return str(found.uri), str(found.cid), _as_dict(found.value)

    # --- outcomes: what each classified failure means -------------------------------------

    def _outcome(self, failure: _Failure) -> Outcome:
        """A create's failure as an outcome (the post may have been made unless the failure says it was not)."""
        what = f"Bluesky: {failure.detail}"
        if failure.kind == "unrouted":
            return Refused(f"not sent: {failure.detail}", halt=True)
        if failure.kind == "unreachable":
            return RetryLater(f"Bluesky could not be reached ({failure.detail})")
        if failure.kind == "rate_limited":
            return RetryLater(f"Bluesky's rate limit was reached ({failure.detail})", failure.retry_after)
        if failure.kind == "unauthorized":
            self._forget_session()
            return Refused(f"Bluesky refused our credentials ({failure.detail})", halt=True)
        if failure.kind == "expired":
            self._forget_session()
            return RetryLater(
                f"Bluesky says a fresh session expired ({failure.detail}): is this machine's clock right?"
            )
        if failure.kind == "refused" and "BlobNotFound" in failure.detail:
            # The PDS deletes a blob no record took within minutes: nothing was posted; upload again.
            return RetryLater(f"Bluesky no longer has the images ({failure.detail}): they will be uploaded again",
                              None, True)  # fmt: skip
        if failure.kind == "refused":
            return Refused(f"Bluesky refused the post ({failure.detail})")
        if failure.kind == "timeout":
            return OutcomeUnknown("Bluesky did not answer in time: the post may have been made")
        return OutcomeUnknown(f"{what}; the post may have been made")

    def _not_posted(self, failure: _Failure, doing: str) -> Outcome:
        """A failure before the create was sent: nothing was posted."""
        if failure.kind == "unrouted":
            return Refused(f"not sent: {failure.detail}", halt=True)
        if failure.kind in ("unauthorized", "expired"):
            self._forget_session()
            return Refused(f"Bluesky refused our credentials ({failure.detail})", halt=True)
        if failure.kind == "refused":
            return Refused(f"{doing}: Bluesky refused ({failure.detail})")
        return RetryLater(f"{doing}: {failure.detail} (nothing was posted)", failure.retry_after)

    # --- images ---------------------------------------------------------------------------

    def upload(self, data: bytes, kind: str, alt: str) -> UploadOutcome:
        """One image as a blob; its media id is the JSON the post's embed needs (blob ref, alt, aspect ratio)."""
        if len(data) > MAX_IMAGE_BYTES:
            return Refused(f"the image is {len(data):,} bytes; Bluesky takes at most {MAX_IMAGE_BYTES:,}")
        problems = alt_problems(alt)
        if problems:
            return Refused("; ".join(problems))
        try:
            answer = self._call(
                lambda: self._session().com.atproto.repo.upload_blob(data, headers={"Content-Type": kind})
            )
            blob = _as_dict(answer.blob)
        except _CAUGHT as exc:
            failure = _classify(exc)
            if failure.kind == "unrouted":
                return Refused(f"not sent: {failure.detail}", halt=True)
            if failure.kind in ("unauthorized", "expired"):
                self._forget_session()
                return Refused(f"Bluesky refused our credentials ({failure.detail})", halt=True)
            if failure.kind == "refused" or failure.status == 413:
                return Refused(f"Bluesky refused the image ({failure.detail})")
            return RetryLater(f"uploading the image to Bluesky failed ({failure.detail})", failure.retry_after)
        media: dict[str, Any] = {"blob": blob, "alt": alt}
        ratio = _aspect_ratio(data)
        if ratio:
            media["aspectRatio"] = {"width": ratio[0], "height": ratio[1]}
        return Uploaded(json.dumps(media, sort_keys=True))

    # --- look-ups -------------------------------------------------------------------------

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        if key is not None:
            with bluesky_errors("reading the post back by its record key failed"):
                found = self._get_own(key)
            return found[0] if found else None
        wanted = _comparable(text)
        cursor: str | None = None
        with bluesky_errors("looking up recent posts failed"):
            for _ in range(MAX_FIND_PAGES):
                params = {"repo": self.did, "collection": POST, "limit": 100, "cursor": cursor}
                page = self._call(lambda p=params: self._session().com.atproto.repo.list_records(p))  # type: ignore[misc]
                for item in page.records:
                    value = _as_dict(item.value)
                    if _created_before(value, since - timedelta(seconds=5)):
                        return None  # newest first: the rest are older still
                    if _comparable(str(value.get("text", ""))) == wanted:
                        return str(item.uri)
                cursor = page.cursor
                if not cursor:
                    return None
        return None

    def metrics(self, uris: Sequence[str]) -> dict[str, dict[str, int]]:
        """Likes, reposts, replies and quotes of our posts (app.bsky.feed.getPosts, 25 at a time), for the report."""
        found: dict[str, dict[str, int]] = {}
        with bluesky_errors("reading the posts' counts failed"):
            for start in range(0, len(uris), 25):
                chunk = list(uris[start : start + 25])
                page = self._call(lambda c=chunk: self._session().app.bsky.feed.get_posts({"uris": c}))  # type: ignore[misc]
                for view in page.posts:
                    found[str(view.uri)] = {
                        "likes": int(view.like_count or 0),
                        "reposts": int(view.repost_count or 0),
                        "replies": int(view.reply_count or 0),
                        "quotes": int(view.quote_count or 0),
                    }
        return found

    def check(self) -> str:
        self._forget_session()  # log in again: this is the check that the app password works now
        with bluesky_errors(f"cannot log in to {self.name} as @{self.handle}"):
            self._session()
        return f"Bluesky @{self.handle} at {self.base_url}"

    # --- direct messages (Bluesky chat) --------------------------------------------------

    def fetch_direct_messages(self, newer_than: str | None) -> tuple[list[IncomingMessage], int]:
        """Chat messages to the account after the log cursor `newer_than` (or all there are, the first time).

        The first poll of a run with no cursor reads every conversation's messages, then the log's
        cursor; later polls read the log from the cursor on. `chat_cursor` is where the next poll
        starts (keep it with the messages; a message's id is its rev here).
        """
        found: dict[str, IncomingMessage] = {}
        pages = 0
        with bluesky_errors(
            "fetching Bluesky chat messages failed", rate_limit="Bluesky's rate limit for chat was reached (429)"
        ):
            chat = self._chat_client()
            me = self.did
            cursor = self.chat_cursor or newer_than
            if cursor is None:
                pages += self._read_history(chat, me, found)
            for _ in range(MAX_LOG_PAGES):
                page = self._call(lambda c=cursor: chat.chat.bsky.convo.get_log({"cursor": c}))  # type: ignore[misc]
                pages += 1
                for entry in page.logs:
                    for profile in getattr(entry, "related_profiles", None) or []:
                        self._handles[str(profile.did)] = str(profile.handle)
                    message = getattr(entry, "message", None)
                    if getattr(entry, "py_type", "") != "chat.bsky.convo.defs#logCreateMessage":
                        continue
                    if getattr(message, "py_type", "") != "chat.bsky.convo.defs#messageView":
                        continue  # deleted before we read it
                    self._keep(chat, me, str(entry.convo_id), message, found)
                advanced = page.cursor and page.cursor != cursor
                cursor = page.cursor or cursor
                if not page.logs or not advanced:
                    break
            self.chat_cursor = cursor
        return sorted(found.values(), key=lambda m: m.id), pages

    def _read_history(self, chat: _Client, me: str, found: dict[str, IncomingMessage]) -> int:
        """Every conversation's messages: what was sent before the first poll. Returns the pages read."""
        pages = 0
        convo_cursor: str | None = None
        while True:
            convos = self._call(lambda c=convo_cursor: chat.chat.bsky.convo.list_convos({"limit": 100, "cursor": c}))  # type: ignore[misc]
            pages += 1
            for convo in convos.convos:
                for member in convo.members:
                    self._handles[str(member.did)] = str(member.handle)
                message_cursor: str | None = None
                for _ in range(MAX_LOG_PAGES):
                    params = {"convoId": convo.id, "limit": 100, "cursor": message_cursor}
                    messages = self._call(lambda p=params: chat.chat.bsky.convo.get_messages(p))  # type: ignore[misc]
                    pages += 1
                    for message in messages.messages:
                        if getattr(message, "py_type", "") == "chat.bsky.convo.defs#messageView":
                            self._keep(chat, me, str(convo.id), message, found)
                    message_cursor = messages.cursor
                    if not message_cursor:
                        break
            convo_cursor = convos.cursor
            if not convo_cursor:
                return pages

    def _keep(self, chat: _Client, me: str, convo_id: str, message: Any, found: dict[str, IncomingMessage]) -> None:
        sender = str(message.sender.did)
        if sender == me or str(message.id) in found:
            return  # our own messages are not inbox items
        if sender not in self._handles:
            convo = self._call(lambda: chat.chat.bsky.convo.get_convo({"convoId": convo_id}))
            for member in convo.convo.members:
                self._handles[str(member.did)] = str(member.handle)
        sent = datetime.fromisoformat(str(message.sent_at).replace("Z", "+00:00"))
        media = _shared_images(getattr(message, "embed", None))
        found[str(message.id)] = IncomingMessage(
            id=str(message.id),
            text=str(message.text or ""),
            sender_id=sender,
            sender_username=self._handles.get(sender, sender),
            created_at=sent,
            conversation_id=convo_id,
            media_keys=tuple(m.key for m in media),
            media=tuple(media),
        )

    def fetch_dm_media(self, url: str, max_bytes: int) -> bytes:
        """A shared post's image, from Bluesky's CDN or the account's own PDS only, at most `max_bytes` of it."""
        host = (urlsplit(url).hostname or "").lower()
        home = (urlsplit(self.base_url).hostname or "").lower()
        scheme = urlsplit(url).scheme
        if not ((scheme == "https" and host in CDN_HOSTS) or (host == home and scheme in ("http", "https"))):
            raise PublisherError(f"not fetched: {url[:100]} is not where Bluesky serves the images of posts")
        what = "fetching a chat message's image failed"
        guard = {"request": [_route_guard(self.base_url)]}
        with (
            bluesky_errors(what),
            httpx.Client(timeout=self.timeout, event_hooks=guard) as web,
            web.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise PublisherError(f"{what}: Bluesky answered {response.status_code}")
            return read_at_most(
                response.iter_bytes(),
                max_bytes,
                lambda _: f"{what}: the image is over {max_bytes:,} bytes, more than livetweet takes",
            )

    def close(self) -> None:
        self._forget_session()


class _NotPosted(Exception):
    """Raised while preparing a post: its outcome (nothing was sent)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(str(outcome))
        self.outcome = outcome


@contextmanager
def bluesky_errors(what: str, rate_limit: str | None = None) -> Iterator[None]:
    """The one mapping of a look-up's failures to our errors: a 429 to RateLimited (when the caller says how
    to word it), anything else to PublisherError. (A post's failures become outcomes: BlueskyPublisher._outcome.)"""
    try:
        yield
    except _CAUGHT as exc:
        failure = _classify(exc)
        if failure.kind == "rate_limited" and rate_limit is not None:
            raise RateLimited(rate_limit, failure.retry_after) from exc
        raise PublisherError(f"{what}: {failure.detail}") from exc


def _images_embed(media_ids: Sequence[str]) -> dict[str, Any] | Refused | None:
    """The app.bsky.embed.images of the uploads' media ids (our JSON), or why they cannot be posted."""
    if not media_ids:
        return None
    if len(media_ids) > MAX_IMAGES:
        return Refused(f"a post carries {len(media_ids)} images; Bluesky allows {MAX_IMAGES}")
    images = []
    for media_id in media_ids:
        try:
            media = json.loads(media_id)
            image: dict[str, Any] = {"image": dict(media["blob"]), "alt": str(media.get("alt", ""))}
        except (ValueError, KeyError, TypeError):
            return Refused(f"not an image uploaded to Bluesky: {media_id[:60]!r}")
        ratio = media.get("aspectRatio")
        if isinstance(ratio, dict):
            image["aspectRatio"] = ratio
        images.append(image)
    return {"$type": "app.bsky.embed.images", "images": images}


def _aspect_ratio(data: bytes) -> tuple[int, int] | None:
    """The image's width and height, read from its header (Bluesky shows it without cropping when told)."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # an unreadable header only costs the hint
        return None
    return (width, height) if width > 0 and height > 0 else None


def _shared_images(embed: Any) -> list[IncomingMedia]:
    """The images of a post shared in a chat message (Bluesky chat carries no images of its own)."""
    record = getattr(embed, "record", None)
    found = []
    for view in getattr(record, "embeds", None) or []:
        for image in getattr(view, "images", None) or []:
            url = str(getattr(image, "fullsize", "") or "")
            if url:
                found.append(IncomingMedia(key=url.rsplit("=", 1)[-1].rsplit("/", 1)[-1], kind="photo", url=url))
    return found


def _created_before(value: dict[str, Any], when: datetime) -> bool:
    try:
        created = datetime.fromisoformat(str(value.get("createdAt", "")).replace("Z", "+00:00"))
    except ValueError:
        return False
    return created.astimezone(UTC) < when.astimezone(UTC)

"""The simulated Bluesky: a PDS's XRPC routes that the `atproto` Client calls, Bluesky's answers, faults.

A threaded HTTP server on 127.0.0.1 with its own state, spoken to by the real `atproto`
Client over real HTTP. It answers as a PDS does, errors as {"error": ..., "message": ...}:

- sessions: createSession (handle or DID and app password), refreshSession (the refresh
  token rotates; the old one still works for a grace period, as on the PDS), getSession.
  Access tokens are JWTs (HMAC-signed by this server) whose `exp` the client reads to refresh
  ahead of time; past it, a call is answered 400 ExpiredToken. Time is the server's clock,
  so a test moves it and a rehearsal runs it in event time.
- records: createRecord with a client-given record key (a post's must be a TID), checked as
  the PDS checks app.bsky.feed.post (300 graphemes, 3,000 bytes, facets, reply refs, images
  that were uploaded, their size and type). A second create with the same key fails as the
  PDS fails today: 500 InternalServerError (bluesky-social/atproto#3718; an explicit error is
  proposed in #4728). getRecord, deleteRecord, listRecords; uploadBlob (type read from the
  bytes); resolveHandle; getProfile; app.bsky.feed.getPosts with made-up counts
  (`post_metrics`).
- chat, reached through the `atproto-proxy: did:web:api.bsky.chat#bsky_chat` header:
  listConvos, getConvo, getMessages, getLog (a cursor of revs). `add_chat` is a participant
  writing to the account. Bluesky chat carries no images: a participant shares a photo by
  sharing a post, so `add_chat(..., image=...)` posts the photo on the sender's own account
  and the message embeds that post (app.bsky.embed.record), as the app does.
- faults on request (`fault(route, kind, times)`), recorded requests, a timeline page at `/`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import regex

from ..clock import Clock, SystemClock
from .base import (
    HTML_TYPE,
    JSON_TYPE,
    PAGE_POLICY,
    FakeHandler,
    FakeServer,
    Fault,
    NetworkState,
    iso_millis as _iso,
    sniff as _image_kind,
    timeline_page,
)

POST = "app.bsky.feed.post"
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
FAULT_KINDS = (
    "500", "502", "503", "429", "401", "400", "hang", "503-after-store", "drop-after-store", "hang-after-store",
)  # fmt: skip
AFTER_STORE = frozenset({"503-after-store", "drop-after-store", "hang-after-store"})
MAX_JSON_BODY = 150 * 1024  # bytes: the PDS's limit for a JSON body
MAX_BLOB_UPLOAD = 5 * 1024 * 1024  # bytes the PDS takes in one uploadBlob (the post's image limit is smaller)
MAX_IMAGE_BYTES = 2_000_000  # app.bsky.embed.images#image maxSize
MAX_IMAGES = 4
MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3000
MAX_TAG_GRAPHEMES = 64
ACCESS_LIFETIME = timedelta(hours=2)
REFRESH_LIFETIME = timedelta(days=90)
REFRESH_GRACE = timedelta(hours=2)  # a rotated refresh token still works this long (a lost answer is retried)
SESSION_LIMIT = (30, timedelta(minutes=5))  # createSession: 30 per 5 minutes per account
TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_RKEY = regex.compile(r"^[A-Za-z0-9._:~-]{1,512}$")
_TID = regex.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_GRAPHEME = regex.compile(r"\X")
DEFAULT_OTHERS = ("iom.bsky.social", "unhcr.bsky.social", "participant.bsky.social")


def did_for(handle: str) -> str:
    """The DID the simulated Bluesky gives a handle: did:plc: and 24 base32 characters, the same every time."""
    digest = hashlib.sha256(handle.lower().encode()).digest()
    return "did:plc:" + base64.b32encode(digest).decode().lower()[:24]


def cid_of(data: bytes, codec: int = 0x71) -> str:
    """A CIDv1 (sha2-256, base32) of `data`: dag-cbor (0x71) for a record, raw (0x55) for a blob."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def post_metrics(uri: str) -> dict[str, int]:
    """The counts getPosts reports for a post: made up from its URI, the same on every call."""
    digest = hashlib.sha256(uri.encode()).digest()
    return {"likeCount": digest[0] % 90, "repostCount": digest[1] % 30, "replyCount": digest[2] % 12,
            "quoteCount": digest[3] % 5, "bookmarkCount": digest[4] % 8}  # fmt: skip


def sniff(data: bytes) -> str:
    """The MIME type the PDS reads from a blob's bytes (never from what the client says)."""
    return _image_kind(data) or "application/octet-stream"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Record:
    """A record in a repository, as the PDS keeps it."""

    uri: str
    cid: str
    value: dict[str, Any]
    indexed_at: datetime
    rev: str

    @property
    def did(self) -> str:
        return self.uri.split("/")[2]

    @property
    def collection(self) -> str:
        return self.uri.split("/")[3]

    @property
    def rkey(self) -> str:
        return self.uri.split("/")[4]

    @property
    def text(self) -> str:
        return str(self.value.get("text", ""))

    @property
    def facets(self) -> list[dict[str, Any]]:
        return list(self.value.get("facets") or [])

    @property
    def reply(self) -> dict[str, Any] | None:
        reply = self.value.get("reply")
        return reply if isinstance(reply, dict) else None

    @property
    def embed(self) -> dict[str, Any] | None:
        embed = self.value.get("embed")
        return embed if isinstance(embed, dict) else None


@dataclass
class Blob:
    """An uploaded file: its bytes, the type read from them, the records that reference it."""

    cid: str
    mime: str
    data: bytes
    uploaded_by: str
    used_by: list[str] = field(default_factory=list)


@dataclass
class ChatMessage:
    id: str
    rev: str
    convo_id: str
    sender: str  # a DID
    text: str
    sent_at: datetime
    embed: dict[str, Any] | None = None  # app.bsky.embed.record#view of a shared post


@dataclass
class Convo:
    id: str
    members: list[str]  # DIDs
    rev: str
    status: str = "request"  # a stranger's first message lands among the requests


@dataclass
class Answer:
    """What a route answers: a status, a JSON body (or bytes), headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE


def _error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"error": error, "message": message}, headers or {})


def _invalid(message: str) -> Answer:
    return _error(400, "InvalidRequest", message)


class FakeBlueskyState(NetworkState):
    """Everything the simulated Bluesky knows; every method that reads or writes it holds the lock."""

    def __init__(
        self, clock: Clock, handle: str, password: str, others: tuple[str, ...], access_lifetime: timedelta
    ) -> None:
        super().__init__(clock)
        self.url = ""
        self.handle = handle.lstrip("@").lower()
        self.did = did_for(self.handle)
        self.password = password
        self.handles: dict[str, str] = {self.did: self.handle}  # did -> handle
        for other in others:
            name = other.lstrip("@").lower()
            self.handles[did_for(name)] = name
        self.access_lifetime = access_lifetime
        self.secret = secrets.token_bytes(32)  # signs this server's tokens
        self.refresh_tokens: dict[str, datetime | None] = {}  # jti -> when it was rotated (None: current)
        self.issued_access: list[str] = []  # jti of every access token handed out
        self.revoked_access: set[str] = set()  # jti of access tokens made to expire early
        self.records: dict[str, Record] = {}  # uri -> record, in the order made
        self.deleted: list[str] = []
        self.blobs: dict[str, Blob] = {}
        self.convos: dict[str, Convo] = {}
        self.messages: list[ChatMessage] = []
        self.logs: list[dict[str, Any]] = []  # chat.bsky.convo.getLog entries, in rev order
        self.log_page_size = 100
        self.sessions_made: deque[datetime] = deque()
        self._last_tid = 0
        self._convo_ids = itertools.count(1)

    def now(self) -> datetime:
        return self.clock.now()

    def epoch(self, when: datetime | None = None) -> int:
        return int((when or self.now()).timestamp())

    def next_tid(self) -> str:
        """A TID from the server's clock, always after the last one (revs and record keys sort)."""
        micros = int(self.now().timestamp() * 1_000_000)
        self._last_tid = max(micros, self._last_tid + 1)
        value = (self._last_tid << 10) | 1
        return "".join(TID_CHARS[(value >> (5 * i)) & 31] for i in range(12, -1, -1))

    # --- tokens ---------------------------------------------------------------------

    def token(self, scope: str, lifetime: timedelta, typ: str) -> tuple[str, str]:
        jti = secrets.token_hex(12)
        now = self.now()
        header = {"typ": typ, "alg": "HS256"}
        payload = {"scope": scope, "sub": self.did, "aud": "did:web:simulated.bsky", "jti": jti,
                   "iat": self.epoch(now), "exp": self.epoch(now + lifetime)}  # fmt: skip
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
        signature = _b64url(hmac.new(self.secret, signing.encode(), hashlib.sha256).digest())
        return f"{signing}.{signature}", jti

    def new_session(self) -> dict[str, Any]:
        access, access_jti = self.token("com.atproto.appPass", self.access_lifetime, "at+jwt")
        self.issued_access.append(access_jti)
        refresh, jti = self.token("com.atproto.refresh", REFRESH_LIFETIME, "refresh+jwt")
        self.refresh_tokens[jti] = None
        return {"accessJwt": access, "refreshJwt": refresh}

    def verify(self, token: str, scope: str) -> tuple[dict[str, Any] | None, Answer | None]:
        """The token's payload, or the PDS's answer to a bad or expired one."""
        try:
            signing, signature = token.rsplit(".", 1)
            expected = _b64url(hmac.new(self.secret, signing.encode(), hashlib.sha256).digest())
            payload = json.loads(_unb64url(signing.split(".", 1)[1]))
        except (ValueError, IndexError):
            return None, _error(400, "InvalidToken", "Token could not be verified")
        if not hmac.compare_digest(expected, signature) or not isinstance(payload, dict):
            return None, _error(400, "InvalidToken", "Token could not be verified")
        if payload.get("scope") != scope:
            return None, _error(400, "InvalidToken", "Bad token scope")
        if int(payload.get("exp", 0)) <= self.epoch() or payload.get("jti") in self.revoked_access:
            return None, _error(400, "ExpiredToken", "Token has expired")
        return payload, None

    # --- chat -----------------------------------------------------------------------

    def convo_with(self, did: str) -> Convo:
        for convo in self.convos.values():
            if set(convo.members) == {self.did, did}:
                return convo
        rev = self.next_tid()
        convo = Convo(f"convo-{next(self._convo_ids)}", [self.did, did], rev)
        self.convos[convo.id] = convo
        self.logs.append({"$type": "chat.bsky.convo.defs#logBeginConvo", "rev": rev, "convoId": convo.id})
        return convo

    def profile_basic(self, did: str) -> dict[str, Any]:
        return {"did": did, "handle": self.handles.get(did, "handle.invalid"), "displayName": ""}


# The PDS's error names for the front door's refusals (every other one is InvalidRequest).
_REFUSALS = {403: "Forbidden", 413: "PayloadTooLarge"}


class _Handler(FakeHandler):
    server: FakeBlueskyServer
    network = "Bluesky"
    wrong_host_status = 400  # the PDS says InvalidRequest

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        """The PDS's error: a name and a message."""
        return {"error": _REFUSALS.get(status, "InvalidRequest"), "message": message}

    def _answer(self, answer: Answer) -> None:
        """Send what a route answered."""
        self._send(answer.status, answer.body, answer.headers, answer.content_type)

    def _dispatch(self) -> None:
        if not self._from_own_host():
            return
        parts = urlsplit(self.path)
        nsid = parts.path[len("/xrpc/") :] if parts.path.startswith("/xrpc/") else None
        length = self._content_length()
        if length is None:
            return
        limit = MAX_BLOB_UPLOAD if nsid == "com.atproto.repo.uploadBlob" else MAX_JSON_BODY
        if length > limit:
            self._record(nsid or parts.path, "413")
            self._refuse(413, f"request entity too large (at most {limit} bytes)")
            return
        raw = self.rfile.read(length) if length else b""
        query = parse_qs(parts.query)
        if nsid is None:
            self._control(parts.path, query, raw)
            return
        state = self.server.state
        with state.lock:
            fault = state.take_fault(nsid)
        if fault is not None and fault.kind not in AFTER_STORE:
            self._record(nsid, f"fault:{fault.kind}")
            self._fault(fault)
            return
        answer = self._xrpc(nsid, query, raw)
        if fault is not None:  # stored (or not), then the answer is lost
            self._record(nsid, f"fault:{fault.kind}")
            self._fault(fault)
            return
        self._record(nsid, str(answer.status))
        self._answer(answer)

    def _fault(self, fault: Fault) -> None:
        kind = fault.kind
        if kind in ("500", "502", "503", "503-after-store"):
            status = int(kind[:3])
            names = {500: "InternalServerError", 502: "UpstreamFailure", 503: "NotEnoughResources"}
            self._answer(_error(status, names[status], "Internal Server Error" if status == 500 else "Try again later"))
        elif kind == "429":
            reset = int(time.time() + fault.reset_seconds)  # RateLimit-Reset is a wall-clock epoch
            headers = {"RateLimit-Limit": "3000", "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset),
                       "RateLimit-Policy": "3000;w=300"}  # fmt: skip
            self._answer(_error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers))
        elif kind == "401":
            self._answer(_error(401, "AuthenticationRequired", "Invalid identifier or password"))
        elif kind == "400":
            self._answer(_invalid("Input/record must be an object"))
        elif kind in ("hang", "hang-after-store"):
            self._hang()
        elif kind == "drop-after-store":
            self._drop()

    def _xrpc(self, nsid: str, query: dict[str, list[str]], raw: bytes) -> Answer:
        route = _ROUTES.get(nsid)
        if route is None:
            return _error(501, "MethodNotImplemented", "Method Not Implemented")
        method, needs_auth, handler = route
        if nsid.startswith("chat.bsky.") and self.headers.get("atproto-proxy") != CHAT_PROXY:
            return _error(501, "MethodNotImplemented", "Method Not Implemented")  # the PDS serves no chat itself
        if self.command != method:
            return _invalid(f"Incorrect HTTP method ({self.command}) expected {method}")
        body: Any = None
        if method == "POST" and nsid != "com.atproto.repo.uploadBlob" and nsid != "com.atproto.server.refreshSession":
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return _invalid("Request body is not valid JSON")
            if not isinstance(body, dict):
                return _invalid("Input must be an object")
        state = self.server.state
        if needs_auth:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                return _error(401, "AuthenticationRequired", "Authentication Required")
            scope = "com.atproto.refresh" if nsid == "com.atproto.server.refreshSession" else "com.atproto.appPass"
            with state.lock:
                payload, problem = state.verify(auth[len("Bearer ") :].strip(), scope)
            if problem is not None:
                return problem
            assert payload is not None
            if nsid == "com.atproto.server.refreshSession":
                return _refresh_session(state, payload)
        return handler(state, query, raw if body is None else body)

    def _control(self, path: str, query: dict[str, list[str]], raw: bytes) -> None:
        route = f"{self.command} {path.rstrip('/') or '/'}"
        if route.startswith("GET /fake/blob/"):
            self._answer(_blob_page(self.server.state, path.rsplit("/", 1)[-1]))
            return
        handler = _CONTROL.get(route)
        if handler is None:
            self._answer(_error(404, "NotFound", f"no such route: {route}"))
            return
        if not self._control_allowed():
            return
        try:
            body = json.loads(raw or b"{}") if self.command == "POST" else None
        except ValueError:
            self._answer(_invalid("Request body is not valid JSON"))
            return
        self._answer(handler(self.server, body))


# --- sessions and identity ---------------------------------------------------------------


def _did_doc(state: FakeBlueskyState, server_url: str) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": state.did,
        "alsoKnownAs": [f"at://{state.handle}"],
        "verificationMethod": [],
        "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": server_url}],
    }


def _create_session(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    identifier = str(body.get("identifier") or "").lstrip("@").lower()
    password = body.get("password")
    if not identifier or not isinstance(password, str):
        return _invalid("Input must have the properties identifier and password")
    with state.lock:
        now = state.now()
        while state.sessions_made and now - state.sessions_made[0] >= SESSION_LIMIT[1]:
            state.sessions_made.popleft()
        if len(state.sessions_made) >= SESSION_LIMIT[0]:
            reset = state.sessions_made[0] + SESSION_LIMIT[1]
            seconds = state.clock.real_seconds(reset - now)
            headers = {
                "RateLimit-Limit": str(SESSION_LIMIT[0]),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(int(time.time() + seconds) + 1),
                "RateLimit-Policy": "30;w=300",
            }
            return _error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
        if identifier not in (state.handle, state.did) or not hmac.compare_digest(
            password.encode(), state.password.encode()
        ):
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        state.sessions_made.append(now)
        tokens = state.new_session()
    return Answer(200, {**tokens, "handle": state.handle, "did": state.did, "didDoc": _did_doc(state, state.url),
                        "email": f"{state.handle}@example.org", "emailConfirmed": True, "active": True})  # fmt: skip


def _refresh_session(state: FakeBlueskyState, payload: dict[str, Any]) -> Answer:
    jti = str(payload.get("jti"))
    with state.lock:
        if jti not in state.refresh_tokens:
            return _error(400, "ExpiredToken", "Token has been revoked")
        rotated = state.refresh_tokens[jti]
        if rotated is not None and state.now() - rotated > REFRESH_GRACE:
            return _error(400, "ExpiredToken", "Token has been revoked")
        if rotated is None:
            state.refresh_tokens[jti] = state.now()
        tokens = state.new_session()
    return Answer(200, {**tokens, "handle": state.handle, "did": state.did, "didDoc": _did_doc(state, state.url),
                        "active": True})  # fmt: skip


def _get_session(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    return Answer(200, {"handle": state.handle, "did": state.did, "didDoc": _did_doc(state, state.url),
                        "email": f"{state.handle}@example.org", "emailConfirmed": True, "active": True})  # fmt: skip


def _resolve_handle(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    handle = (query.get("handle") or [""])[0].lstrip("@").lower()
    with state.lock:
        did = next((d for d, h in state.handles.items() if h == handle), None)
    if did is None:
        return _invalid("Unable to resolve handle")
    return Answer(200, {"did": did})


def _get_profile(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    actor = (query.get("actor") or [""])[0].lstrip("@").lower()
    with state.lock:
        did = next((d for d, h in state.handles.items() if actor in (d, h)), None)
        posts = sum(1 for r in state.records.values() if r.did == did and r.collection == POST)
        handle = state.handles.get(did or "")
    if did is None:
        return _invalid("Profile not found")
    return Answer(200, {"did": did, "handle": handle, "displayName": handle, "followersCount": 0,
                        "followsCount": 0, "postsCount": posts})  # fmt: skip


# --- records ------------------------------------------------------------------------------


def _repo_did(state: FakeBlueskyState, repo: Any) -> str | None:
    name = str(repo or "").lstrip("@").lower()
    return next((d for d, h in state.handles.items() if name in (d.lower(), h)), None)


def _post_problem(state: FakeBlueskyState, value: dict[str, Any]) -> Answer | None:
    """Why the PDS refuses this app.bsky.feed.post record (None when it is valid)."""

    def bad(why: str) -> Answer:
        return _invalid(f"Invalid app.bsky.feed.post record: {why}")

    text = value.get("text")
    if not isinstance(text, str):
        return bad('Record must have the property "text"')
    if sum(1 for _ in _GRAPHEME.finditer(text)) > MAX_GRAPHEMES:
        return bad(f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        return bad(f"Record/text must not be longer than {MAX_TEXT_BYTES} characters")
    created = value.get("createdAt")
    try:
        datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return bad("Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)")
    facets = value.get("facets", [])
    if not isinstance(facets, list):
        return bad("Record/facets must be an array")
    for i, facet in enumerate(facets):
        index = facet.get("index") if isinstance(facet, dict) else None
        start = index.get("byteStart") if isinstance(index, dict) else None
        end = index.get("byteEnd") if isinstance(index, dict) else None
        if type(start) is not int or type(end) is not int or start < 0 or end < 0:
            return bad(f"Record/facets/{i}/index must have the integer properties byteStart and byteEnd")
        if start > end or end > size:
            return bad(f"Record/facets/{i}/index ({start}-{end}) must lie inside the text's {size} bytes")
        features = facet.get("features")
        if not isinstance(features, list) or not features:
            return bad(f'Record/facets/{i} must have the property "features"')
        for feature in features:
            problem = _feature_problem(feature)
            if problem:
                return bad(f"Record/facets/{i}/features: {problem}")
    reply = value.get("reply")
    if reply is not None:
        for part in ("root", "parent"):
            ref = reply.get(part) if isinstance(reply, dict) else None
            if not isinstance(ref, dict) or not str(ref.get("uri", "")).startswith("at://") or not ref.get("cid"):
                return bad(f'Record/reply/{part} must be an object which includes the "uri" and "cid" properties')
    langs = value.get("langs")
    if langs is not None and (not isinstance(langs, list) or len(langs) > 3):
        return bad("Record/langs must not have more than 3 elements")
    embed = value.get("embed")
    if embed is not None:
        return _embed_problem(state, embed, bad)
    return None


def _feature_problem(feature: Any) -> str | None:
    kind = feature.get("$type") if isinstance(feature, dict) else None
    if kind == "app.bsky.richtext.facet#link":
        return None if isinstance(feature.get("uri"), str) and ":" in feature["uri"] else "a link needs a uri"
    if kind == "app.bsky.richtext.facet#mention":
        return None if str(feature.get("did", "")).startswith("did:") else "a mention needs a did"
    if kind == "app.bsky.richtext.facet#tag":
        tag = feature.get("tag")
        if not isinstance(tag, str) or not tag or sum(1 for _ in _GRAPHEME.finditer(tag)) > MAX_TAG_GRAPHEMES:
            return f"a tag must be 1 to {MAX_TAG_GRAPHEMES} graphemes"
        return None
    return f"unknown feature {str(kind)[:60]!r}"


def _embed_problem(state: FakeBlueskyState, embed: Any, bad: Callable[[str], Answer]) -> Answer | None:
    if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.images":
        if isinstance(embed, dict) and embed.get("$type") == "app.bsky.embed.record":
            return None
        return bad("Record/embed must be app.bsky.embed.images or app.bsky.embed.record")
    images = embed.get("images")
    if not isinstance(images, list) or not images:
        return bad('Record/embed must have the property "images"')
    if len(images) > MAX_IMAGES:
        return bad(f"Record/embed/images must not have more than {MAX_IMAGES} elements")
    for i, image in enumerate(images):
        if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
            return bad(f'Record/embed/images/{i} must have the property "alt"')
        ref = image.get("image")
        link = ref.get("ref", {}).get("$link") if isinstance(ref, dict) and isinstance(ref.get("ref"), dict) else None
        if not isinstance(ref, dict) or ref.get("$type") != "blob" or not isinstance(link, str):
            return bad(f"Record/embed/images/{i}/image should be a blob ref")
        with state.lock:
            blob = state.blobs.get(link)
        if blob is None:
            return _error(400, "BlobNotFound", f"Could not find blob: {link}")
        if not blob.mime.startswith("image/"):
            return _error(400, "InvalidMimeType", f"Wrong type of file. It is {blob.mime} but it must match image/*.")
        if len(blob.data) > MAX_IMAGE_BYTES:
            return _error(400, "BlobTooLarge", f"This file is too large. It is {len(blob.data) / 1e6:.2f}MB but "
                          f"the maximum size is {MAX_IMAGE_BYTES / 1e6:.2f}MB.")  # fmt: skip
    return None


def _create_record(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    collection = str(body.get("collection") or "")
    record = body.get("record")
    with state.lock:
        did = _repo_did(state, body.get("repo"))
    if did != state.did:
        return _error(401, "AuthRequiredError", "Input/repo must be the account of the session")
    if not isinstance(record, dict):
        return _invalid('Input must have the property "record"')
    if record.get("$type", collection) != collection:
        return _invalid(f"Invalid $type: expected {collection}, got {str(record.get('$type'))[:80]}")
    rkey = body.get("rkey")
    if rkey is not None and (not isinstance(rkey, str) or not _RKEY.match(rkey) or rkey in (".", "..")):
        return _invalid("Invalid record key")
    if collection == POST:
        if rkey is not None and not _TID.match(rkey):
            return _invalid(f"Invalid app.bsky.feed.post record key: {rkey[:40]!r} is not a TID")
        problem = _post_problem(state, record)
        if problem is not None:
            return problem
    value = {**record, "$type": collection}
    with state.lock:
        key = rkey or state.next_tid()
        uri = f"at://{state.did}/{collection}/{key}"
        if uri in state.records:
            # What the PDS does today when the key is taken (bluesky-social/atproto#3718).
            return _error(500, "InternalServerError", "Internal Server Error")
        encoded = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        rev = state.next_tid()
        stored = Record(uri, cid_of(encoded), value, state.now(), rev)
        state.records[uri] = stored
        for link in _blob_links(value):
            if link in state.blobs:
                state.blobs[link].used_by.append(uri)
    commit = {"cid": cid_of(rev.encode()), "rev": rev}
    return Answer(200, {"uri": uri, "cid": stored.cid, "commit": commit, "validationStatus": "valid"})


def _blob_links(value: dict[str, Any]) -> list[str]:
    embed = value.get("embed") if isinstance(value.get("embed"), dict) else {}
    images = embed.get("images") if isinstance(embed, dict) else None
    return [str(i["image"]["ref"]["$link"]) for i in images or [] if isinstance(i, dict)]


def _record_params(state: FakeBlueskyState, query: dict[str, list[str]]) -> str | Answer:
    repo, collection, rkey = ((query.get(k) or [""])[0] for k in ("repo", "collection", "rkey"))
    if not repo or not collection or not rkey:
        return _invalid("Params must have the properties repo, collection and rkey")
    with state.lock:
        did = _repo_did(state, repo)
    if did is None:
        return _invalid(f"Could not find repo: {repo[:100]}")
    return f"at://{did}/{collection}/{rkey}"


def _get_record(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    uri = _record_params(state, query)
    if isinstance(uri, Answer):
        return uri
    with state.lock:
        found = state.records.get(uri)
    if found is None:
        return _error(400, "RecordNotFound", f"Could not locate record: {uri}")
    return Answer(200, {"uri": found.uri, "cid": found.cid, "value": found.value})


def _delete_record(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    with state.lock:
        did = _repo_did(state, body.get("repo"))
        if did != state.did:
            return _error(401, "AuthRequiredError", "Input/repo must be the account of the session")
        uri = f"at://{did}/{body.get('collection')}/{body.get('rkey')}"
        if state.records.pop(uri, None) is not None:
            state.deleted.append(uri)
        rev = state.next_tid()
    return Answer(200, {"commit": {"cid": cid_of(rev.encode()), "rev": rev}})


def _list_records(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    repo, collection = ((query.get(k) or [""])[0] for k in ("repo", "collection"))
    try:
        limit = int((query.get("limit") or ["50"])[0])
    except ValueError:
        return _invalid("limit must be an integer")
    if not 1 <= limit <= 100:
        return _invalid("limit must be between 1 and 100")
    cursor = _param(query, "cursor")
    oldest_first = (query.get("reverse") or ["false"])[0] == "true"
    with state.lock:
        did = _repo_did(state, repo)
        if did is None:
            return _invalid(f"Could not find repo: {repo[:100]}")
        found = sorted((r for r in state.records.values() if r.did == did and r.collection == collection),
                       key=lambda r: r.rkey, reverse=not oldest_first)  # fmt: skip
    if cursor is not None:
        found = [r for r in found if (r.rkey > cursor if oldest_first else r.rkey < cursor)]
    page = found[:limit]
    answer: dict[str, Any] = {"records": [{"uri": r.uri, "cid": r.cid, "value": r.value} for r in page]}
    if len(found) > limit:
        answer["cursor"] = page[-1].rkey
    return Answer(200, answer)


def _upload_blob(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    data = bytes(body or b"")
    if not data:
        return _invalid("Request encoding (Content-Type) required but not provided")
    cid = cid_of(data, 0x55)
    mime = sniff(data)
    with state.lock:
        state.blobs.setdefault(cid, Blob(cid, mime, data, state.did))
    return Answer(200, {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}})


def _get_blob(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    did, cid = ((query.get(k) or [""])[0] for k in ("did", "cid"))
    with state.lock:
        blob = state.blobs.get(cid)
    if blob is None or blob.uploaded_by != did:
        return _error(400, "BlobNotFound", "Blob not found")
    return Answer(200, blob.data, {"X-Content-Type-Options": "nosniff"}, blob.mime)


def _get_posts(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    uris = query.get("uris") or []
    if len(uris) > 25:
        return _invalid("uris must not have more than 25 elements")
    with state.lock:
        found = [state.records[u] for u in uris if u in state.records]
        views = [
            {"$type": "app.bsky.feed.defs#postView", "uri": r.uri, "cid": r.cid,
             "author": state.profile_basic(r.did), "record": r.value, "indexedAt": _iso(r.indexed_at),
             **post_metrics(r.uri)}
            for r in found
        ]  # fmt: skip
    return Answer(200, {"posts": views})


# --- chat -----------------------------------------------------------------------------------


def _message_view(state: FakeBlueskyState, m: ChatMessage) -> dict[str, Any]:
    view: dict[str, Any] = {"$type": "chat.bsky.convo.defs#messageView", "id": m.id, "rev": m.rev,
                            "text": m.text, "sender": {"did": m.sender}, "sentAt": _iso(m.sent_at)}  # fmt: skip
    if m.embed is not None:
        view["embed"] = m.embed
    return view


def _convo_view(state: FakeBlueskyState, c: Convo) -> dict[str, Any]:
    last = next((m for m in reversed(state.messages) if m.convo_id == c.id), None)
    view: dict[str, Any] = {"id": c.id, "rev": c.rev, "members": [state.profile_basic(d) for d in c.members],
                            "muted": False, "unreadCount": sum(1 for m in state.messages if m.convo_id == c.id),
                            "status": c.status}  # fmt: skip
    if last is not None:
        view["lastMessage"] = _message_view(state, last)
    return view


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _limit(query: dict[str, list[str]], default: int = 50) -> int | Answer:
    try:
        limit = int((query.get("limit") or [str(default)])[0])
    except ValueError:
        return _invalid("limit must be an integer")
    return limit if 1 <= limit <= 100 else _invalid("limit must be between 1 and 100")


def _chat_page(name: str, views: list[dict[str, Any]], more: bool) -> Answer:
    """A page of the chat, newest first; where there is more, its cursor is the last view's rev."""
    answer: dict[str, Any] = {name: views}
    if more:
        answer["cursor"] = views[-1]["rev"]
    return Answer(200, answer)


def _list_convos(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    limit = _limit(query, 50)
    if isinstance(limit, Answer):
        return limit
    cursor = _param(query, "cursor")
    with state.lock:
        convos = sorted(state.convos.values(), key=lambda c: c.rev, reverse=True)
        if cursor is not None:
            convos = [c for c in convos if c.rev < cursor]
        page = [_convo_view(state, c) for c in convos[:limit]]
    return _chat_page("convos", page, len(convos) > limit)


def _get_convo(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    with state.lock:
        convo = state.convos.get((query.get("convoId") or [""])[0])
        view = _convo_view(state, convo) if convo is not None else None
    if view is None:
        return _invalid("Convo not found")
    return Answer(200, {"convo": view})


def _get_messages(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    limit = _limit(query, 50)
    if isinstance(limit, Answer):
        return limit
    convo_id = (query.get("convoId") or [""])[0]
    cursor = _param(query, "cursor")
    with state.lock:
        if convo_id not in state.convos:
            return _invalid("Convo not found")
        found = [m for m in reversed(state.messages) if m.convo_id == convo_id and (cursor is None or m.rev < cursor)]
        page = [_message_view(state, m) for m in found[:limit]]
    return _chat_page("messages", page, len(found) > limit)


def _get_log(state: FakeBlueskyState, query: dict[str, list[str]], body: Any) -> Answer:
    """The account's chat events after `cursor` (a rev), oldest first, a page at a time."""
    cursor = (query.get("cursor") or [""])[0]
    with state.lock:
        newer = [entry for entry in state.logs if entry["rev"] > cursor]
        page = newer[: state.log_page_size]
    return Answer(200, {"logs": page, "cursor": page[-1]["rev"] if page else cursor or None})


_Route = tuple[str, bool, Callable[[FakeBlueskyState, dict[str, list[str]], Any], Answer]]
_ROUTES: dict[str, _Route] = {
    "com.atproto.server.createSession": ("POST", False, _create_session),
    "com.atproto.server.refreshSession": ("POST", True, _get_session),  # _xrpc answers it once the token is checked
    "com.atproto.server.getSession": ("GET", True, _get_session),
    "com.atproto.identity.resolveHandle": ("GET", False, _resolve_handle),
    "app.bsky.actor.getProfile": ("GET", True, _get_profile),
    "com.atproto.repo.createRecord": ("POST", True, _create_record),
    "com.atproto.repo.getRecord": ("GET", False, _get_record),
    "com.atproto.repo.deleteRecord": ("POST", True, _delete_record),
    "com.atproto.repo.listRecords": ("GET", False, _list_records),
    "com.atproto.repo.uploadBlob": ("POST", True, _upload_blob),
    "com.atproto.sync.getBlob": ("GET", False, _get_blob),
    "app.bsky.feed.getPosts": ("GET", True, _get_posts),
    "chat.bsky.convo.listConvos": ("GET", True, _list_convos),
    "chat.bsky.convo.getConvo": ("GET", True, _get_convo),
    "chat.bsky.convo.getMessages": ("GET", True, _get_messages),
    "chat.bsky.convo.getLog": ("GET", True, _get_log),
}


# --- control routes and the timeline page (not Bluesky's) ---------------------------------------


def _fake_chat(server: FakeBlueskyServer, body: Any) -> Answer:
    if not isinstance(body, dict) or not body.get("from") or not isinstance(body.get("text"), str):
        return _invalid('send JSON like {"from": "handle.bsky.social", "text": "...", "image": "<base64>"}')
    image = None
    if body.get("image"):
        try:
            image = base64.b64decode(str(body["image"]), validate=True)
        except ValueError:
            return _invalid("image is a base64-encoded image file")
    message = server.add_chat(str(body["from"]), body["text"], image)
    return Answer(201, {"id": message.id, "convoId": message.convo_id})


def _fake_faults(server: FakeBlueskyServer, body: Any) -> Answer:
    if not isinstance(body, dict) or body.get("kind") not in FAULT_KINDS or not body.get("route"):
        return _invalid(f'send JSON like {{"route": "com.atproto.repo.createRecord", "kind": one of '
                        f'{list(FAULT_KINDS)}, "times": 1}}')  # fmt: skip
    server.fault(str(body["route"]), str(body["kind"]), int(body.get("times") or 1))
    return Answer(201, {"ok": True})


def _fake_state(server: FakeBlueskyServer, body: Any) -> Answer:
    state = server.state
    with state.lock:
        answer = {
            "account": {"handle": state.handle, "did": state.did},
            "posts": [{"uri": r.uri, "rkey": r.rkey, "text": r.text, "facets": r.facets, "reply": r.reply,
                       "embed": r.embed} for r in state.records.values() if r.did == state.did],
            "deleted": list(state.deleted),
            "blobs": [{"cid": b.cid, "mimeType": b.mime, "size": len(b.data), "usedBy": list(b.used_by)}
                      for b in state.blobs.values()],
            "chat": len(state.messages),
            "requests": [list(r) for r in state.requests],
        }  # fmt: skip
    return Answer(200, answer)


def _blob_page(state: FakeBlueskyState, cid: str) -> Answer:
    """An image some post of the account carries, for the timeline page."""
    with state.lock:
        blob = state.blobs.get(cid)
    if blob is None or not blob.used_by or not blob.mime.startswith("image/"):
        return _error(404, "NotFound", "no such image on the timeline")
    return Answer(200, blob.data, {"X-Content-Type-Options": "nosniff"}, blob.mime)


def _timeline(server: FakeBlueskyServer, body: Any) -> Answer:
    state = server.state
    with state.lock:
        posts = [r for r in reversed(state.records.values()) if r.did == state.did and r.collection == POST]
        handle = state.handle
    rows = []
    for r in posts:
        images = "".join(
            f"<figure><img src='/fake/blob/{html.escape(link, quote=True)}' alt='{html.escape(alt, quote=True)}'>"
            f"<figcaption><b>ALT</b> {html.escape(alt) or '<em>no alt text</em>'}</figcaption></figure>"
            for link, alt in _images(r)
        )
        reply = f" <small>reply to {html.escape(r.reply['parent']['uri'])}</small>" if r.reply else ""
        rows.append(f"<li><time>{r.indexed_at:%Y-%m-%d %H:%M:%S} UTC</time>{reply}"
                    f"<p>{html.escape(r.text).replace(chr(10), '<br>')}</p>{images}</li>")  # fmt: skip
    style = "img{max-width:100%;max-height:20rem}figcaption{font-size:.875rem;color:#444}"
    page = timeline_page(f"Simulated Bluesky: @{html.escape(handle)}", len(posts), "".join(rows), style)
    return Answer(200, page, {"Content-Security-Policy": PAGE_POLICY}, HTML_TYPE)


def _images(r: Record) -> list[tuple[str, str]]:
    embed = r.embed or {}
    return [
        (str(i["image"]["ref"]["$link"]), str(i.get("alt", "")))
        for i in embed.get("images") or []
        if isinstance(i, dict) and isinstance(i.get("image"), dict)
    ]


_CONTROL = {
    "POST /fake/chat": _fake_chat,
    "POST /fake/faults": _fake_faults,
    "GET /fake/state": _fake_state,
    "GET /": _timeline,
}


class FakeBlueskyServer(FakeServer[FakeBlueskyState]):
    """The simulated Bluesky (a PDS and the chat service behind it); `start()` serves it from a thread."""

    thread_name = "fake-bluesky"

    def __init__(
        self,
        clock: Clock | None = None,
        handle: str = "unmignetwork.bsky.social",
        password: str = "abcd-efgh-ijkl-mnop",
        other_accounts: tuple[str, ...] = DEFAULT_OTHERS,
        host: str = "127.0.0.1",
        port: int = 0,
        access_lifetime: timedelta = ACCESS_LIFETIME,
        hang_seconds: float = 30.0,
    ) -> None:
        super().__init__(host, port, _Handler, hang_seconds)
        self.state = FakeBlueskyState(clock or SystemClock(), handle, password, other_accounts, access_lifetime)
        self.state.url = self.url  # the DID document names it as the account's PDS

    @property
    def did(self) -> str:
        return self.state.did

    def fault(self, route: str, kind: str, times: int = 1, reset_seconds: float = 30.0) -> None:
        """Answer the next `times` calls of XRPC method `route` (an NSID) with `kind`.

        The "-after-store" kinds let the call do its work (a post is stored), then lose the answer.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(FAULT_KINDS)}")
        if route not in _ROUTES:
            raise ValueError(f"unknown route {route!r}: one of {', '.join(_ROUTES)}")
        with self.state.lock:
            self.state.add_fault(route, Fault(kind, times, reset_seconds))

    def expire_sessions(self) -> None:
        """Make every access token handed out so far expire now (as when the client's clock runs slow)."""
        with self.state.lock:
            self.state.revoked_access.update(self.state.issued_access)

    def posts(self) -> list[Record]:
        """The account's posts, in the order they were made."""
        with self.state.lock:
            return [r for r in self.state.records.values() if r.did == self.state.did and r.collection == POST]

    def blobs(self) -> list[Blob]:
        with self.state.lock:
            return list(self.state.blobs.values())

    def requests(self, route: str | None = None) -> list[tuple[str, str]]:
        with self.state.lock:
            return [r for r in self.state.requests if route is None or r[0] == route]

    def add_chat(self, sender_handle: str, text: str, image: bytes | None = None) -> ChatMessage:
        """A participant writes to the account; with `image`, they share a post of theirs that carries it."""
        state = self.state
        with state.lock:
            handle = sender_handle.lstrip("@").lower()
            sender = next((d for d, h in state.handles.items() if h == handle), None) or did_for(handle)
            state.handles.setdefault(sender, handle)
            convo = state.convo_with(sender)
            embed = self._shared_post(sender, text, image) if image is not None else None
            rev = state.next_tid()
            message = ChatMessage(rev, rev, convo.id, sender, text, state.now(), embed)
            state.messages.append(message)
            convo.rev = rev
            state.logs.append({"$type": "chat.bsky.convo.defs#logCreateMessage", "rev": rev, "convoId": convo.id,
                               "message": _message_view(state, message),
                               "relatedProfiles": [state.profile_basic(d) for d in convo.members]})  # fmt: skip
        return message

    def _shared_post(self, sender: str, text: str, image: bytes) -> dict[str, Any]:
        """A post of the sender's carrying the image (under the lock), as a chat message embeds it."""
        state = self.state
        cid = cid_of(image, 0x55)
        mime = sniff(image)
        state.blobs.setdefault(cid, Blob(cid, mime, image, sender))
        rkey = state.next_tid()
        uri = f"at://{sender}/{POST}/{rkey}"
        image_ref = {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(image)}
        value = {"$type": POST, "text": "", "createdAt": _iso(state.now()),
                 "embed": {"$type": "app.bsky.embed.images", "images": [{"image": image_ref, "alt": ""}]}}  # fmt: skip
        record = Record(uri, cid_of(json.dumps(value, sort_keys=True).encode()), value, state.now(), rkey)
        state.records[uri] = record
        state.blobs[cid].used_by.append(uri)
        fullsize = f"{self.url}/xrpc/com.atproto.sync.getBlob?did={sender}&cid={cid}"
        return {
            "$type": "app.bsky.embed.record#view",
            "record": {
                "$type": "app.bsky.embed.record#viewRecord", "uri": uri, "cid": record.cid,
                "author": state.profile_basic(sender), "value": value, "indexedAt": _iso(record.indexed_at),
                "embeds": [{"$type": "app.bsky.embed.images#view", "images": [
                    {"thumb": fullsize, "fullsize": fullsize, "alt": ""}]}],
            },
        }  # fmt: skip

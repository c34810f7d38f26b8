"""The publisher contract, and the four outcomes a post attempt can have.

Nothing above a publisher ever sees a tweepy or requests exception: each publisher
maps what happened to one of these outcomes, in one place. An image upload has outcomes
too (uploaded, retry later, refused), never "unknown": an upload is not a post, so doing
it again is always safe.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..errors import PublisherError as PublisherError, RateLimited as RateLimited
from ..inbox import IncomingMessage


@dataclass(frozen=True)
class Posted:
    """The post is on the account."""

    tweet_id: str


@dataclass(frozen=True)
class RetryLater:
    """Not posted (X said so: 5xx, 429, or we never reached it); try again after `retry_after`.

    `retry_after` is in seconds of the machine's clock (X's reset is a wall-clock instant);
    the runner maps it onto the event's clock, which a rehearsal runs faster.
    """

    reason: str
    retry_after: float | None = None
    stale_media: bool = False  # X no longer knows the images uploaded for it: upload them again


@dataclass(frozen=True)
class OutcomeUnknown:
    """We cannot tell whether the post was made (timeout, dropped connection, duplicate-content 403)."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """X refused the post for good; `halt` when no post can succeed (credentials revoked)."""

    reason: str
    halt: bool = False


Outcome = Posted | RetryLater | OutcomeUnknown | Refused


@dataclass(frozen=True)
class Uploaded:
    """An image is on X, with its alt text, ready to be attached to a post.

    X forgets an upload that no post used within `expires_after` seconds (of real time).
    """

    media_id: str
    expires_after: float | None = None


UploadOutcome = Uploaded | RetryLater | Refused


def exception_line(exc: BaseException) -> str:
    """An exception's name and words on one line of at most 200 characters: what an operator is shown."""
    return re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}")[:200]


def read_at_most(chunks: Iterable[bytes], max_bytes: int, too_big: Callable[[int], str]) -> bytes:
    """A download's bytes, refused (PublisherError, in `too_big`'s words for the bytes read) once past
    `max_bytes`, before the rest is read: a network's file can be larger than it said."""
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > max_bytes:
            raise PublisherError(too_big(len(data)))
    return bytes(data)


class Publisher(ABC):
    """Posts to one account."""

    name: str = "publisher"
    noun: str = "post"  # what the network calls a post, for the operator's screen

    @abstractmethod
    def post(
        self,
        text: str,
        in_reply_to: str | None = None,
        media_ids: Sequence[str] = (),
        key: str | None = None,
        lang: str | None = None,
    ) -> Outcome:
        """Try once to post `text` (as a reply to `in_reply_to`, with uploaded images); never raises for X's answers.

        `key` is the delivery's idempotency key, chosen when it was claimed and the same on every
        retry: a network that honours one (Bluesky's record key, Mastodon's Idempotency-Key)
        makes one post however often it is sent. X has none (its duplicate-content check stands in).
        `lang` is the post's language (a code: en, fr), which Bluesky and Mastodon record on it so that
        their readers' language filters and translations work; X has no such field and ignores it.
        """

    def upload(self, data: bytes, kind: str, alt: str) -> UploadOutcome:
        """Upload one image (`kind`: its MIME type) with its alt text, for a post to attach.

        Never raises for X's answers.
        """
        return Refused(f"{self.name} cannot post images")

    @abstractmethod
    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        """The id of a post of ours with this text (or made with this idempotency key) since `since`, or None.

        Raises PublisherError when the look-up itself failed (then nothing is known).
        """

    def fetch_direct_messages(self, newer_than: str | None) -> tuple[list[IncomingMessage], int]:
        """Messages sent to the account newer than event id `newer_than`, and the pages read.

        Raises RateLimited on a 429, PublisherError when the fetch failed.
        """
        return [], 0

    def fetch_dm_media(self, url: str, max_bytes: int) -> bytes:
        """The bytes of an image attached to a direct message, at most `max_bytes` of them.

        Raises PublisherError when it cannot be fetched (or is larger than that).
        """
        raise PublisherError(f"{self.name} cannot fetch the images of direct messages")

    def check(self) -> str:
        """Verify the publisher can be used; return a line describing it (account, address)."""
        return self.name

    def use_credentials(self, credentials: dict[str, str]) -> None:  # noqa: B027 - optional hook
        """Post with these credentials from now on (after X refused the old ones)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

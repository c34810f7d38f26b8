"""A publisher that posts nothing and says what it would have posted."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime

from .base import Outcome, Posted, Publisher, Uploaded, UploadOutcome


class DryRunPublisher(Publisher):
    """Prints each post instead of sending it; every post "succeeds" with a made-up id."""

    name = "dry run (nothing leaves this machine)"
    noun = "tweet"

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        self.echo = echo
        self._ids = itertools.count(1)
        self._media_ids = itertools.count(1)
        self.posted: list[tuple[str, str | None]] = []
        self.uploaded: dict[str, tuple[str, int, str]] = {}  # made-up media id -> (kind, bytes, alt text)

    def upload(self, data: bytes, kind: str, alt: str) -> UploadOutcome:
        media_id = f"dry-run-media-{next(self._media_ids)}"
        self.uploaded[media_id] = (kind, len(data), alt)
        return Uploaded(media_id)

    def post(
        self,
        text: str,
        in_reply_to: str | None = None,
        media_ids: Sequence[str] = (),
        key: str | None = None,
        lang: str | None = None,
    ) -> Outcome:
        self.posted.append((text, in_reply_to))
        lines = [text]
        if in_reply_to is not None:
            lines.append(f"(as a reply to {in_reply_to})")
        for media_id in media_ids:
            kind, size, alt = self.uploaded.get(media_id, ("image", 0, ""))
            lines.append(f"(with an image, {kind}, {size:,} bytes; alt text: {alt or 'none'})")
        self.echo("\n".join(lines))
        return Posted(f"dry-run-{next(self._ids)}")

    def find_post(self, text: str, since: datetime, key: str | None = None) -> str | None:
        return None

"""What an event costs on X's pay-per-use API, as pure functions over posts and a price table.

X bills each post (more for one with a link), each image's alt text, and each resource read
(a direct message, a post). `Cost` keeps the counts beside the prices, so that whoever reads
a figure can redo the sum; the same function prices the plan (`estimate_cost`, for `check`
and a budget) and what was spent (the report).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from typing import TYPE_CHECKING

from ..config import Prices
from .tweettext import extract_urls

if TYPE_CHECKING:
    from .compose import Post
    from .schedule import Schedule


@dataclass(frozen=True)
class CostLine:
    """One kind of call: how many, at what unit price, for how much."""

    what: str
    count: int
    unit_usd: float

    @property
    def usd(self) -> float:
        return self.count * self.unit_usd


@dataclass(frozen=True)
class Cost:
    """Calls to X counted by kind, priced at `prices` (dated): the total and every line of it."""

    prices: Prices
    posts: int = 0  # posts without a link
    posts_with_url: int = 0
    images: int = 0  # alt texts sent (X's Media Metadata)
    dm_reads: int = 0
    post_reads: int = 0
    owned_reads: int = 0

    @property
    def lines(self) -> list[CostLine]:
        p = self.prices
        return [
            CostLine("posts", self.posts, p.post),
            CostLine("posts with a link", self.posts_with_url, p.post_with_url),
            CostLine("image alt texts", self.images, p.media_metadata),
            CostLine("direct messages read", self.dm_reads, p.dm_read),
            CostLine("posts read", self.post_reads, p.post_read),
            CostLine("own posts read", self.owned_reads, p.owned_read),
        ]

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.prices,
            self.posts + other.posts,
            self.posts_with_url + other.posts_with_url,
            self.images + other.images,
            self.dm_reads + other.dm_reads,
            self.post_reads + other.post_reads,
            self.owned_reads + other.owned_reads,
        )

    def describe(self) -> str:
        """The cost in a sentence: the total, then each line that counts."""
        parts = [f"{line.count} {line.what} at ${line.unit_usd:.3f}" for line in self.lines if line.count]
        return f"${self.total:.2f} at X's prices of {self.prices.as_of}" + (f" ({', '.join(parts)})" if parts else "")

    def as_json(self) -> dict[str, object]:
        return {
            "usd": round(self.total, 4),
            "prices_as_of": self.prices.as_of,
            "lines": [
                {"what": line.what, "count": line.count, "unit_usd": line.unit_usd, "usd": round(line.usd, 4)}
                for line in self.lines
            ],
        }


def has_link(text: str) -> bool:
    """Whether X bills this post as one "with URL" (any link it would shorten)."""
    return bool(extract_urls(text))


def cost_of_posts(texts: Iterable[str], images: int = 0, prices: Prices | None = None, **reads: int) -> Cost:
    """The cost of posting these texts with `images` alt texts in all, plus any reads
    (`dm_reads`, `post_reads`, `owned_reads`)."""
    plain = linked = 0
    for text in texts:
        if has_link(text):
            linked += 1
        else:
            plain += 1
    return Cost(_prices(prices), plain, linked, images, **reads)


def estimate_cost(schedule: Schedule, posts: Sequence[Post] | None = None, prices: Prices | None = None) -> Cost:
    """What posting the whole plan costs: every slot's post and the alt text of each of its images.

    `posts` are the schedule's composed posts (`check` has them); without them every slot is
    composed here, and a slot that does not compose is left out (`check` reports it). Direct
    messages cannot be known in advance and are not counted.
    """
    chosen = list(posts) if posts is not None else _compose_all(schedule)
    return cost_of_posts((p.text for p in chosen), sum(len(p.slot.media) for p in chosen), prices)


def daily_costs(
    schedule: Schedule, posts: Sequence[Post] | None = None, prices: Prices | None = None
) -> dict[date, Cost]:
    """The plan's cost per UTC day (X's billing day), for a budget given per day."""
    chosen = list(posts) if posts is not None else _compose_all(schedule)
    days: dict[date, list[Post]] = {}
    for post in chosen:
        days.setdefault(post.slot.at.astimezone(UTC).date(), []).append(post)
    return {
        day: cost_of_posts((p.text for p in group), sum(len(p.slot.media) for p in group), prices)
        for day, group in sorted(days.items())
    }


def _compose_all(schedule: Schedule) -> list[Post]:
    from .compose import Composer, Post

    composer = Composer(schedule)
    return [
        p for p in (composer.compose(slot) for slot in schedule.slots if not slot.provisional) if isinstance(p, Post)
    ]


def _prices(prices: Prices | None) -> Prices:
    if prices is not None:
        return prices
    from ..config import PRICES

    return PRICES

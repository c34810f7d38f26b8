"""Reading back the public metrics of the account's posts (GET /2/tweets, tweet.fields=public_metrics).

A reader, not a publisher: it borrows XPublisher's client (the same credentials, timeout and
routing to a simulated X) and its one mapping of tweepy's exceptions (`x_errors`), and posts
nothing. X bills every post it returns (a read), so the caller states the cost first.
"""

from __future__ import annotations

from collections.abc import Sequence

from .x import DEFAULT_TIMEOUT, XPublisher, x_errors

BATCH = 100  # X returns at most 100 posts a call
FIELDS = ("impression_count", "like_count", "retweet_count", "reply_count", "quote_count", "bookmark_count")


class XMetricsReader:
    """Reads X's public metrics of posts by their ids, a hundred a call."""

    def __init__(self, credentials: dict[str, str], base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.publisher = XPublisher(credentials, base_url, timeout=timeout)
        self.name = self.publisher.name

    def read(self, tweet_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Each post's public metrics by its id (X's names: like_count...); a post X no longer has is left out.

        Raises PublisherError (naming what failed) when X cannot be read.
        """
        found: dict[str, dict[str, int]] = {}
        ids = list(dict.fromkeys(tweet_ids))
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            with x_errors(f"cannot read the posts' metrics from {self.name}"):
                answer = self.publisher.client.get_tweets(ids=batch, tweet_fields=["public_metrics"], user_auth=True)
            for tweet in answer.data or []:
                metrics = getattr(tweet, "public_metrics", None) or {}
                found[str(tweet.id)] = {name: int(metrics.get(name) or 0) for name in FIELDS}
        return found

    def close(self) -> None:
        self.publisher.close()

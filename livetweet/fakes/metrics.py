"""The simulated X's post look-up with public metrics (GET /2/tweets?ids=...&tweet.fields=public_metrics).

Kept apart from x.py and added to its routes when this module is imported (`install()` does it
again, harmlessly). Each post's metrics are made up from its id, the same on every call, so a
test can say what the report must show: `public_metrics(tweet_id)`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from . import x

ROUTE = "GET /2/tweets"
MAX_IDS = 100  # X's limit for one look-up


def public_metrics(tweet_id: str) -> dict[str, int]:
    """The metrics the simulated X reports for a post: made up, and the same every time."""
    digest = hashlib.sha256(tweet_id.encode()).digest()
    impressions = 200 + int.from_bytes(digest[:2], "big") % 4800
    return {
        "retweet_count": digest[2] % 40,
        "reply_count": digest[3] % 15,
        "like_count": digest[4] % 120,
        "quote_count": digest[5] % 6,
        "bookmark_count": digest[6] % 10,
        "impression_count": impressions,
    }


def _lookup(h: Any, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    ids = [i for i in ",".join(query.get("ids") or []).split(",") if i]
    if not ids or len(ids) > MAX_IDS or not all(i.isdigit() for i in ids):
        h._record(ROUTE, "400")
        h._problem(400, "One or more parameters to your request was invalid.", headers,
                   errors=[{"message": f"ids must be 1 to {MAX_IDS} post ids, comma-separated"}])  # fmt: skip
        return
    fields = ",".join(query.get("tweet.fields") or []).split(",")
    state = h.server.state
    with state.lock:
        found = {t.id: t for t in state.tweets if t.id not in state.deleted}
        data = []
        for tweet_id in ids:
            tweet = found.get(tweet_id)
            if tweet is None:
                continue
            item = x._tweet_json(tweet, state)
            if "public_metrics" in fields:
                item["public_metrics"] = public_metrics(tweet_id)
            data.append(item)
    body: dict[str, Any] = {}
    if data:
        body["data"] = data
    missing = [i for i in ids if i not in found]
    if missing:
        body["errors"] = [
            {"value": i, "detail": f"Could not find tweet with ids: [{i}].", "title": "Not Found Error",
             "resource_type": "tweet", "parameter": "ids", "resource_id": i,
             "type": "https://api.twitter.com/2/problems/resource-not-found"}
            for i in missing
        ]  # fmt: skip
    h._record(ROUTE, "200")
    h._send(200, body, headers)


def install() -> None:
    """Add the look-up to the simulated X's routes (once)."""
    x._API_ROUTES.setdefault(ROUTE, _lookup)


install()

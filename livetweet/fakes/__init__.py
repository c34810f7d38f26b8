"""Simulated networks on 127.0.0.1, for tests and rehearsals: threaded HTTP servers with their
own state, spoken to by the real client libraries (`FakeXServer(...).start()`)."""

from . import metrics as metrics  # adds X's public-metrics read to the simulated X's routes
from .bluesky import FakeBlueskyServer as FakeBlueskyServer
from .mastodon import FakeMastodonServer as FakeMastodonServer
from .x import FAULT_KINDS, FakeXServer, add_dm

__all__ = ["FAULT_KINDS", "FakeXServer", "add_dm"]

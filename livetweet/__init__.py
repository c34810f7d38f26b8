"""livetweet: run an organisation's X account during a live event."""

__version__ = "0.1.0"

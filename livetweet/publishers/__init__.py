"""Where posts go: X through tweepy, or nowhere (dry run). `base.py` is the contract."""

from .base import OutcomeUnknown, Posted, Publisher, PublisherError, Refused, RetryLater, Uploaded, UploadOutcome

__all__ = [
    "OutcomeUnknown",
    "Posted",
    "Publisher",
    "PublisherError",
    "Refused",
    "RetryLater",
    "UploadOutcome",
    "Uploaded",
]

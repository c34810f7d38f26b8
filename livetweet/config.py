"""Settings: environment variables (and `.env`), plus the dated price table.

Secrets are read here and nowhere else; `Settings.__repr__` never shows them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv


@dataclass(frozen=True)
class Prices:
    """X API pay-per-use prices in US dollars, as published on `as_of` (they change)."""

    as_of: str
    post: float
    post_with_url: float
    dm_read: float


PRICES = Prices(as_of="2026-08", post=0.015, post_with_url=0.20, dm_read=0.010)


@dataclass(frozen=True)
class Settings:
    """What livetweet reads from its environment."""

    database_url: str = "sqlite:///livetweet.db"
    operator: str | None = None
    x_api_url: str | None = None
    x_credentials: dict[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.x_credentials)) or "none"
        return f"Settings(database_url={self.database_url!r}, operator={self.operator!r}, credentials set: {names})"


X_CREDENTIAL_NAMES = ("X_API_KEY", "X_API_KEY_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")


def load_settings(env_file: Path | None = None) -> Settings:
    """Read `.env` (without overriding the real environment) and then the environment."""
    load_dotenv(env_file or Path.cwd() / ".env", override=False)
    return Settings(
        database_url=os.environ.get("LIVETWEET_DATABASE_URL") or "sqlite:///livetweet.db",
        operator=os.environ.get("LIVETWEET_OPERATOR") or None,
        x_api_url=os.environ.get("LIVETWEET_X_API_URL") or None,
        x_credentials={k: os.environ[k] for k in X_CREDENTIAL_NAMES if os.environ.get(k)},
    )

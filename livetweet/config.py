"""Settings: environment variables (and `.env`), plus the dated price table.

Secrets are read here and nowhere else; `Settings.__repr__` never shows them.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError as ConfigError

ENV_FILE_LIMIT = 64 * 1024  # bytes: a settings file, not a dump


def _env_text(path: Path) -> str | None:
    """The `.env` file's text, checked before it is parsed: UTF-8, no NUL, of a sensible size.
    None when there is no such file."""
    try:
        if not path.is_file():
            if path.exists():
                raise ConfigError(f"{path} is not a file: .env must be a text file of NAME=value lines")
            return None
        size = path.stat().st_size
        if size > ENV_FILE_LIMIT:
            raise ConfigError(f"{path} is {size:,} bytes: a .env file of settings is far smaller (at most 64 KB)")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror}") from exc
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ConfigError(f"{path}:{line}: this line holds a NUL byte: remove it (a .env file is plain text)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file as UTF-8"
        ) from exc


# The environment as the process found it, before `.env` was read into it: a credential
# given there wins over `.env`, and one read from `.env` can be read again after a change.
_STARTING_ENVIRONMENT = dict(os.environ)


@dataclass(frozen=True)
class Prices:
    """X API pay-per-use prices in US dollars, as published on `as_of` (they change)."""

    as_of: str
    post: float
    post_with_url: float
    dm_read: float
    media_metadata: float = 0.0  # an image's alt text (X prices no upload itself)
    post_read: float = 0.0  # a post read from X, per post returned
    owned_read: float = 0.0  # one of the account's own posts read back, per post returned
    source: str = field(default="", repr=False)
    note: str = field(default="", repr=False)


PRICES_FILE = Path(__file__).with_name("data") / "prices.json"  # the one place prices live, with their date and source


def read_prices(path: Path = PRICES_FILE) -> Prices:
    """The price table from its data file: edited there when X changes its prices, never in code."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        usd = {name: float(item["usd"]) for name, item in data["prices"].items()}
        return Prices(
            as_of=str(data["as_of"]), post=usd["post"], post_with_url=usd["post_with_url"], dm_read=usd["dm_read"],
            media_metadata=usd.get("media_metadata", 0.0), post_read=usd.get("post_read", 0.0),
            owned_read=usd.get("owned_read", 0.0), source=str(data.get("source", "")), note=str(data.get("note", "")),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the price table {path} cannot be read ({exc}): reinstall livetweet") from exc


def __getattr__(name: str) -> Prices:
    """`PRICES`, read from its file on first use: commands that show no cost never read it."""
    if name == "PRICES":
        prices = read_prices()
        globals()["PRICES"] = prices
        return prices
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Settings:
    """What livetweet reads from its environment."""

    database_url: str = "sqlite:///livetweet.db"
    operator: str | None = None
    x_api_url: str | None = None
    # A simulated Bluesky and Mastodon already running on this machine, for a rehearsal to post to.
    bluesky_url: str | None = None
    mastodon_url: str | None = None
    x_credentials: dict[str, str] = field(default_factory=dict, repr=False)
    console_password: str | None = field(default=None, repr=False)
    console_password_hash: str | None = field(default=None, repr=False)
    console_hosts: tuple[str, ...] = ()  # other Host names the console answers to (a TLS proxy's)

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.x_credentials)) or "none"
        return f"Settings(database_url={self.database_url!r}, operator={self.operator!r}, credentials set: {names})"


X_CREDENTIAL_NAMES = ("X_API_KEY", "X_API_KEY_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")


def fresh_credentials(env_file: Path | None = None) -> dict[str, str]:
    """The X credentials as they are now: the real environment first, else `.env` read again."""
    text = _env_text(env_file or Path.cwd() / ".env")
    from_file: dict[str, str | None] = {}
    if text is not None:
        from dotenv import dotenv_values  # only when there is a .env: every command starts without it

        from_file = dotenv_values(stream=io.StringIO(text))
    found: dict[str, str] = {}
    for name in X_CREDENTIAL_NAMES:
        value = _STARTING_ENVIRONMENT.get(name) or from_file.get(name)
        if value:
            found[name] = value
    return found


# Each network's credentials in .env: a Bluesky app password (and its PDS, when not bsky.social),
# a Mastodon access token (and its server, when not the handle's own domain).
NETWORK_CREDENTIAL_NAMES = {
    "bluesky": ("BLUESKY_APP_PASSWORD", "BLUESKY_PDS_URL"),
    "mastodon": ("MASTODON_ACCESS_TOKEN", "MASTODON_API_BASE_URL"),
}


def account_credentials(account_id: str, network: str, env_file: Path | None = None) -> dict[str, str]:
    """One Bluesky or Mastodon account's credentials as they are now (real environment first, then `.env`).

    The network's names serve its one account; with two accounts on one network, each
    reads `LIVETWEET_<ACCOUNT ID>_<NAME>` first (account "bsky2": LIVETWEET_BSKY2_BLUESKY_APP_PASSWORD).
    """
    names = NETWORK_CREDENTIAL_NAMES.get(network, ())
    if not names:
        return {}
    text = _env_text(env_file or Path.cwd() / ".env")
    from_file: dict[str, str | None] = {}
    if text is not None:
        from dotenv import dotenv_values

        from_file = dotenv_values(stream=io.StringIO(text))
    prefix = "LIVETWEET_" + "".join(c if c.isalnum() else "_" for c in account_id.upper()) + "_"
    found: dict[str, str] = {}
    for name in names:
        for key in (prefix + name, name):
            value = _STARTING_ENVIRONMENT.get(key) or from_file.get(key)
            if value:
                found[name] = value
                break
    return found


REHEARSAL_NETWORK_CREDENTIALS = {
    "bluesky": {"BLUESKY_APP_PASSWORD": "rehearsal-bluesky-password"},
    "mastodon": {"MASTODON_ACCESS_TOKEN": "rehearsal-mastodon-token"},
}


def lease_seconds() -> float:
    """How long a run's lease lasts without renewal before another run may take over (default 15 s)."""
    raw = os.environ.get("LIVETWEET_LEASE_SECONDS", "")
    try:
        value = float(raw) if raw else 15.0
    except ValueError:
        print(f'livetweet: LIVETWEET_LEASE_SECONDS is "{raw[:40]}", not a number of seconds: using 15', file=sys.stderr)
        value = 15.0
    return min(max(value, 1.0), 600.0)


REHEARSAL_CREDENTIALS = {name: "rehearsal" for name in X_CREDENTIAL_NAMES}


def load_settings(env_file: Path | None = None) -> Settings:
    """Read `.env` (without overriding the real environment) and then the environment."""
    text = _env_text(env_file or Path.cwd() / ".env")
    if text is not None:
        from dotenv import load_dotenv  # only when there is a .env: every command starts without it

        load_dotenv(stream=io.StringIO(text), override=False)
    return Settings(
        database_url=os.environ.get("LIVETWEET_DATABASE_URL") or "sqlite:///livetweet.db",
        operator=os.environ.get("LIVETWEET_OPERATOR") or None,
        x_api_url=os.environ.get("LIVETWEET_X_API_URL") or None,
        bluesky_url=os.environ.get("LIVETWEET_BLUESKY_URL") or None,
        mastodon_url=os.environ.get("LIVETWEET_MASTODON_URL") or None,
        x_credentials={k: os.environ[k] for k in X_CREDENTIAL_NAMES if os.environ.get(k)},
        console_password=os.environ.get("LIVETWEET_CONSOLE_PASSWORD") or None,
        console_password_hash=os.environ.get("LIVETWEET_CONSOLE_PASSWORD_HASH") or None,
        console_hosts=tuple(h.strip() for h in os.environ.get("LIVETWEET_CONSOLE_HOSTS", "").split(",") if h.strip()),
    )

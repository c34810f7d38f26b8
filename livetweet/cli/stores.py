"""Moving a store: from the embedded SQLite to the PostgreSQL two laptops share."""

from __future__ import annotations

import json

import click

from ..errors import StoreError
from .base import AppContext, json_option, pass_app


@click.command("copy-store")
@click.argument("target", metavar="URL")
@json_option
@pass_app
def copy_store(app: AppContext, target: str, as_json: bool) -> None:
    """Copy this store (--db, else LIVETWEET_DATABASE_URL) into the empty database at URL.

    Before the event: `livetweet --db sqlite:///livetweet.db copy-store postgresql://USER@HOST/DB`,
    then point both laptops' LIVETWEET_DATABASE_URL at the PostgreSQL one. Everything is copied
    in one transaction (events, drafts with their revisions and audit, messages, images), or
    nothing; console logins are not (log in again on the new store).
    """
    from ..store import Store

    source = app.open(announce=not as_json).store
    if Store.same_database(source.url, target):
        raise StoreError("the target is this same store: name another database")
    copy = Store(target)
    try:
        copied = source.copy_into(copy)
        display = copy.display
    finally:
        copy.close()
    if as_json:
        click.echo(json.dumps({"from": source.display, "to": display, "copied": copied}))
        return
    rows = ", ".join(f"{n} {name}" for name, n in copied.items() if n)
    click.echo(f"Copied {source.display} into {display}: {rows or 'nothing (the store was empty)'}.")
    click.echo(f"Next: set LIVETWEET_DATABASE_URL to {display} (with its password) on both laptops, then "
               "`livetweet run SCHEDULE` on the first and on the second, which waits as its standby.")  # fmt: skip

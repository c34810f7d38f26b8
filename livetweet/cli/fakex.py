"""The simulated X API, served for rehearsals and tests."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from ..errors import LivetweetError

if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    pass


@click.group("fake-x", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on.")
@click.option("--account", default="UNMigNetwork", show_default=True, help="The account's username.")
@click.pass_context
def fake_x(ctx: click.Context, host: str, port: int, account: str) -> None:
    """Serve the simulated X API (for rehearsals and tests).

    Point livetweet at it with LIVETWEET_X_API_URL=http://HOST:PORT.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..fakes import FakeXServer

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: the simulated X API listens on {host}, not only on this machine", err=True)
    try:
        server = FakeXServer(host, port, username=account)
    except OSError as exc:
        raise LivetweetError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    click.echo(f"Simulated X API for @{account.lstrip('@')} at {server.url} (Ctrl-C stops it).")
    click.echo(f"Its timeline: {server.url}/   Rehearse with: LIVETWEET_X_API_URL={server.url} livetweet run ...")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@fake_x.command("dm")
@click.option("--from", "sender", required=True, metavar="USERNAME", help="Who sends it.")
@click.option("--url", metavar="URL", help="The simulated X API (default LIVETWEET_X_API_URL).")
@click.argument("text")
def fake_x_dm(sender: str, url: str | None, text: str) -> None:
    """Send the account a direct message through the simulated X API."""
    import requests

    base = url or os.environ.get("LIVETWEET_X_API_URL")
    if not base:
        raise LivetweetError("where is the simulated X API? Give --url or set LIVETWEET_X_API_URL")
    try:
        response = requests.post(f"{base.rstrip('/')}/fake/dm", json={"from": sender, "text": text}, timeout=10)
    except requests.RequestException as exc:
        raise LivetweetError(f"cannot reach the simulated X API at {base}: {type(exc).__name__}") from exc
    if response.status_code != 201:
        raise LivetweetError(f"the simulated X API refused the message ({response.status_code})")
    click.echo(f"Direct message {response.json()['data']['id']} from @{sender.lstrip('@')} sent.")

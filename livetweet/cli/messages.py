"""Direct messages: the inbox, reshare, dismiss."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import click

from ..inbox import shorten
from .terminal import safe

if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    pass


from .base import MESSAGE_ID, AppContext, as_option, event_time, event_zone, hm, json_option, pass_app, who
from .render import message_json


@click.command("inbox")
@click.option("--all", "include_all", is_flag=True, help="Also messages already reshared or dismissed.")
@json_option
@pass_app
def inbox_command(app: AppContext, include_all: bool, as_json: bool) -> None:
    """Direct messages sent to the account during the event (new ones by default)."""
    from ..service import InboxService

    messages = InboxService(app.service).messages(include_all)
    zone = event_zone(app.service)
    if as_json:
        click.echo(json.dumps([message_json(m, zone) for m in messages], indent=2, ensure_ascii=False))
        return
    if not messages:
        click.echo("No new direct messages." if not include_all else "No direct messages.")
        return
    for m in messages:
        media = f"  [{len(m.media_keys)} media]" if m.media_keys else ""
        click.echo(f"{m.id:>4}  {hm(m.received_at, zone)}  @{safe(m.sender):<16} {safe(m.state):<9}{media}")
        for line in safe(shorten(m.text, 280), newlines=True).splitlines() or [""]:
            click.echo(f"      {line}")
    click.echo("Reshare one with `livetweet reshare ID`, or `livetweet dismiss ID`.")


@click.command()
@click.argument("message_id", metavar="DM_ID", type=MESSAGE_ID)
@click.option("--at", "at_text", metavar="HH:MM", help="When to post it (event time zone, on the event's date).")
@click.option("--now", "now", is_flag=True, help="Post it as soon as it is approved (the default).")
@click.option("--text", metavar="TEXT", help="Your shortened version of the message (still credited).")
@click.option("--event", "event_id", metavar="ID", help="The event (when several are loaded).")
@as_option
@pass_app
def reshare(
    app: AppContext,
    message_id: int,
    at_text: str | None,
    now: bool,
    text: str | None,
    event_id: str | None,
    as_name: str | None,
) -> None:
    """Make a pending draft from a direct message, credited to its sender."""
    from ..service import InboxService

    if at_text and now:
        raise click.UsageError("give --at or --now, not both")
    inbox = InboxService(app.service)
    at: datetime | None = None
    if at_text:
        at = event_time(app, at_text, event_id)
    draft = inbox.reshare(message_id, who(as_name), at, text, event_id)
    zone = app.service.zone(draft.event_id)
    click.echo(
        f"Draft {draft.id} made from message {message_id} ({draft.weighted_length}/280, segment "
        f"{draft.segment}, due {hm(draft.at, zone)}): approve it with `livetweet approve {draft.id}`."
    )


@click.command()
@click.argument("message_id", metavar="DM_ID", type=MESSAGE_ID)
@as_option
@pass_app
def dismiss(app: AppContext, message_id: int, as_name: str | None) -> None:
    """Set a direct message aside: it leaves the list of new messages."""
    from ..service import InboxService

    InboxService(app.service).dismiss(message_id, who(as_name))
    click.echo(f"Message {message_id} dismissed.")

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
from .render import message_json, message_media_lines, message_media_summary


@click.command("inbox")
@click.option("--all", "include_all", is_flag=True, help="Also messages already reshared or dismissed.")
@json_option
@pass_app
def inbox_command(app: AppContext, include_all: bool, as_json: bool) -> None:
    """Direct messages sent to the account during the event (new ones by default), with their photos."""
    from ..service import InboxService

    inbox = InboxService(app.service)
    messages = inbox.messages(include_all)
    unfetched = inbox.not_fetched(messages)
    zone = event_zone(app.service)
    if as_json:
        shown = [message_json(m, zone, unfetched.get(m.dm_id, [])) for m in messages]
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    if not messages:
        click.echo("No new direct messages." if not include_all else "No direct messages.")
        return
    for m in messages:
        media = f"  {message_media_summary(m)}" if m.media_keys else ""
        click.echo(f"{m.id:>4}  {hm(m.received_at, zone)}  @{safe(m.sender):<16} {safe(m.state):<9}{media}")
        for line in safe(shorten(m.text, 280), newlines=True).splitlines() or [""]:
            click.echo(f"      {line}")
        for line in message_media_lines(m, unfetched.get(m.dm_id, []), zone):
            click.echo(f"      - {line}")
    if any(m.media and m.state == "new" for m in messages):
        click.echo(
            "Reshare one with `livetweet reshare ID` (a message with photos: one --alt TEXT per photo, in order, "
            "saying what it shows), or `livetweet dismiss ID`."
        )
    else:
        click.echo("Reshare one with `livetweet reshare ID`, or `livetweet dismiss ID`.")


@click.command()
@click.argument("message_id", metavar="DM_ID", type=MESSAGE_ID)
@click.option("--at", "at_text", metavar="HH:MM", help="When to post it (event time zone, on the event's date).")
@click.option("--now", "now", is_flag=True, help="Post it as soon as it is approved (the default).")
@click.option("--text", metavar="TEXT", help="Your shortened version of the message (still credited).")
@click.option(
    "--alt",
    "alts",
    metavar="TEXT",
    multiple=True,
    help="The alt text of the message's photo: what it shows, for people who cannot see it. Required for each "
    "photo: repeat it, one per photo, in the order `livetweet inbox` lists them.",
)
@click.option("--event", "event_id", metavar="ID", help="The event (when several are loaded).")
@as_option
@pass_app
def reshare(
    app: AppContext,
    message_id: int,
    at_text: str | None,
    now: bool,
    text: str | None,
    alts: tuple[str, ...],
    event_id: str | None,
    as_name: str | None,
) -> None:
    """Make a pending draft from a direct message, credited to its sender, with its photos."""
    from ..service import InboxService

    if at_text and now:
        raise click.UsageError("give --at or --now, not both")
    inbox = InboxService(app.service)
    at: datetime | None = None
    if at_text:
        at = event_time(app, at_text, event_id)
    draft = inbox.reshare(message_id, who(as_name), at, text, event_id, alt=list(alts))
    zone = app.service.zone(draft.event_id)
    photos = len(draft.media)
    carrying = f", with {photos} photo{'s' if photos != 1 else ''} and {'its' if photos == 1 else 'their'} alt text"
    click.echo(
        f"Draft {draft.id} made from message {message_id} ({draft.weighted_length}/280{carrying if photos else ''}, "
        f"segment {draft.segment}, due {hm(draft.at, zone)}): approve it with `livetweet approve {draft.id}`."
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

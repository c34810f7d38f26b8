"""Direct messages: the inbox, reshare, dismiss."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import click

from ..inbox import network_name, shorten
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
    """Direct messages sent to the event's accounts (X, Bluesky, Mastodon), new ones by default, with their photos."""
    from ..service import InboxService

    inbox = InboxService(app.service)
    messages = inbox.messages(include_all)
    unfetched = inbox.not_fetched(messages)
    accounts = inbox.accounts()
    zone = event_zone(app.service)
    if as_json:
        shown = [
            {
                **message_json(m, zone, unfetched.get(m.id, [])),
                "account": m.account,
                "network": inbox.network_of(m.account, accounts) or None,
            }
            for m in messages
        ]
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    if not messages:
        click.echo("No new direct messages." if not include_all else "No direct messages.")
        return
    # Which network each came by, said when the events post to more than their X account (as preview does).
    several = len(accounts) > 1 or any(m.account not in accounts for m in messages)
    for m in messages:
        media = f"  {message_media_summary(m)}" if m.media_keys else ""
        where = f"{safe(inbox.where(m, accounts)):<8} " if several else ""
        click.echo(f"{m.id:>4}  {hm(m.received_at, zone)}  {where}@{safe(m.sender):<16} {safe(m.state):<9}{media}")
        for line in safe(shorten(m.text, 280), newlines=True).splitlines() or [""]:
            click.echo(f"      {line}")
        network = network_name(inbox.network_of(m.account, accounts) or "x")
        for line in message_media_lines(m, unfetched.get(m.id, []), zone, network):
            click.echo(f"      - {line}")
    elsewhere = " (to the account it came to; --to ACCOUNT, repeated, for others)" if len(accounts) > 1 else ""
    if any(m.media and m.state == "new" for m in messages):
        click.echo(
            f"Reshare one with `livetweet reshare ID`{elsewhere} (a message with photos: one --alt TEXT per photo, "
            "in order, saying what it shows), or `livetweet dismiss ID`."
        )
    else:
        click.echo(f"Reshare one with `livetweet reshare ID`{elsewhere}, or `livetweet dismiss ID`.")


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
@click.option(
    "--to",
    "to",
    metavar="ACCOUNT",
    multiple=True,
    help="The account to reshare it to (the schedule's account id, as x, bsky, masto); repeat it for several: "
    "one draft each. Default: the account the message came to.",
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
    to: tuple[str, ...],
    event_id: str | None,
    as_name: str | None,
) -> None:
    """Make a pending draft from a direct message, credited to its sender, with its photos: on the account
    it came to, or on each account named with --to."""
    from ..inbox import network_name
    from ..service import InboxService

    if at_text and now:
        raise click.UsageError("give --at or --now, not both")
    inbox = InboxService(app.service)
    at: datetime | None = None
    if at_text:
        at = event_time(app, at_text, event_id)
    drafts = inbox.reshare(message_id, who(as_name), at, text, event_id, alt=list(alts), to=list(to) or None)
    zone = app.service.zone(drafts[0].event_id)
    accounts = app.service.accounts(drafts[0].event_id)
    for draft in drafts:
        photos = len(draft.media)
        carrying = (
            f", with {photos} photo{'s' if photos != 1 else ''} and {'its' if photos == 1 else 'their'} alt text"
            if photos
            else ""
        )
        account = accounts.get(draft.account)
        on = f" for {safe(account.handle)} on {network_name(account.network)}" if account and len(accounts) > 1 else ""
        click.echo(
            f"Draft {draft.id}{on} made from message {message_id} ({draft.weighted_length}/"
            f"{app.service.limit_of(draft)}{carrying}, segment {draft.segment}, due {hm(draft.at, zone)}): approve it "
            f"with `livetweet approve {draft.id}`."
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

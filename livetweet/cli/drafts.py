"""The draft queue: list, show, approve, reject, hold, edit, post now, history."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..clock import show_time
from ..draft import DEFAULT_ACCOUNT, Attachment, Draft, DraftError, DraftState, length_limit
from .terminal import safe

if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    pass


from .base import (
    DRAFT_ID,
    AppContext,
    as_option,
    hm,
    json_option,
    keep_media,
    pair_media,
    parse_draft_ref,
    pass_app,
    style,
    who,
    with_media_options,
)
from .render import audit_json, delivery_name, draft_json, draft_media, first_line, print_media, slot_label, state_label


@click.command()
@click.option("--state", type=click.Choice([s.value for s in DraftState]), help="Only drafts in this state.")
@click.option("--event", "event_id", metavar="ID", help="Only drafts of this event.")
@json_option
@pass_app
def queue(app: AppContext, state: str | None, event_id: str | None, as_json: bool) -> None:
    """List drafts by time, with their state, revision and length."""
    reads = app.reads()
    drafts = reads.queue(DraftState(state) if state else None, event_id)
    if as_json:
        click.echo(json.dumps([draft_json(d, reads.zone(d.event_id)) for d in drafts], indent=2, ensure_ascii=False))
        return
    if not drafts:
        click.echo("No drafts" + (f" in state {state}" if state else "") + ". Load a schedule with `livetweet load`.")
        return
    click.echo(f"{'ID':>4}  {'TIME':<10} {'STATE':<9} {'REV':>3} {'LEN':>7}  {'SLOT':<14} TEXT")
    limits: dict[str, dict[str, int]] = {}
    for d in drafts:
        if d.event_id not in limits:
            accounts = reads.accounts(d.event_id)
            limits[d.event_id] = {i: length_limit(a.network, a.max_chars) for i, a in accounts.items()}
        limit = limits[d.event_id].get(d.account, 280)
        when = hm(d.at, reads.zone(d.event_id))
        rev = f"{d.revision}" + ("" if d.approved_revision in (None, d.revision) else "*")
        images = f"[{len(d.media)} image{'s' if len(d.media) != 1 else ''}] " if d.media else ""
        click.echo(
            f"{d.id:>4}  {when:<10} {state_label(d)} {rev:>3} {d.weighted_length:>3}/{limit:<3}  "
            f"{safe(slot_label(d)):<14} "
            f"{images}{first_line(d.text)}"
        )


@click.command()
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@json_option
@pass_app
def show(app: AppContext, draft_id: int, as_json: bool) -> None:
    """Show one draft in full."""
    draft = app.service.show(draft_id)
    zone = app.service.zone(draft.event_id)
    if as_json:
        click.echo(json.dumps(draft_json(draft, zone), indent=2, ensure_ascii=False))
        return
    click.echo(f"Draft {draft.id}: {safe(draft.event_id)} / {safe(draft.slot)} (segment {safe(draft.segment)})")
    if draft.account != DEFAULT_ACCOUNT or len(app.service.accounts(draft.event_id)) > 1:
        account = app.service.accounts(draft.event_id).get(draft.account)
        click.echo(f"  account   {safe(account.handle if account else draft.account)} ({safe(draft.account)})")
    click.echo(f"  state     {draft.state.value}, revision {draft.revision}")
    click.echo(f"  due       {hm(draft.at, zone)}, may go out until {hm(draft.valid_until, zone)}")
    if draft.approved_by:
        click.echo(
            f"  approved  revision {draft.approved_revision} by {safe(draft.approved_by)} at "
            f"{hm(draft.approved_at, zone) if draft.approved_at else '-'}"
        )
    if draft.reply_to:
        click.echo(f"  reply to  {safe(draft.reply_to)}")
    if draft.tweet_id:
        click.echo(f"  posted    {'tweet' if draft.tweet_id.isdigit() else 'post'} {safe(draft.tweet_id)}")
    tags = safe(" ".join(draft.hashtags)) or "-"
    click.echo(f"  length    {draft.weighted_length}/{app.service.limit_of(draft)}; hashtags {tags}")
    click.echo("")
    for line in safe(draft.text, newlines=True).splitlines():
        click.echo(f"    {line}")
    if draft.media:
        click.echo("")
        print_media(draft_media(draft))


@click.command()
@click.argument("drafts", metavar="ID[@REV]...", nargs=-1, required=True)
@click.option(
    "--all-accounts",
    is_flag=True,
    help="Also approve the same post on the event's other accounts (Bluesky, Mastodon) where it waits.",
)
@as_option
@pass_app
def approve(app: AppContext, drafts: tuple[str, ...], all_accounts: bool, as_name: str | None) -> None:
    """Approve drafts: all of them, or none if one cannot be (say which, then try again without it).
    ID@REV approves only if REV is still the current revision."""
    by = who(as_name)
    targets = list(dict.fromkeys(parse_draft_ref(v) for v in drafts))  # `approve 2 2` approves draft 2 once
    try:
        approved = app.service.approve_all(targets, by, all_accounts)
    except DraftError as exc:
        others = (
            f" Nothing was approved: approve the others without draft {_draft_of(exc, targets)}."
            if len(targets) > 1
            else ""
        )
        click.echo(style(f"error: {exc}.{others}" if others else f"error: {exc}", err=True, fg="red"), err=True)
        sys.exit(1)
    for draft in approved:
        zone = app.service.zone(draft.event_id)
        click.echo(
            f"Approved draft {draft.id} ({delivery_name(draft)}, revision {draft.revision}) as {by}: "
            f"due {hm(draft.at, zone)}."
        )


def _draft_of(exc: Exception, targets: list[tuple[int, int | None]]) -> str:
    """Which draft a refusal is about (its message names it), for the hint."""
    text = str(exc)
    return next((str(i) for i, _ in targets if f"draft {i} " in text or f"draft {i}:" in text), "it")


@click.command()
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@click.option("--reason", metavar="TEXT", help="Why, for the audit trail.")
@as_option
@pass_app
def reject(app: AppContext, draft_id: int, reason: str | None, as_name: str | None) -> None:
    """Reject a draft: it will not be posted."""
    by = who(as_name)
    draft = app.service.reject(draft_id, by, reason)
    click.echo(f"Rejected draft {draft.id} ({draft.slot}) as {by}" + (f": {reason}" if reason else "."))


@click.command()
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@as_option
@pass_app
def unapprove(app: AppContext, draft_id: int, as_name: str | None) -> None:
    """Hold an approved draft: it goes back to pending and will not be posted."""
    by = who(as_name)
    draft = app.service.unapprove(draft_id, by)
    click.echo(f"Draft {draft.id} ({draft.slot}) is pending again (held by {by}).")


@click.command()
@click.argument("draft", metavar="ID[@REV]")
@click.option("--text", metavar="TEXT", help="The new text (without it, $EDITOR opens, unless only images change).")
@with_media_options
@click.option("--no-media", "no_media", is_flag=True, help="Remove the draft's images.")
@as_option
@pass_app
def edit(
    app: AppContext,
    draft: str,
    text: str | None,
    media_files: tuple[Path, ...],
    alts: tuple[str, ...],
    no_media: bool,
    as_name: str | None,
) -> None:
    """Change a draft's text or images: a new revision, which needs approval again.

    The text is checked like a template's output: 280 weighted characters, the
    required hashtags (added when missing and they fit), no duplicate of another post.
    --media FILE --alt TEXT (repeatable, in pairs) replaces the images; --alt alone gives
    the draft's images their alt text, in order, one --alt per image.
    """
    draft_id, revision = parse_draft_ref(draft)
    by = who(as_name)
    if no_media and (media_files or alts):
        raise click.UsageError("give --no-media, or --media and --alt, not both")
    changes_media = bool(media_files or alts or no_media)
    chosen_editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")  # a deliberate choice, even in a script
    no_terminal = not chosen_editor and not (sys.stdin.isatty() and sys.stdout.isatty())
    if text is None and not changes_media and no_terminal:
        raise click.UsageError("give the new text with --text: there is no terminal here to open an editor in")
    current = app.service.show(draft_id) if text is None or (alts and not media_files) else None
    media: tuple[Attachment, ...] | None = None
    if no_media:
        media = ()
    elif media_files:
        media = keep_media(app, pair_media(media_files, alts))
    elif alts:
        assert current is not None
        media = _with_alts(current, alts)
    if text is None and changes_media:
        assert current is not None
        text = current.text  # only the images change
    if text is None:
        assert current is not None
        edited_text = click.edit(current.text + "\n", extension=".txt", require_save=True)
        if edited_text is None or edited_text.strip() == current.text.strip():
            click.echo("Edit cancelled: the text is unchanged.")
            return
        text = edited_text
    result, appended = app.service.edit(draft_id, text, by, revision, media=media)
    added = f" (added {' '.join(appended)})" if appended else ""
    images = f", {len(result.media)} image{'s' if len(result.media) != 1 else ''}" if result.media else ""
    click.echo(
        f"Draft {result.id} ({result.slot}) is now revision {result.revision}, "
        f"{result.weighted_length}/280{added}{images}; it needs approval: `livetweet approve {result.id}`."
    )


def _with_alts(draft: Draft, alts: tuple[str, ...]) -> tuple[Attachment, ...]:
    """The draft's images with these alt texts, in order: one --alt per image."""
    if len(alts) != len(draft.media):
        have = f"{len(draft.media)} image{'s' if len(draft.media) != 1 else ''}" if draft.media else "no images"
        raise click.UsageError(
            f"draft {draft.id} has {have}: give one --alt for each, in order (or --media FILE --alt TEXT to "
            "replace them)"
        )
    return tuple(replace(image, alt=" ".join(alt.split())) for image, alt in zip(draft.media, alts, strict=True))


@click.command()
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@json_option
@pass_app
def history(app: AppContext, draft_id: int, as_json: bool) -> None:
    """The audit trail of one draft: who did what, when, to which revision."""
    entries = app.service.history(draft_id)
    zone = app.service.zone(app.service.show(draft_id).event_id)
    if as_json:
        click.echo(json.dumps([audit_json(e, zone) for e in entries], indent=2, ensure_ascii=False))
        return
    for e in entries:
        move = safe(f"{e.from_state or '-'} -> {e.to_state or '-'}")
        reason = f"  ({safe(e.reason)})" if e.reason else ""
        click.echo(
            f"{e.at.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}  {safe(e.operator):<12} {safe(e.action):<10} {move:<22} "
            f"rev {e.revision}{reason}"
        )


@click.command()
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@as_option
@pass_app
def standalone(app: AppContext, draft_id: int, as_name: str | None) -> None:
    """Send a reply X refused now as a post of its own (no longer a reply)."""
    by = who(as_name)
    draft = app.service.standalone(draft_id, by)
    zone = app.service.zone(draft.event_id)
    when = (
        "the running `livetweet run` posts it within a second"
        if app.run_is_live
        else (f"it goes out if `livetweet run` starts before {show_time(draft.valid_until, zone)}")
    )
    click.echo(
        f"Draft {draft.id} ({delivery_name(draft)}) goes out now as a post of its own (decided by {by}): {when}."
    )


@click.command("post-now")
@click.argument("draft_id", metavar="ID", type=DRAFT_ID)
@as_option
@pass_app
def post_now(app: AppContext, draft_id: int, as_name: str | None) -> None:
    """Post a draft at once: an approved one before its time, or a missed one."""
    by = who(as_name)
    draft = app.service.post_now(draft_id, by)
    zone = app.service.zone(draft.event_id)
    if app.run_is_live:
        click.echo(f"Draft {draft.id} ({draft.slot}) goes out now (decided by {by}): the running `livetweet run` "
                   "posts it within a second.")  # fmt: skip
    else:
        click.echo(
            f"Draft {draft.id} ({draft.slot}) is due now (decided by {by}), but no run posts from this store: it goes "
            f"out if `livetweet run` starts before {show_time(draft.valid_until, zone)}."
        )

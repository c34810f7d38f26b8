"""How commands show drafts, posts, messages and problems: text for people, JSON for programs."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from ..clock import show_time
from ..draft import DEFAULT_ACCOUNT, Attachment, Draft
from ..errors import Problem
from ..inbox import SHOWN_LENGTH, Message, PollResult, UnfetchedMedia, held_places, shorten
from .terminal import safe

if TYPE_CHECKING:  # the console, the scheduler, tweepy and the simulated X load only for `run`
    from ..dispatch import Notice, Runner

if TYPE_CHECKING:
    from ..plan.check import Report
    from ..plan.compose import Post
    from ..plan.media import PlannedImage
    from ..plan.schedule import Account
    from ..service import LoadReport, Service
    from ..store import AuditEntry


from .base import AppContext, hm, style, use_colour


def echo_problem(problem: Problem, err: bool = False) -> None:
    colour = "yellow" if problem.severity == "warning" else "red"
    click.echo(style(str(problem), err=err, fg=colour), err=err)


def report_json(report: Report) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "errors": [p.as_dict() for p in report.errors],
        "warnings": [p.as_dict() for p in report.warnings],
        "posts": len(report.posts),
        "cost": None
        if report.cost is None
        else {
            "posts": report.cost.posts,
            "posts_with_url": report.cost.posts_with_url,
            "usd": round(report.cost.total, 4),
            "prices_as_of": report.cost.prices.as_of,
        },
    }


def deliveries(
    post: Post, accounts: tuple[Account, ...], variants: dict[tuple[str, str, str], Post] | None = None
) -> list[dict[str, Any]]:
    """Where a post goes: each account with the post's length under its network's own rule (and its
    own text, where the template writes something else on that network or in its language).

    Each says its language (`lang`) when the post goes out in one other than English, so that an
    event in English alone reads as before."""
    from ..plan.check import delivery_lengths

    out = []
    said = post.lang != "en" or any(a.lang != "en" for a in accounts)
    for account in accounts:
        own = (variants or {}).get((post.slot.id, account.network, account.lang), post)
        length, limit = delivery_lengths(own, account)
        item: dict[str, Any] = {"account": account.id, "network": account.network, "handle": account.handle,
                                "length": length, "limit": limit}  # fmt: skip
        if said:
            item["lang"] = account.lang
        if own.text != post.text:
            item["text"] = own.text
        out.append(item)
    return out


def post_json(
    post: Post,
    zone: ZoneInfo | None,
    accounts: tuple[Account, ...] = (),
    variants: dict[tuple[str, str, str], Post] | None = None,
) -> dict[str, Any]:
    """One post as `preview --json` prints it (with `accounts`: its deliveries, each with its length)."""
    item: dict[str, Any] = {
        "slot": post.slot.id,
        "segment": post.segment.id,
        "at": post.slot.at.isoformat(),
        "at_utc": post.slot.at.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z"),
        "valid_until": post.slot.valid_until.isoformat(),
        "template": post.slot.template,
        "text": post.text,
        "weighted_length": post.weighted_length,
        "valid": post.parsed.valid,
        "hashtags": list(post.hashtags),
        "reply_to": post.slot.reply_to,
        "media": [planned_image_json(image) for image in post.media],
    }
    if accounts:
        item["deliveries"] = deliveries(post, accounts, variants)
    if zone is not None:
        item["at_local"] = post.slot.at.astimezone(zone).isoformat()
    return item


def planned_image_json(image: PlannedImage) -> dict[str, Any]:
    """A slot's image as `preview --json` prints it: the re-encoded file that will be posted."""
    encoded = image.encoded
    return {
        "file": image.file,
        "alt": image.alt,
        "bytes": len(encoded.data) if encoded is not None else None,
        "width": encoded.width if encoded is not None else None,
        "height": encoded.height if encoded is not None else None,
        "type": encoded.kind if encoded is not None else None,
    }


def image_line(number: int, name: str, kind: str, width: int | None, height: int | None, size: int | None) -> str:
    """One image, in a line: "image 1: media/panel.jpg, JPEG 1600x900, 212 KB"."""
    from ..plan.media import KIND_NAMES

    what = [KIND_NAMES.get(kind, kind or "?")]
    if width and height:
        what.append(f"{width}x{height}")
    shown = " ".join(what)
    if size is not None:
        shown += f", {size / 1000:,.0f} KB" if size < 1_000_000 else f", {size / 1_000_000:.1f} MB"
    return f"image {number}: {safe(name) or '(no name)'}, {shown}"


def print_media(items: list[tuple[str, str, str, int | None, int | None, int | None]], prefix: str = "    ") -> None:
    """Each image with its alt text (or that it has none), under a post."""
    for number, (name, alt, kind, width, height, size) in enumerate(items, 1):
        click.echo(f"{prefix}{image_line(number, name, kind, width, height, size)}")
        if alt:
            click.echo(f"{prefix}  alt: {safe(alt)}")
        else:
            click.echo(style(f"{prefix}  alt: none yet (required before it can be approved)", fg="red"))


def draft_media(draft: Draft) -> list[tuple[str, str, str, int | None, int | None, int | None]]:
    return [(a.name, a.alt, a.kind, a.width, a.height, a.size) for a in draft.media]


def print_preview(report: Report, posts: list[Post], zone: ZoneInfo | None) -> None:
    from ..plan.compose import MAX_WEIGHTED_LENGTH

    assert report.schedule is not None
    event = report.schedule.event
    click.echo(style(f"{event.title} ({event.account})", bold=True))
    click.echo(
        f"{event.date:%A} {event.date.day} {event.date:%B %Y}, {event.start:%H:%M}-{event.end:%H:%M %Z} "
        f"({event.timezone}){'; times also in ' + str(zone) if zone else ''}"
    )
    click.echo("")
    for post in posts:
        when = hm(post.slot.at)
        if zone is not None:
            when += f" ({hm(post.slot.at, zone)})"
        length = f"{post.weighted_length}/{MAX_WEIGHTED_LENGTH}"
        length_colour = "red" if post.weighted_length > MAX_WEIGHTED_LENGTH else None
        reply = f"  reply to {post.slot.reply_to}" if post.slot.reply_to else ""
        click.echo(
            f"{style(when, bold=True)}  {post.segment.id}  {style(post.slot.id, fg='cyan')}  "
            f"{style(length, fg=length_colour)}  {' '.join(post.hashtags)}{reply}"
        )
        for line in post.text.splitlines() or [""]:
            click.echo(f"    {line}")
        accounts = report.schedule.accounts_of(post.slot)
        if [a.network for a in report.schedule.accounts] != ["x"]:  # more than the X account: say where each goes
            shown = []
            own_texts = []
            for d in deliveries(post, accounts, report.variants):
                colour = "red" if d["length"] > d["limit"] else None
                where = f"{d['network']}, {d['lang']}" if "lang" in d else d["network"]
                shown.append(style(f"{d['handle']} ({where}) {d['length']}/{d['limit']}", fg=colour))
                if "text" in d:
                    own_texts.append((d["handle"], str(d["text"])))
            click.echo("    to " + "; ".join(shown))
            for handle, text in own_texts:
                click.echo(f"    on {handle}:")
                for line in text.splitlines() or [""]:
                    click.echo(f"      {line}")
        if post.media:
            print_media([
                (i.file, i.alt, i.kind, i.encoded.width if i.encoded else None,
                 i.encoded.height if i.encoded else None, len(i.encoded.data) if i.encoded else None)
                for i in post.media
            ])  # fmt: skip
        click.echo("")
    click.echo(
        f"{len(posts)} posts from {hm(posts[0].slot.at) if posts else '-'} "
        f"to {hm(posts[-1].slot.at) if posts else '-'}. Nothing was posted (preview)."
    )


def _iso(when: datetime | None, zone: ZoneInfo) -> str | None:
    return when.astimezone(zone).isoformat() if when else None


def draft_json(draft: Draft, zone: ZoneInfo) -> dict[str, Any]:
    """A draft as `queue --json` and `show --json` print it."""
    return {
        "id": draft.id,
        "event": draft.event_id,
        "slot": draft.slot,
        "account": draft.account,
        "segment": draft.segment,
        "source": draft.source,
        "state": draft.state.value,
        "at": _iso(draft.at, zone),
        "valid_until": _iso(draft.valid_until, zone),
        "text": draft.text,
        "weighted_length": draft.weighted_length,
        "hashtags": list(draft.hashtags),
        "wanted_hashtags": list(draft.wanted_hashtags),
        "revision": draft.revision,
        "approved_revision": draft.approved_revision,
        "approved_by": draft.approved_by,
        "approved_at": _iso(draft.approved_at, zone),
        "reply_to": draft.reply_to,
        "tweet_id": draft.tweet_id,
        "posted_at": _iso(draft.posted_at, zone),
        "media": [a.as_json() for a in draft.media],
    }


def audit_json(entry: AuditEntry, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "at": _iso(entry.at, zone),
        "operator": entry.operator,
        "action": entry.action,
        "from": entry.from_state,
        "to": entry.to_state,
        "revision": entry.revision,
        "reason": entry.reason,
        "detail": entry.detail,
    }


_STATE_COLOURS = {
    "pending": "yellow",
    "approved": "green",
    "posted": "blue",
    "rejected": "red",
    "failed": "red",
    "missed": "magenta",
    "posting": "cyan",
    "withdrawn": None,
}


def state_label(draft: Draft) -> str:
    return style(f"{draft.state.value:<9}", fg=_STATE_COLOURS.get(draft.state.value))


def first_line(text: str, width: int = 70) -> str:
    line = " ".join(text.split())
    return safe(line if len(line) <= width else line[: width - 1] + "…")


def load_json(report: LoadReport, zone: ZoneInfo) -> dict[str, Any]:
    def ids(drafts: list[Draft]) -> list[int]:
        return [d.id for d in drafts]

    return {
        "event": report.event_id,
        "mode": report.mode,
        "created": ids(report.created),
        "revised": ids(report.revised),
        "rescheduled": ids(report.rescheduled),
        "restored": ids(report.restored),
        "withdrawn": ids(report.withdrawn),
        "auto_approved": ids(report.auto_approved),
        "untouched": [{"id": d.id, "slot": d.slot, "why": why} for d, why in report.untouched],
        "kept": [{"id": d.id, "slot": d.slot, "why": why} for d, why in report.kept],
        "unchanged": report.unchanged,
    }


def print_load(report: LoadReport, where: str) -> None:
    parts = [
        f"{len(report.created)} new",
        f"{len(report.revised)} revised",
        f"{len(report.rescheduled)} moved",
        f"{len(report.restored)} restored",
        f"{len(report.withdrawn)} withdrawn",
        f"{report.unchanged} unchanged",
    ]
    click.echo(f"Loaded {report.event_id} ({report.mode} mode) into {where}: {', '.join(parts)}.")
    for draft in report.revised:
        click.echo(
            f"  draft {draft.id} ({draft.slot}): new text or images, revision {draft.revision}; it needs approval"
        )
    for draft in report.withdrawn:
        click.echo(f"  draft {draft.id} ({draft.slot}): withdrawn, its slot left the schedule")
    for draft, why in report.untouched:
        click.echo(style(f"  draft {draft.id} ({draft.slot}) left as it is: {why}", fg="yellow"))
    for draft, why in report.kept:
        click.echo(style(f"  draft {draft.id} ({draft.slot}): {why}", fg="yellow"))
    if report.auto_approved:
        click.echo(f"  {len(report.auto_approved)} drafts approved automatically (auto mode)")
    if not report.auto_approved and (report.created or report.revised or report.restored):
        click.echo("Next: `livetweet queue` to see them, `livetweet approve ID` to approve.")


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _countdown(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def print_moves(app: AppContext, moved: list[tuple[Draft, Draft]]) -> None:
    for before, after in moved:
        zone = app.service.zone(after.event_id)
        old, new = show_time(before.at, zone), show_time(after.at, zone)
        click.echo(f"  draft {after.id:>4} {after.slot:<16} {old} -> {new}")
    if moved and not app.run_is_live:
        click.echo("No run posts from this store now: the new times apply when `livetweet run` starts.")


def message_json(message: Message, zone: ZoneInfo, unfetched: Sequence[UnfetchedMedia] = ()) -> dict[str, Any]:
    """An inbox item as `inbox --json` prints it (text cleaned and shortened, original kept), with its
    photos (`media`) and the attachments livetweet does not have, each with why (`unfetched`)."""
    places = held_places(message, (u.number for u in unfetched))
    media = [
        {"number": places[i] if places else None, "sha256": a.sha256, "type": a.kind, "width": a.width,
         "height": a.height, "bytes": a.size}
        for i, a in enumerate(message.media)
    ]  # fmt: skip
    missing = [
        {"number": u.number, "kind": u.kind, "state": u.state, "reason": u.reason, "tries": u.tries,
         "next_try_at": _iso(u.next_try_at, zone)}
        for u in unfetched
    ]  # fmt: skip
    missing += [
        {"number": None, "kind": None, "state": "unknown", "reason": _NO_REASON, "tries": None, "next_try_at": None}
        for _ in range(_unaccounted(message, unfetched))
    ]
    return {
        "id": message.id,
        "dm_id": message.dm_id,
        "sender": message.sender,
        "sender_id": message.sender_id,
        "text": shorten(message.text, SHOWN_LENGTH),
        "length": len(message.text),
        "received_at": _iso(message.received_at, zone),
        "conversation_id": message.conversation_id,
        "media_keys": list(message.media_keys),
        "media": media,
        "unfetched": missing,
        "state": message.state,
        "draft_id": message.draft_id,
    }


_NO_REASON = "not fetched, and no reason was kept (the message arrived before this version, or the store was copied)"


def _unaccounted(message: Message, unfetched: Sequence[UnfetchedMedia]) -> int:
    """Attachments neither held nor in the list of those not fetched."""
    return max(len(message.media_keys) - len(message.media) - len(unfetched), 0)


def message_media_summary(message: Message) -> str:
    """What a message carries, for its line in `inbox`: "[2 photos]", "[1 photo, 1 not fetched]"."""
    held, missing = len(message.media), len(message.media_keys) - len(message.media)
    parts = [f"{held} photo{'s' if held != 1 else ''}"] if held else []
    if missing > 0:
        parts.append(f"{missing} not fetched")
    return f"[{', '.join(parts)}]" if parts else ""


def _photo_size(photo: Attachment) -> str:
    """A photo's type, pixels and bytes: "JPEG 640x480, 27 KB"."""
    from ..plan.media import KIND_NAMES

    size = f"{photo.size / 1000:,.0f} KB" if photo.size < 1_000_000 else f"{photo.size / 1_000_000:.1f} MB"
    return f"{KIND_NAMES.get(photo.kind, photo.kind or '?')} {photo.width}x{photo.height}, {size}"


def message_media_lines(
    message: Message, unfetched: Sequence[UnfetchedMedia], zone: ZoneInfo, network: str
) -> list[str]:
    """A line per attachment, in the message's order: each photo held (type, pixels, size), and each one
    livetweet does not have, with why and whether it asks `network` (the one it came by) again."""
    from ..inbox import PHOTO_TRIES

    places = held_places(message, (u.number for u in unfetched))
    lines: list[tuple[int, str]] = []
    for index, a in enumerate(message.media):
        number = places[index] if places else index + 1
        lines.append((number, f"photo {number}: {_photo_size(a)}"))
    for u in unfetched:
        what = f"{u.noun} {u.number}: not fetched"
        reason = safe(u.reason)
        if u.state == "waiting":
            when = f"on its first poll after {hm(u.next_try_at, zone)}" if u.next_try_at else "on its next poll"
            lines.append((u.number, f"{what} yet, livetweet asks {network} again {when} (try {u.tries + 1} of "
                                    f"{PHOTO_TRIES}): {reason}"))  # fmt: skip
        elif u.tries >= PHOTO_TRIES:
            lines.append((u.number, f"{what}, {network} failed {u.tries} times (the last time: {reason})"))
        else:
            lines.append((u.number, f"{what}: {reason}"))
    shown = [line for _, line in sorted(lines, key=lambda item: item[0])]
    unknown = _unaccounted(message, unfetched)
    if unknown:
        shown.append(f"{unknown} attachment{'s' if unknown != 1 else ''} {_NO_REASON}")
    return shown


class Screen:
    """What `run` shows: one line per outcome, and the next post with its countdown."""

    def __init__(self, service: Service, event_id: str, zone: ZoneInfo) -> None:
        self.service = service
        self.event_id = event_id
        self.zone = zone
        self.tty = use_colour()
        self._lock = threading.Lock()
        self._last_next: tuple[int, datetime] | None = None
        self._status_shown = False

    def _clear(self) -> None:
        if self._status_shown:
            click.echo("\r\x1b[2K", nl=False)
            self._status_shown = False

    def notice(self, report: Notice) -> None:
        colours = {
            "posted": "green",
            "failed": "red",
            "missed": "magenta",
            "halted": "red",
            "retry": "yellow",
            "unknown": "yellow",
        }
        with self._lock:
            self._clear()
            now = self.service.clock.now().astimezone(self.zone).strftime("%H:%M:%S %Z")
            what = style(f"{report.what:<8}", fg=colours.get(report.what))
            click.echo(f"{now}  {what} {delivery_name(report.draft)} (draft {report.draft.id}): {report.detail}")

    def polled(self, result: PollResult) -> None:
        if not (result.stored or result.error or result.notes):
            return
        with self._lock:
            self._clear()
            now = self.service.clock.now().astimezone(self.zone).strftime("%H:%M:%S %Z")
            if result.stored:
                click.echo(
                    f"{now}  {style('inbox', fg='cyan'):<8} {result.stored} new direct message"
                    f"{'s' if result.stored != 1 else ''}: `livetweet inbox` shows them"
                )
            for note in result.notes:  # a photo not fetched, asked for again, arrived or lost
                click.echo(f"{now}  {style('inbox', fg='yellow'):<8} {safe(note)}")
            if result.error:
                later = f"; next try at {hm(result.retry_at, self.zone)}" if result.retry_at else ""
                click.echo(f"{now}  {style('inbox', fg='yellow'):<8} {result.error}{later}")

    def idle(self, runner: Runner) -> None:
        upcoming = runner.next_due()
        paused = self.service.paused()
        with self._lock:
            if upcoming is None:
                return
            draft, due = upcoming
            key = (draft.id, due)
            wait = max((due - self.service.clock.now()).total_seconds(), 0)
            line = f"Next: {draft.slot} (draft {draft.id}) at {hm(due, self.zone)}, in {_countdown(wait)}"
            if paused:
                line += f" - posting is PAUSED by {paused.by}"
            if self.tty:
                click.echo("\r\x1b[2K" + line, nl=False)
                self._status_shown = True
            elif key != self._last_next:
                click.echo(line)
            self._last_next = key

    def close(self) -> None:
        with self._lock:
            self._clear()


def delivery_name(draft: Draft) -> str:
    """A delivery as the operator names it: its slot, and its account when that is not the X account."""
    return draft.slot if draft.account == DEFAULT_ACCOUNT else f"{draft.slot} on {draft.account}"


def slot_label(draft: Draft) -> str:
    """A delivery in a table's slot column: the slot, then /account when it is not the X account."""
    return draft.slot if draft.account == DEFAULT_ACCOUNT else f"{draft.slot}/{draft.account}"

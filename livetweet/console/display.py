"""How the console shows things: a post as X shows it, times with zone and date, errors in its own words."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from ..plan.tweettext import Entity, extract_hashtags, extract_mentions, extract_urls

URL_SHOWN = 23  # X shows a link shortened; it counts 23 whatever its length


def shown_url(url: str) -> str:
    """A link as X displays it: no scheme, no "www.", cut after 23 characters with an ellipsis."""
    bare = re.sub(r"^(?:https?://)?(?:www\.)?", "", url, flags=re.IGNORECASE)
    return bare if len(bare) <= URL_SHOWN else bare[: URL_SHOWN - 1] + "…"


def rich(text: str) -> Markup:
    """A post's text with its links shortened and its hashtags, mentions and links coloured (escaped)."""
    entities: list[tuple[Entity, str]] = [(e, "url") for e in extract_urls(text)]
    taken = [(e.start, e.end) for e, _ in entities]
    for kind, found in (("tag", extract_hashtags(text)), ("mention", extract_mentions(text))):
        for e in found:
            start = e.start if text[e.start : e.start + 1] in "#＃@＠$" else max(e.start - 1, 0)
            if not any(start < b and e.end > a for a, b in taken):
                entities.append((Entity(e.value, start, e.end), kind))
                taken.append((start, e.end))
    out: list[str] = []
    at = 0
    for e, kind in sorted(entities, key=lambda pair: pair[0].start):
        out.append(str(escape(text[at : e.start])))
        piece = text[e.start : e.end]
        if kind == "url":
            href = piece if re.match(r"https?://", piece, re.IGNORECASE) else "https://" + piece
            out.append(
                f'<a class="ent url" href="{escape(href)}" rel="noopener noreferrer nofollow" target="_blank" '
                f'title="{escape(piece)} (counts {URL_SHOWN})">{escape(shown_url(piece))}</a>'
            )
        else:
            out.append(f'<span class="ent {kind}">{escape(piece)}</span>')
        at = e.end
    out.append(str(escape(text[at:])))
    return Markup("".join(out))


def when(moment: datetime | None, zone: ZoneInfo, today: datetime) -> str:
    """A time in the event's zone, 24-hour, with its date when that is not the event clock's today."""
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    if local.date() == today.astimezone(zone).date():
        return local.strftime("%H:%M:%S %Z")
    return local.strftime("%a %d %b %H:%M:%S %Z")


# The service speaks to every shell; where it points at a command, the console says where to click.
_CLI_WORDS = [
    (re.compile(r";? ?look again with `livetweet show \d+`"), ": look at the card again (it shows what changed)"),
    (re.compile(r"`livetweet show (\d+)`"), r"draft \1 in the queue"),
    (re.compile(r"give one with --text"), "type one in the text field"),
    (re.compile(r"with --text\b"), "with a text of your own"),
    (re.compile(r"another --text\b"), "another text"),
    (re.compile(r"`livetweet resume`"), "Resume on the Now page"),
    (re.compile(r"`livetweet approve (\d+)`"), r"Approve on draft \1"),
    (re.compile(r"`livetweet shift[^`]*`"), "Move posts on the Now page"),
    (re.compile(r"`livetweet cue[^`]*`"), "This segment started, on the Now page"),
    (re.compile(r"`livetweet edit (\d+)`"), r"Edit on draft \1"),
    (re.compile(r"`livetweet [a-z-]+[^`]*`"), "the console's buttons"),
    (re.compile(r"\(?--([a-z][a-z-]+)\)?"), r"\1"),
]
_SPACES = re.compile(r"\s+([,.:;])")


def words(message: str) -> str:
    """An error written for the command line, said in the console's words (no commands, no options)."""
    for pattern, replacement in _CLI_WORDS:
        message = pattern.sub(replacement, message)
    return _SPACES.sub(r"\1", message).replace("::", ":")

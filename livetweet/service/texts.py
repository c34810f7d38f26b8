"""The rules a typed text obeys before it becomes a draft's text: the ones a template's output obeys.

twitter-text and the hashtag policy (livetweet.compose) are imported when a text is checked,
not when the service is: approving from a terminal does not wait for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..draft import DEFAULT_ACCOUNT, Attachment, Draft, DraftState
from ..errors import MediaRefused as MediaRefused, TextRefused as TextRefused
from ..plan.media import media_problems
from ..store import Connection, Store

if TYPE_CHECKING:
    from ..plan.compose import Tagged


def check_text(
    store: Store,
    conn: Connection,
    event_id: str,
    wanted: list[str],
    text: str,
    draft_id: int | None = None,
    account: str = DEFAULT_ACCOUNT,
) -> Tagged:
    """`text` with the hashtags it must carry; raise TextRefused if a rule is broken."""
    from ..plan.compose import MAX_WEIGHTED_LENGTH, tag_text

    if not text:
        what = f" of draft {draft_id}" if draft_id else ""
        raise TextRefused(f"the new text{what} is empty: nothing was changed")
    tagged = tag_text(text, wanted)
    length = tagged.parsed.weighted_length
    if length > MAX_WEIGHTED_LENGTH:
        raise TextRefused(
            f"the new text is {length}/{MAX_WEIGHTED_LENGTH} weighted characters, "
            f"{length - MAX_WEIGHTED_LENGTH} too many: nothing was changed"
        )
    if tagged.missing:
        raise TextRefused(
            f"the new text lacks {', '.join(tagged.missing)}, and adding "
            f"{'it' if len(tagged.missing) == 1 else 'them'} would pass 280 characters: "
            "shorten it; nothing was changed"
        )
    if not tagged.parsed.valid:
        raise TextRefused("the new text contains characters X refuses: nothing was changed")
    other = same_text(store, conn, event_id, tagged.text, draft_id, account)
    if other is not None:
        raise TextRefused(
            f"draft {other.id} (slot {other.slot}) already has this text, and X refuses duplicate "
            "posts: nothing was changed"
        )
    return tagged


def same_text(
    store: Store,
    conn: Connection,
    event_id: str,
    text: str,
    draft_id: int | None = None,
    account: str = DEFAULT_ACCOUNT,
) -> Draft | None:
    """A live draft on the same account (not `draft_id`) whose text its network would call a duplicate of
    `text` (the same post on two accounts is no duplicate: it is two deliveries)."""
    same = " ".join(text.split()).casefold()
    for other in store.drafts(event_id=event_id, conn=conn):
        live = (
            other.id != draft_id
            and other.account == account
            and other.state not in (DraftState.REJECTED, DraftState.WITHDRAWN)
        )
        if live and " ".join(other.text.split()).casefold() == same:
            return other
    return None


def check_media(
    store: Store,
    conn: Connection | None,
    media: Sequence[Attachment],
    text: str,
    refusal: str,
    *,
    require_alt: bool = True,
    known: Sequence[Attachment] = (),
) -> None:
    """Raise MediaRefused if these images cannot go out with `text` (X's rules, the alt text rules) or
    one is not in the store (`known`: those already on the draft, kept there). `refusal` is the
    message, with "{}" where the reasons go."""
    problems = media_problems(media, text, require_alt=require_alt)
    kept = {a.sha256 for a in known}
    for number, image in enumerate(media, 1):
        if image.sha256 not in kept and store.media_data(image.sha256, conn) is None:
            name = image.name or image.sha256[:12]
            problems.append(f"image {number} ({name}) is not in the store: add its file again")
    if problems:
        raise MediaRefused(refusal.format("; ".join(problems)))

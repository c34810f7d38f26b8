"""`livetweet check`: everything that can be known about an event before it starts.

Reads the schedule, renders every slot and applies X's rules to the result, so that
the officer learns the day before, with a file and line, what X would refuse at 13:30.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import PRICES, Prices
from ..errors import MediaError, Problem, deferred_interrupts, interrupt_point
from .compose import MAX_WEIGHTED_LENGTH, Composer, Post, display_path, wanted_hashtags
from .cost import Cost, cost_of_posts
from .media import (
    CARD_FILE,
    MAX_INPUT_BYTES,
    CardText,
    EncodedImage,
    PlannedImage,
    alt_problem,
    card_alt,
    card_problems,
    count_problem,
    megabytes,
    sniff,
)
from .schedule import Account, Schedule, Slot, budget_day, read_schedule_partial
from .tweettext import extract_urls

if TYPE_CHECKING:
    from ..store import Store

MIN_GAP = timedelta(seconds=60)
RATE_WINDOW = timedelta(minutes=15)
RATE_LIMIT = 100  # POST /2/tweets per user per 15 minutes

# Reads an image file the way it will be posted (livetweet.media.reencode_file: Pillow, outside
# the pure pipeline), given its path and its name as written; raises MediaError naming it.
MediaReader = Callable[[Path, str], EncodedImage]
# Draws a quote card the way it will be posted (livetweet.cards with Pillow, then re-encoded); raises MediaError.
CardDrawer = Callable[[CardText], EncodedImage]


@dataclass(frozen=True)
class CostEstimate:
    """What the planned posts will cost on X's pay-per-use prices."""

    posts: int
    posts_with_url: int
    prices: Prices

    @property
    def total(self) -> float:
        plain = self.posts - self.posts_with_url
        return plain * self.prices.post + self.posts_with_url * self.prices.post_with_url

    def describe(self) -> str:
        p = self.prices
        return (
            f"estimated X API cost: {self.posts} posts, {self.posts_with_url} with a link: "
            f"${self.total:.2f} (prices of {p.as_of}: ${p.post:.3f} a post, ${p.post_with_url:.2f} with a "
            f"link; reading direct messages adds ${p.dm_read:.3f} per message)"
        )


@dataclass
class Report:
    """The outcome of a check: problems (errors and warnings), the posts, the cost."""

    schedule: Schedule | None
    problems: list[Problem] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    cost: CostEstimate | None = None
    # A slot's post on another network or in another language: (slot id, network, lang). A network's
    # variant is kept where its text differs; a language's always (its hashtags are its own).
    variants: dict[tuple[str, str, str], Post] = field(default_factory=dict)

    def post_for(self, post: Post, network: str, lang: str | None = None) -> Post:
        """The slot's post as it goes out on a network in a language (None: the post's own language):
        its own variant, else the same post."""
        return self.variants.get((post.slot.id, network, lang or post.lang), post)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_schedule(
    path: Path,
    display_name: str | None = None,
    *,
    store: Store | None = None,
    read_media: MediaReader | None = None,
    draw_card: CardDrawer | None = None,
) -> Report:
    """Read, render and check a schedule; never raises for a problem in the files.

    Every problem that can be found is listed: a part that cannot be read is reported and
    the rest is checked around it (every template is rendered, even for a slot whose time
    is wrong). With `store`, also what loading into it would do wrong (a renamed event).
    With `read_media`, each image file is re-encoded as it will be posted (and the posts
    carry the result); without it, only its presence and its first bytes are looked at.
    Ctrl-C is held until a point between two steps, so it is never lost in a finalizer.
    """
    name = display_name or display_path(path)
    with deferred_interrupts():
        report = _check(path, name, store, read_media, draw_card)
        interrupt_point()
    report.problems.sort(key=lambda p: (p.file != name, p.file, p.line, p.severity, p.message))
    return report


def _check(
    path: Path, name: str, store: Store | None, read_media: MediaReader | None, draw_card: CardDrawer | None = None
) -> Report:
    schedule, problems = read_schedule_partial(path, name)
    report = Report(schedule if schedule is not None and schedule.complete else None, list(problems))
    if schedule is None:
        return report
    interrupt_point()
    if schedule.templates_dir.is_dir():  # else that is the one problem to report
        composer = Composer(schedule)
        report.problems.extend(composer.check_templates())
        seen_problems = set(report.problems)
        files: dict[Path, EncodedImage | str | None] = {}  # each file read once, however many slots show it
        for slot in schedule.slots:
            interrupt_point()
            wanted = _deliveries(schedule, slot)
            base = wanted[0]
            result = composer.compose(slot, *base)
            if isinstance(result, Problem):
                if result not in seen_problems:
                    seen_problems.add(result)
                    report.problems.append(result)
                continue
            if slot.provisional:  # its template renders; its time or its segment is wrong
                continue
            variants: dict[tuple[str, str], Post] = {}
            for network, lang in wanted[1:]:
                other = composer.compose(slot, network, lang)
                if isinstance(other, Problem):
                    if other not in seen_problems:
                        seen_problems.add(other)
                        report.problems.append(other)
                elif other.text != result.text or other.lang != result.lang:
                    variants[network, lang] = report.variants[slot.id, network, lang] = other
            report.problems.extend(_check_post(schedule, composer, result, variants))
            report.problems.extend(_check_translations(schedule, composer, result, variants))
            if slot.media or slot.card:
                result, found = _check_media(schedule, composer, result, read_media, files, draw_card)
                report.problems.extend(found)
            report.posts.append(result)
        report.problems.extend(_check_duplicates(schedule, report.posts))
        report.problems.extend(_check_timing(schedule, report.posts))
    if not schedule.complete:
        return report
    if store is not None:
        report.problems.extend(stored_event_problems(schedule, store))
    report.cost = CostEstimate(
        posts=len(report.posts),
        posts_with_url=sum(1 for p in report.posts if extract_urls(p.text)),
        prices=PRICES,
    )
    report.problems.extend(_check_budget(schedule, report.posts))
    return report


def _deliveries(schedule: Schedule, slot: Slot) -> list[tuple[str, str]]:
    """The (network, language) pairs a slot's accounts need, the slot's base post first: in the event's
    language where an account has it, and on X where an account in that language is on X."""
    pairs = list(dict.fromkeys((a.network, a.lang) for a in schedule.accounts_of(slot)))
    if not pairs:
        return [("x", schedule.event.lang)]
    langs = [lang for _, lang in pairs]
    lang = schedule.event.lang if schedule.event.lang in langs else langs[0]
    base = ("x", lang) if ("x", lang) in pairs else next(p for p in pairs if p[1] == lang)
    return [base, *(p for p in pairs if p != base)]


def plan_costs_by_day(schedule: Schedule, posts: list[Post], prices: Prices | None = None) -> dict[date, Cost]:
    """The plan's X cost per day of the event (its zone, as a budget counts days), each post with its alt texts."""
    zone = schedule.event.zone
    days: dict[date, list[Post]] = {}
    for post in posts:
        days.setdefault(budget_day(post.slot.at, zone), []).append(post)
    return {
        day: cost_of_posts((p.text for p in group), sum(len(p.slot.media) for p in group), prices or PRICES)
        for day, group in sorted(days.items())
    }


def _check_budget(schedule: Schedule, posts: list[Post]) -> list[Problem]:
    """A warning for each day whose planned posts cost more on X than the event's budget allows."""
    budget = schedule.event.budget
    if budget is None:
        return []
    problems = []
    for day, cost in plan_costs_by_day(schedule, posts).items():
        if not budget.allows(cost.total):
            problems.append(
                Problem(
                    schedule.display_name,
                    budget.line,
                    f"on {day:%A %Y-%m-%d} the plan costs {cost.describe()}, more than budget.x_usd_per_day "
                    f"(${budget.x_usd_per_day:.2f}): raise budget.x_usd_per_day or post fewer links/images that day "
                    "(past the budget, `run` posts only what a person sends with post-now)",
                    "warning",
                )
            )
    return problems


def stored_event_problems(schedule: Schedule, store: Store) -> list[Problem]:
    """What loading this schedule into `store` would do wrong.

    Drafts belong to an event id: a schedule whose event was renamed would be planned
    again beside the drafts of its old name, every post twice. `load` refuses a new id for
    a file it loaded before (an error here too); an event of another file with the same
    account and start is most likely a copy (a warning).
    """
    event = schedule.event
    path = str(schedule.path.resolve())
    start = event.start.astimezone(UTC)
    line = event.id_line or event.line
    problems = []
    for stored in store.events():
        if stored.id == event.id:
            continue
        states = store.count_by_state(stored.id)
        drafts, posted = sum(states.values()), states.get("posted", 0)
        held = f'event "{stored.id}" ({drafts} drafts, {posted} posted)'
        if stored.schedule_path == path:
            problems.append(
                Problem(
                    schedule.display_name,
                    line,
                    f'event id "{event.id}" is new to the store {store.display}, which holds {held} from this file: '
                    f'loading would plan every post a second time; put back "id: {stored.id}", or load the '
                    "renamed event into a new store with --db",
                )
            )
        elif stored.starts_at == start and stored.account.lower() == event.account.lower():
            problems.append(
                Problem(
                    schedule.display_name,
                    line,
                    f"the store {store.display} also holds {held} for {event.account} at the same start, from "
                    f"{stored.schedule_path}: if it is this event under another id, loading plans every post "
                    "a second time",
                    "warning",
                )
            )
    return problems


def _check_post(
    schedule: Schedule, composer: Composer, post: Post, variants: dict[tuple[str, str], Post] | None = None
) -> list[Problem]:
    """What each network would refuse in a slot's posts (`variants`: its other posts by network and language)."""
    slot, file = post.slot, schedule.display_name
    template = composer.shown_path(slot.template)
    problems = []
    if not post.text:
        problems.append(Problem(file, slot.line, f'slot "{slot.id}": the post is empty ({template} wrote nothing)'))
        return problems
    accounts = schedule.accounts_of(slot)
    several = len(schedule.languages) > 1  # then each message says which language's post it is about
    for account in accounts:
        own = (variants or {}).get((account.network, account.lang), post)
        written = composer.shown_path(composer.template_for(slot.template, account.network, own.lang))
        for problem in network_problems(own.text, account):
            shorten = f"shorten {written} or the slot's vars"
            where = f"{account.display} ({account.lang})" if several else account.display
            problems.append(Problem(file, slot.line, f'slot "{slot.id}" to {where}: {problem}: {shorten}'))
    on_x: dict[str, Post] = {}  # each language's post on X once, however many X accounts carry it
    for account in accounts:
        if account.network == "x":
            on_x.setdefault(account.lang, (variants or {}).get(("x", account.lang), post))
    for own in on_x.values():
        written = composer.shown_path(composer.template_for(slot.template, "x", own.lang))
        who = f'slot "{slot.id}" in {own.lang}' if several and own is not post else f'slot "{slot.id}"'
        problems.extend(_check_x_post(schedule, own, who, written))
    if not slot.omit_hashtags:
        return problems
    needed = set()
    for lang in {a.lang for a in accounts} or {post.lang}:
        needed |= {t.lower() for t in wanted_hashtags(schedule, post.segment, lang=lang)}
    for tag in slot.omit_hashtags:
        if tag.lower() not in needed:
            problems.append(
                Problem(
                    file,
                    slot.line,
                    f'slot "{slot.id}" omits {tag}, which its posts do not need anyway',
                    "warning",
                )
            )
    return problems


def _check_x_post(schedule: Schedule, post: Post, who: str, template: str) -> list[Problem]:
    """What X would refuse in one post (its weighted length, its characters), and the hashtags it lacks."""
    slot, file = post.slot, schedule.display_name
    problems = []
    length = post.parsed.weighted_length
    if length > MAX_WEIGHTED_LENGTH:
        problems.append(
            Problem(
                file,
                slot.line,
                f"{who}: the post is {length}/{MAX_WEIGHTED_LENGTH} weighted characters, "
                f"{length - MAX_WEIGHTED_LENGTH} too many: shorten {template} or the slot's vars",
            )
        )
    elif not post.parsed.valid:
        bad = sorted({f"U+{ord(c):04X}" for c in post.text if c in "\ufffe\ufeff\uffff"})
        problems.append(Problem(file, slot.line, f"{who}: the post contains characters X refuses ({', '.join(bad)})"))
    origin = _hashtag_origins(schedule, post)
    for tag in post.missing:
        problems.append(
            Problem(
                file,
                slot.line,
                f"{who}: the post lacks {tag} ({origin.get(tag.lower(), 'required')}) and it does not "
                f"fit ({length}/{MAX_WEIGHTED_LENGTH} without it): shorten {template} or opt out with "
                f'omit_hashtags: {{"{tag}": "the reason"}}',
            )
        )
    return problems


def _check_translations(
    schedule: Schedule, composer: Composer, post: Post, variants: dict[tuple[str, str], Post]
) -> list[Problem]:
    """A warning where a slot's post in one language has the very words of its post in another: most
    likely that language's template is missing and the default one wrote both."""
    problems = []
    told: set[str] = set()
    posts = [post, *variants.values()]
    for i, own in enumerate(posts):
        same = next((o for o in posts[:i] if o.lang != own.lang and o.text == own.text), None)
        if same is None or own.lang in told:
            continue
        told.add(own.lang)
        base = post.slot.template.removesuffix(".j2")
        used = composer.shown_path(composer.template_for(post.slot.template, own.network, own.lang))
        problems.append(
            Problem(
                schedule.display_name,
                post.slot.line,
                f'slot "{post.slot.id}": its post in {own.lang} is word for word its post in {same.lang} '
                f"({used} wrote both): write {base}.{own.lang}.j2 beside it, or use {{{{ lang }}}} in the template",
                "warning",
            )
        )
    return problems


def network_problems(text: str, account: Account) -> list[str]:
    """What Bluesky or Mastodon would refuse in this text (X's rules are checked with its weights above)."""
    if account.network == "bluesky":
        from .bluesky import weight_problems

        return weight_problems(text)
    if account.network == "mastodon":
        from .mastodon import DEFAULT_MAX_CHARS, problems

        return problems(text, account.max_chars or DEFAULT_MAX_CHARS)
    return []


def delivery_lengths(post: Post, account: Account) -> tuple[int, int]:
    """(length, limit) of a post on one account, each counted by its network's own rule."""
    text = post.text
    if account.network == "bluesky":
        from .bluesky import MAX_GRAPHEMES, length

        return length(text), MAX_GRAPHEMES
    if account.network == "mastodon":
        from .mastodon import DEFAULT_MAX_CHARS, length as mastodon_length

        return mastodon_length(text), account.max_chars or DEFAULT_MAX_CHARS
    return post.weighted_length, MAX_WEIGHTED_LENGTH  # X's count: the composer parsed it once already


def _check_media(
    schedule: Schedule,
    composer: Composer,
    post: Post,
    read: MediaReader | None,
    files: dict[Path, EncodedImage | str | None],
    draw_card: CardDrawer | None = None,
) -> tuple[Post, list[Problem]]:
    """The post with its images (alt text rendered, files read), and what is wrong with them."""
    slot, file = post.slot, schedule.display_name
    problems: list[Problem] = []
    images: list[PlannedImage] = []
    for number, (image, alt_failed) in enumerate(composer.plan_media(post), 1):
        label = f'slot "{slot.id}" media {number}'
        key = image.path.resolve()
        if key not in files:
            files[key] = _read_image(image, read)
        found = files[key]
        if isinstance(found, str):
            problems.append(Problem(file, image.file_line, f"{label} file {found}"))
        elif found is not None:
            image = replace(image, encoded=found)
        if alt_failed is not None:
            problems.append(alt_failed)
        else:
            wrong = alt_problem(image.alt, post.text)
            if wrong:
                said = (
                    f"{label} ({image.file}) {wrong}"
                    if wrong.startswith("has ")
                    else f"{label} ({image.file}): {wrong}"
                )
                problems.append(Problem(file, image.alt_line, said))
        images.append(image)
    card = _plan_card(schedule, composer, post, draw_card, problems)
    if card is not None:
        images.append(card)
    together = count_problem([i.kind for i in images])
    if together:
        problems.append(Problem(file, slot.media_line, f'slot "{slot.id}" media: {together}'))
    return replace(post, media=tuple(images)), problems


def _plan_card(
    schedule: Schedule, composer: Composer, post: Post, draw: CardDrawer | None, problems: list[Problem]
) -> PlannedImage | None:
    """The slot's quote card as one of its images (drawn when `draw` is given), its alt text the quote and
    speaker; what is wrong with it goes to `problems`."""
    ref = post.slot.card
    planned = composer.plan_card(post)
    if ref is None or planned is None:
        return None
    if isinstance(planned, Problem):
        problems.append(planned)
        return None
    label = f'slot "{post.slot.id}" card'
    wrong = card_problems(planned.quote, planned.speaker)
    for problem in wrong:
        problems.append(Problem(schedule.display_name, ref.quote_line if "quote" in problem else ref.speaker_line,
                                f"{label}: {problem}"))  # fmt: skip
    if wrong:
        return None
    alt = card_alt(planned.quote, planned.speaker, planned.event)
    image = PlannedImage(CARD_FILE, schedule.path, alt, ref.line, ref.line, ref.quote_line)
    if draw is None:
        return replace(image, encoded=_UndrawnCard())
    try:
        return replace(image, encoded=draw(planned))
    except MediaError as exc:
        problems.append(Problem(schedule.display_name, ref.line, f"{label} cannot be drawn: {exc}"))
        return None


@dataclass(frozen=True)
class _UndrawnCard:
    """A card `check` did not draw (it draws when it plans for posting): a PNG, counted as one image."""

    data: bytes = b""
    kind: str = "image/png"
    width: int = 0
    height: int = 0


def _read_image(image: PlannedImage, read: MediaReader | None) -> EncodedImage | str | None:
    """What the image file becomes when posted, or why it cannot be (a sentence after its name);
    None when, without a reader, it looks like an image."""
    name = image.file
    if read is not None:
        try:
            return read(image.path, name)
        except MediaError as exc:
            return str(exc)
    try:  # no reader: as far as a look at the file goes, without decoding it
        if not image.path.is_file():
            return f"{name} does not exist" if not image.path.exists() else f"{name} is not a regular file"
        if image.path.stat().st_size > MAX_INPUT_BYTES:
            return f"{name} is larger than the {megabytes(MAX_INPUT_BYTES)} livetweet takes: export it smaller"
        with image.path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        return f"{name} cannot be read: {exc.strerror or exc}"
    if sniff(head) is None:
        return (
            f"{name} is not an image livetweet can post: its contents are not JPEG, PNG, WebP or GIF, "
            "whatever its name says"
        )
    return None


def _hashtag_origins(schedule: Schedule, post: Post) -> dict[str, str]:
    origins = {t.lower(): "required by the event" for t in schedule.event.hashtags_in(post.lang)}
    for number in post.segment.objectives:
        objective = schedule.objectives.get(number)
        for tag in objective.hashtags_in(post.lang) if objective else ():
            origins.setdefault(tag.lower(), f"for objective {number}")
    return origins


def _check_duplicates(schedule: Schedule, posts: list[Post]) -> list[Problem]:
    problems = []
    first: dict[str, Post] = {}
    for post in sorted(posts, key=lambda p: p.slot.line):
        key = " ".join(post.text.split()).casefold()
        if key in first:
            other = first[key].slot
            problems.append(
                Problem(
                    schedule.display_name,
                    post.slot.line,
                    f'slot "{post.slot.id}" has the same text as slot "{other.id}" (line {other.line}): '
                    "X refuses duplicate posts",
                )
            )
        else:
            first[key] = post
    return problems


def _check_timing(schedule: Schedule, posts: list[Post]) -> list[Problem]:
    problems = []
    ordered = sorted(posts, key=lambda p: (p.slot.at, p.slot.line))
    file = schedule.display_name
    for before, after in pairwise(ordered):
        gap = after.slot.at - before.slot.at
        if gap < MIN_GAP:
            problems.append(
                Problem(
                    file,
                    after.slot.line,
                    f'slot "{after.slot.id}" is due {int(gap.total_seconds())} s after slot "{before.slot.id}": '
                    "leave at least 60 s between posts",
                    "warning",
                )
            )
    lo = 0
    reported_until = None
    for hi, post in enumerate(ordered):
        while post.slot.at - ordered[lo].slot.at >= RATE_WINDOW:
            lo += 1
        count = hi - lo + 1
        if count > RATE_LIMIT and (reported_until is None or ordered[lo].slot.at >= reported_until):
            start = ordered[lo].slot.at
            reported_until = start + RATE_WINDOW
            problems.append(
                Problem(
                    file,
                    post.slot.line,
                    f"{count} posts between {start:%H:%M:%S} and {post.slot.at:%H:%M:%S %Z}: X allows "
                    f"{RATE_LIMIT} in any 15 minutes and will refuse the rest",
                    "warning",
                )
            )
    return problems

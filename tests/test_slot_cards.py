"""Quote cards planned in the schedule (issue 14): a slot's `card:` is drawn at load as one of its
images, with the quote and speaker as its alt text, checked with FILE:LINE, shown in preview, and
posted once with its alt text to the simulated X."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from PIL import Image

from livetweet.plan.check import check_schedule

from .support.cli import cli
from .support.events import MINI_SCHEDULE, write_event
from .support.world import HELLO_AT, World

CARD = """    card:
      quote: "{{ vars.quote }}"
      speaker: Amy Pope, IOM
      background: "#003366"
"""
SCHEDULE = MINI_SCHEDULE.replace(
    "    at: opening.start + 1m\n",
    '    at: opening.start + 1m\n    vars: {quote: "Migration is a fact of life"}\n' + CARD,
)
CARD_LINE = SCHEDULE.splitlines().index("    card:") + 1


def lines(path: Path) -> list[str]:
    return [f"{p.line}: {p.message}" for p in check_schedule(path).problems]


def test_a_slot_card_is_checked_and_previewed_as_one_of_its_images(tmp_path: Path) -> None:
    path = write_event(tmp_path, SCHEDULE)
    report = check_schedule(path)
    assert report.ok, report.problems
    shown = json.loads(cli("preview", str(path), "--json").stdout)
    hello = next(p for p in shown if p["slot"] == "hello")
    [card] = hello["media"]
    assert card["file"] == "quote card" and card["type"] == "image/png"
    assert card["alt"] == "Quote card: “Migration is a fact of life” — Amy Pope, IOM, at Demo event"
    assert (card["width"], card["height"]) == (1200, 675)


def test_a_bad_card_is_refused_with_its_line(tmp_path: Path) -> None:
    empty = write_event(tmp_path, SCHEDULE.replace("{{ vars.quote }}", "{{ '' }}"))  # renders to nothing
    assert f'{CARD_LINE + 1}: slot "hello" card: a quote card needs the quote: what the speaker said' in lines(empty)
    (tmp_path / "b").mkdir()
    colour = write_event(tmp_path / "b", SCHEDULE.replace('"#003366"', "navy"))
    assert f'{CARD_LINE + 3}: slot "hello" card background "navy" is not a colour: write one like "#0B57D0"' in lines(
        colour
    )
    (tmp_path / "c").mkdir()
    long = write_event(tmp_path / "c", SCHEDULE.replace("Migration is a fact of life", "x" * 281))
    assert any("281 characters: at most 280 fit" in line for line in lines(long))
    (tmp_path / "d").mkdir()
    unknown = write_event(tmp_path / "d", SCHEDULE.replace("{{ vars.quote }}", "{{ vars.nothing.here }}"))
    assert any(line.startswith(f"{CARD_LINE + 1}: ") and "card quote" in line for line in lines(unknown))


def test_a_slot_card_is_drawn_at_load_and_posted_once_with_its_alt_text(tmp_path: Path) -> None:
    world = World(tmp_path, SCHEDULE)
    try:
        hello = world.draft("hello")
        [card] = hello.media
        assert card.kind == "image/png" and card.alt.startswith("Quote card: “Migration is a fact of life”")
        data = world.store.media_data(card.sha256)
        assert data is not None
        (tmp_path / "card.png").write_bytes(data[0])
        with Image.open(tmp_path / "card.png") as image:
            assert image.size == (1200, 675) and image.getpixel((5, 5))[:3] == (0, 0x33, 0x66)
        world.at(HELLO_AT).at(HELLO_AT + timedelta(seconds=5))
        [tweet] = world.x.posts()
        assert tweet.text == world.draft("hello").text and len(tweet.media_ids) == 1
        uploaded = world.x.state.media[tweet.media_ids[0]]
        assert uploaded.alt == card.alt and uploaded.attached_to == [tweet.id]
        world.service.load(Path(world.store.event("demo").schedule_path))  # type: ignore[union-attr]
        assert world.draft("hello").media == (card,)  # drawn again the same: nothing changed
    finally:
        world.close()

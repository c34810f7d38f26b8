"""Images in the schedule, the day before: `check` names every bad one with FILE:LINE, `preview` shows them.

The schedule is MINI_SCHEDULE (tests/support/events.py) with a `media` list on its first slot,
"hello", whose post is "Welcome to Demo event!" (then #GCM). Line 27 is that slot's `at`, so its
media list starts on line 28 and its first image on line 29.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .support.cli import cli
from .support.events import MINI_SCHEDULE, write_event
from .support.images import gif, photo, png, windows_program

S = "schedules/demo.yaml"
AT_HELLO = "    at: opening.start + 1m\n"
PANEL_ALT = "Five speakers at a long table under a blue banner"


def event_with_media(folder: Path, media: str, files: dict[str, bytes] | None = None) -> None:
    """The mini event with `media` (YAML, indented as slot keys) on slot "hello", and the files under schedules/."""
    assert AT_HELLO in MINI_SCHEDULE
    write_event(folder, MINI_SCHEDULE.replace(AT_HELLO, AT_HELLO + media, 1))
    for name, data in (files if files is not None else {"media/panel.jpg": photo()}).items():
        path = folder / "schedules" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def one_image(alt_line: str = f"        alt: {PANEL_ALT}\n", file: str = "media/panel.jpg") -> str:
    return f"    media:\n      - file: {file}\n{alt_line}"


def problems(folder: Path) -> list[str]:
    """`livetweet check`'s FILE:LINE lines (errors only), and that it failed."""
    result = cli("check", S, cwd=folder)
    assert result.returncode == 1, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if re.match(rf"{S}:\d+: (?!warning:)", line)]


def test_a_slot_with_a_good_image_checks_clean_and_previews_it(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image())
    result = cli("check", S, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "2 posts checked: no problems." in result.stdout
    preview = cli("preview", S, cwd=tmp_path)
    assert "    image 1: media/panel.jpg, JPEG 64x48, " in preview.stdout
    assert f"      alt: {PANEL_ALT}" in preview.stdout


def test_preview_json_describes_each_image_as_it_will_be_posted(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(), {"media/panel.jpg": photo(size=(5000, 2500))})
    result = cli("preview", S, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    posts = json.loads(result.stdout)
    [image] = posts[0]["media"]
    assert set(image) == {"file", "alt", "bytes", "width", "height", "type"}
    assert (image["file"], image["alt"], image["type"]) == ("media/panel.jpg", PANEL_ALT, "image/jpeg")
    assert (image["width"], image["height"]) == (4096, 2048)  # scaled down to X's size, as it will go out
    assert 0 < image["bytes"] < 5_000_000
    assert posts[1]["media"] == []


def test_alt_text_may_use_the_templates_variables(tmp_path: Path) -> None:
    alt = '        alt: "The {{ event.title }} banner, during {{ segment.title | lower }}"\n'
    event_with_media(tmp_path, one_image(alt))
    posts = json.loads(cli("preview", S, "--json", cwd=tmp_path).stdout)
    assert posts[0]["media"][0]["alt"] == "The Demo event banner, during opening"


def test_a_missing_file(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(file="media/gone.jpg"))
    assert problems(tmp_path) == [f'{S}:29: slot "hello" media 1 file media/gone.jpg does not exist']


def test_a_file_that_is_not_an_image_whatever_its_name(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(file="media/setup.jpg"), {"media/setup.jpg": windows_program()})
    assert problems(tmp_path) == [
        f'{S}:29: slot "hello" media 1 file media/setup.jpg is not an image livetweet can post: its contents '
        "are not JPEG, PNG, WebP or GIF, whatever its name says"
    ]


def test_a_file_too_big_to_take(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(file="media/raw.jpg"), {})
    (tmp_path / "schedules" / "media").mkdir()
    with (tmp_path / "schedules" / "media" / "raw.jpg").open("wb") as f:
        f.truncate(31_000_000)  # sparse: nothing written, nothing read
    assert problems(tmp_path) == [
        f'{S}:29: slot "hello" media 1 file media/raw.jpg is larger than the 30 MB livetweet takes: export it smaller'
    ]


def test_a_damaged_image(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(), {"media/panel.jpg": photo()[:300]})
    assert problems(tmp_path) == [
        f'{S}:29: slot "hello" media 1 file media/panel.jpg cannot be read as a JPEG image: the file is damaged '
        "or incomplete"
    ]


def test_more_than_four_images(tmp_path: Path) -> None:
    items = "".join(f"      - file: media/p{n}.png\n        alt: Chart number {n}\n" for n in range(1, 6))
    event_with_media(tmp_path, "    media:\n" + items, {f"media/p{n}.png": png() for n in range(1, 6)})
    assert problems(tmp_path) == [f'{S}:28: slot "hello" media: a post carries at most 4 images, not 5']


def test_a_gif_goes_alone(tmp_path: Path) -> None:
    items = "      - file: media/clap.gif\n        alt: People applauding\n" + (
        f"      - file: media/panel.jpg\n        alt: {PANEL_ALT}\n"
    )
    event_with_media(tmp_path, "    media:\n" + items, {"media/clap.gif": gif(), "media/panel.jpg": photo()})
    assert problems(tmp_path) == [
        f'{S}:28: slot "hello" media: a post carries one GIF on its own, or up to 4 images, not a GIF with other images'
    ]


def test_alt_text_missing(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(alt_line=""))
    assert problems(tmp_path) == [
        f'{S}:29: slot "hello" media 1 (media/panel.jpg) has no alt text: describe what the image shows, for people '
        "who cannot see it (up to 1,000 characters)"
    ]


def test_alt_text_empty(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(alt_line='        alt: ""\n'))
    assert problems(tmp_path) == [
        f'{S}:30: slot "hello" media 1 (media/panel.jpg) has no alt text: describe what the image shows, for people '
        "who cannot see it (up to 1,000 characters)"
    ]


def test_alt_text_too_long(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(alt_line=f"        alt: {'A long description. ' * 60}\n"))
    assert problems(tmp_path) == [
        f'{S}:30: slot "hello" media 1 (media/panel.jpg): alt text is 1,199 characters: X allows 1,000; shorten it '
        "by 199"
    ]


def test_alt_text_that_copies_the_post(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(alt_line="        alt: Welcome to Demo event! #GCM\n"))
    assert problems(tmp_path) == [
        f'{S}:30: slot "hello" media 1 (media/panel.jpg): alt text repeats the post\'s text: describe what the image '
        "shows instead"
    ]


@pytest.mark.parametrize("opening", ["Image of", "picture of", "A photo of"])
def test_alt_text_that_starts_by_saying_it_is_an_image(tmp_path: Path, opening: str) -> None:
    event_with_media(tmp_path, one_image(alt_line=f"        alt: {opening} the panel on stage\n"))
    assert problems(tmp_path) == [
        f'{S}:30: slot "hello" media 1 (media/panel.jpg): alt text starts with "{opening}": a screen reader already '
        "says it is an image; say what it shows instead"
    ]


def test_alt_text_with_an_unknown_variable(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(alt_line='        alt: "The {{ speaker }} on stage"\n'))
    assert problems(tmp_path) == [
        f"{S}:30: undefined template variable: 'speaker' is undefined (in slot \"hello\" media 1 alt)"
    ]


def test_an_image_written_without_its_alt_text_mapping(tmp_path: Path) -> None:
    event_with_media(tmp_path, "    media: [media/panel.jpg]\n")
    assert problems(tmp_path) == [
        f'{S}:28: slot "hello" media 1 "media/panel.jpg" must give the file and its alt text, like '
        '{file: media/panel.jpg, alt: "The five panellists on stage"}'
    ]


def test_an_unknown_key_in_an_image(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(alt_line=f"        text: {PANEL_ALT}\n"))
    assert problems(tmp_path) == [f'{S}:30: unknown key "text" in slot "hello" media 1 (known keys: file, alt)']


def test_check_lists_every_bad_image_at_once(tmp_path: Path) -> None:
    media = (
        "    media:\n"
        "      - file: media/gone.jpg\n"
        "        alt: Image of nothing\n"
        "      - file: media/setup.jpg\n"
        f"        alt: {PANEL_ALT}\n"
        "      - file: media/panel.jpg\n"
    )
    event_with_media(tmp_path, media, {"media/setup.jpg": windows_program(), "media/panel.jpg": photo()})
    assert problems(tmp_path) == [
        f'{S}:29: slot "hello" media 1 file media/gone.jpg does not exist',
        f'{S}:30: slot "hello" media 1 (media/gone.jpg): alt text starts with "Image of": a screen reader already '
        "says it is an image; say what it shows instead",
        f'{S}:31: slot "hello" media 2 file media/setup.jpg is not an image livetweet can post: its contents are not '
        "JPEG, PNG, WebP or GIF, whatever its name says",
        f'{S}:33: slot "hello" media 3 (media/panel.jpg) has no alt text: describe what the image shows, for people '
        "who cannot see it (up to 1,000 characters)",
    ]


def test_check_json_carries_the_image_problems(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(file="media/gone.jpg"))
    result = cli("check", S, "--json", cwd=tmp_path)
    assert result.returncode == 1
    [error] = json.loads(result.stdout)["errors"]
    assert (error["line"], error["message"]) == (29, 'slot "hello" media 1 file media/gone.jpg does not exist')


def test_preview_refuses_a_schedule_with_a_bad_image(tmp_path: Path) -> None:
    event_with_media(tmp_path, one_image(file="media/gone.jpg"))
    result = cli("preview", S, cwd=tmp_path)
    assert result.returncode == 1
    assert f'{S}:29: slot "hello" media 1 file media/gone.jpg does not exist' in result.stderr

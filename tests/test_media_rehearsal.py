"""Photos end to end (issue 14): a rehearsal of the roundtable with its two planned images, a
composed photo, a quote card and a photo sent by direct message reshared, each at the
simulated X exactly once, attached to its own post, with its alt text; the first upload fails
and is retried. Real processes over real HTTP: `livetweet run --rehearse` with its console."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from livetweet.fakes import add_dm
from livetweet.store import Store

from .support.cli import cli
from .support.console import PASSWORD, Console
from .support.events import REPO
from .support.waiting import wait_for

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    # The announcement 10 s after the console starts, the opening 16 s later: the composed posts
    # fall between the two, far enough ahead of the event's clock to be saved on a busy machine.
    c = Console(tmp_path, speed=60, start_in=10)
    yield c
    c.stop()


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), colour).save(out, "JPEG")
    return out.getvalue()


def test_every_image_reaches_x_once_on_its_own_post_with_its_alt_text(console: Console) -> None:
    console.x.inject_fault("500", route="POST /2/media/upload")  # the first upload fails
    db = f"sqlite:///{console.db}"
    for slot in ("announcement", "opening"):
        assert cli("--db", db, "approve", str(console.draft(slot)["id"]), "--as", "alice", cwd=REPO).returncode == 0

    session = requests.Session()
    page = session.post(console.url + "/login", data={"name": "alice", "password": PASSWORD}, timeout=30)
    csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    composed = {
        "text": "The room is full for the roundtable",
        "alt1": "Rows of delegates seated in a conference room, facing a panel",
        "when": "at",
        "at": "13:20",
        "approve": "1",
        "csrf": csrf,
    }
    answer = session.post(
        console.url + "/compose", data=composed, files={"image1": ("room.jpg", jpeg((40, 90, 160)), "image/jpeg")}
    )
    assert answer.ok and "Not saved" not in answer.text
    card = {
        "text": "Heard at the roundtable",
        "card_quote": "Skills partnerships work when employers are at the table",
        "card_speaker": "A panellist",
        "when": "at",
        "at": "13:22",
        "approve": "1",
        "csrf": csrf,
    }
    answer = session.post(console.url + "/compose", data=card)
    assert answer.ok and "Not saved" not in answer.text

    add_dm(console.x.state, "speaker_one", "Our panel this afternoon", [jpeg((160, 60, 30))])
    store = Store(db, create=False)
    try:
        wait_for(lambda: any(m.media for m in store.messages()), "the direct message's photo")
        message = next(m for m in store.messages() if m.media)
        dm_alt = "Three speakers on a panel, one holding a microphone"
        answer = session.post(
            console.url + f"/inbox/{message.id}/reshare", data={"csrf": csrf, "alt1": dm_alt}, timeout=30
        )
        assert answer.ok
        reshared = next(d for d in console.drafts() if d["slot"].startswith("dm-"))
        assert cli("--db", db, "approve", str(reshared["id"]), "--as", "alice", cwd=REPO).returncode == 0
        with_media = {"announcement", "opening", reshared["slot"]} | {
            d["slot"] for d in console.drafts() if d["slot"].startswith("compose-")
        }
        assert len(with_media) == 5

        def all_posted() -> bool:
            states = {d["slot"]: d["state"] for d in console.drafts()}
            return all(states[s] == "posted" for s in with_media)

        wait_for(all_posted, "the five posts with images", timeout=120)
    finally:
        store.close()

    posts = console.x.posts()
    texts = [t.text for t in posts]
    assert len(texts) == len(set(texts))  # nothing posted twice
    attached = [m for m in console.x.uploads() if m.attached_to]
    assert len(attached) == 5 and all(len(m.attached_to) == 1 for m in attached)  # each image once
    by_text = {t.text: console.x.media_of(t) for t in posts}
    alts = {text.split("\n")[0]: [m.alt for m in media] for text, media in by_text.items() if media}
    assert alts["The room is full for the roundtable"] == [composed["alt1"]]
    assert alts["Heard at the roundtable"][0].startswith("Quote card: “Skills partnerships work")
    assert [dm_alt] in alts.values()
    assert len(alts) == 5 and all(len(a) == 1 and a[0] for a in alts.values()), alts  # one image each, described
    assert not console.x.state.faults.get("POST /2/media/upload")  # the failed upload happened, and was retried

"""Images for the media tests, made with Pillow here (no binary files in the repository), and a
draft that carries them, kept in the store as livetweet keeps every image (re-encoded)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from PIL import Image

from livetweet.draft import Attachment, Draft
from livetweet.media import keep
from livetweet.store import NewDraft

from .world import World

GPS_IFD = 0x8825  # EXIF's pointer to the GPS block
CAMERA_SERIAL = 0xA431  # EXIF BodySerialNumber


def jpeg(colour: str = "steelblue", size: tuple[int, int] = (640, 480), gps: bool = False) -> bytes:
    """A JPEG photo; with `gps`, EXIF that gives away where it was taken and the camera's serial."""
    image = Image.new("RGB", size, colour)
    out = io.BytesIO()
    if gps:
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"  # Make
        exif.get_ifd(0x8769)[CAMERA_SERIAL] = "SN-0042-SECRET"
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (46.0, 13.0, 30.0), 3: "E", 4: (6.0, 8.0, 30.0)})
        image.save(out, "JPEG", quality=90, exif=exif)
    else:
        image.save(out, "JPEG", quality=90)
    return out.getvalue()


def png(colour: str = "orange", size: tuple[int, int] = (320, 240)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def gif(frames: int = 3, size: tuple[int, int] = (120, 90)) -> bytes:
    """An animated GIF of `frames` frames."""
    colours = ["red", "green", "blue", "yellow", "purple"]
    images = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=200, loop=0)
    return out.getvalue()


def photo_draft(
    w: World,
    slot: str,
    text: str,
    images: list[tuple[bytes, str]],
    at: datetime,
    valid_for: timedelta = timedelta(minutes=5),
    approve: bool = True,
) -> Draft:
    """A draft with images (bytes, alt text), kept and re-encoded as livetweet keeps them, approved by alice."""
    with w.store.begin() as conn:
        media: tuple[Attachment, ...] = tuple(
            keep(w.store, conn, data, f"photo-{n}", alt) for n, (data, alt) in enumerate(images, 1)
        )
        new = NewDraft(
            slot=slot,
            segment="opening",
            source="compose",
            template="compose",
            text=text,
            planned_text=text,
            weighted_length=len(text),
            hashtags=("#GCM",),
            wanted_hashtags=("#GCM",),
            planned_at=at,
            at=at,
            valid_until=at + valid_for,
            reply_to=None,
            media=media,
        )
        draft = w.store.create_drafts(
            conn, "demo", [new], by="alice", at=w.clock.now(), cause="compose", action="compose"
        )[0]
    if approve:
        w.service.approve(draft.id, "alice")
    return w.store.get(draft.id)

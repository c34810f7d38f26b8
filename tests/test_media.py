"""Images made fit to post (livetweet.media): the metadata goes, the orientation is applied, X's limits hold,
and what is not an image is refused, with a sentence naming the file. Then drafts with images: loaded from
the schedule, composed and edited (the service and `livetweet compose/edit --media FILE --alt TEXT`), and
never approved without alt text."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from livetweet.clock import FixedClock
from livetweet.draft import Actor, Draft, DraftState
from livetweet.errors import MediaError, MediaRefused
from livetweet.media import keep, reencode, reencode_file
from livetweet.plan.media import MAX_IMAGE_BYTES, MAX_INPUT_BYTES, MAX_SIDE
from livetweet.service import Service, compose_draft
from livetweet.service.actions import approve_draft
from livetweet.store import Store

from .support.cli import cli
from .support.events import REPO, X_ONLY_SCHEDULE, write_event
from .support.images import CAMERA_SERIAL, gif, photo, png, png_header_only, windows_program


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- metadata -----------------------------------------------------------------------------------------


def test_the_original_carries_the_metadata_these_tests_look_for() -> None:
    original = opened(photo())
    exif = original.getexif()
    assert exif[ExifTags.Base.Make] == "Livetweet Camera Co."
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.BodySerialNumber] == CAMERA_SERIAL
    assert original.info["comment"] == b"taken by Jane Doe"


def test_a_reencoded_photo_keeps_no_exif_gps_serial_or_comment() -> None:
    encoded = reencode(photo(), "panel.jpg")
    back = opened(encoded.data)
    assert encoded.kind == "image/jpeg" and back.format == "JPEG"
    assert dict(back.getexif()) == {}
    assert dict(back.getexif().get_ifd(ExifTags.IFD.GPSInfo)) == {}
    assert not {"exif", "comment", "xmp", "icc_profile"} & set(back.info)
    assert CAMERA_SERIAL.encode() not in encoded.data and b"Jane Doe" not in encoded.data


def test_a_colour_profile_is_not_kept() -> None:
    image = Image.new("RGB", (32, 32), (200, 100, 50))
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    image.save(out, "PNG", icc_profile=profile)
    assert "icc_profile" in opened(out.getvalue()).info
    encoded = reencode(out.getvalue(), "slide.png")
    assert encoded.kind == "image/png"
    assert "icc_profile" not in opened(encoded.data).info


def test_a_pngs_text_chunks_and_xmp_are_not_kept() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta><exif:GPSLatitude>46,13.45N</exif:GPSLatitude></x:xmpmeta>")
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (5, 5, 5)).save(out, "PNG", pnginfo=info)
    encoded = reencode(out.getvalue(), "chart.png")
    assert b"Jane Doe" not in encoded.data and b"GPSLatitude" not in encoded.data
    assert not {"Author", "XML:com.adobe.xmp", "xmp"} & set(opened(encoded.data).info)


def test_the_cameras_orientation_is_applied_to_the_pixels() -> None:
    # Orientation 6: the camera was turned a quarter clockwise; the stored left half (red) shows on top.
    encoded = reencode(photo(size=(64, 48), orientation=6), "turned.jpg")
    back = opened(encoded.data).convert("RGB")
    assert (encoded.width, encoded.height) == (48, 64) == back.size
    red, _green, blue = back.getpixel((24, 4))  # type: ignore[misc]
    assert red > 180 and blue < 80, back.getpixel((24, 4))
    assert ExifTags.Base.Orientation not in back.getexif()


# --- what is refused ------------------------------------------------------------------------------------


def test_a_renamed_program_called_jpg_is_refused() -> None:
    with pytest.raises(MediaError) as refused:
        reencode(windows_program(), "holiday.jpg")
    assert str(refused.value) == (
        "holiday.jpg is not an image livetweet can post: its contents are not JPEG, PNG, WebP or GIF, "
        "whatever its name says"
    )


def test_a_damaged_jpeg_is_refused_naming_it() -> None:
    with pytest.raises(MediaError, match=r"^cut\.jpg cannot be read as a JPEG image: the file is damaged"):
        reencode(photo()[:200], "cut.jpg")


def test_a_file_over_the_input_limit_is_refused_before_it_is_parsed() -> None:
    # JPEG's first bytes, then nothing an image decoder could read: parsed, it would be "damaged".
    data = b"\xff\xd8\xff\xe0" + bytes(MAX_INPUT_BYTES)
    with pytest.raises(MediaError) as refused:
        reencode(data, "huge.jpg")
    assert str(refused.value) == "huge.jpg is larger than the 30 MB livetweet takes: export it smaller"


def test_a_file_on_disk_over_the_limit_is_not_even_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    with path.open("wb") as f:  # a sparse file: 31 MB on paper, nothing written
        f.truncate(31_000_000)
    with pytest.raises(MediaError, match=r"^media/huge\.jpg is larger than the 30 MB livetweet takes"):
        reencode_file(path, "media/huge.jpg")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"^media/gone\.jpg does not exist$"):
        reencode_file(tmp_path / "gone.jpg", "media/gone.jpg")


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(MediaError) as refused:
        reencode(png_header_only(10_000, 8_000), "bomb.png")
    assert str(refused.value) == (
        "bomb.png is too large an image to open (10,000 x 8,000 pixels): at most 64 million pixels; export it smaller"
    )


def test_a_bomb_past_twice_the_limit_is_refused_by_pillow_itself() -> None:
    with pytest.raises(MediaError, match=r"^bomb\.png is too large an image to open: at most 64 million pixels"):
        reencode(png_header_only(40_000, 40_000), "bomb.png")


# --- X's limits -------------------------------------------------------------------------------------------


def test_an_image_larger_than_x_takes_is_scaled_down() -> None:
    encoded = reencode(png(size=(6000, 1500)), "banner.png")
    assert (encoded.width, encoded.height) == (MAX_SIDE, 1024)


def test_a_photo_too_heavy_at_the_first_quality_steps_down_and_fits() -> None:
    heavy = photo(size=(3600, 2400), noise=True, quality=100)
    assert len(heavy) > MAX_IMAGE_BYTES
    encoded = reencode(heavy, "crowd.jpg")
    assert len(encoded.data) <= MAX_IMAGE_BYTES
    assert (encoded.width, encoded.height) == (3600, 2400)  # fitted by quality, not by size


def test_a_transparent_png_stays_a_png() -> None:
    encoded = reencode(png(alpha=True), "logo.png")
    assert encoded.kind == "image/png" and opened(encoded.data).mode == "RGBA"


def test_an_animated_gif_stays_animated_without_its_comment() -> None:
    encoded = reencode(gif(frames=4), "applause.gif")
    back = Image.open(io.BytesIO(encoded.data))
    assert encoded.kind == "image/gif" and getattr(back, "n_frames", 1) == 4
    assert "comment" not in back.info and b"secret" not in encoded.data


def test_a_webp_is_kept_as_webp() -> None:
    out = io.BytesIO()
    Image.new("RGB", (50, 20), (1, 2, 3)).save(out, "WEBP")
    encoded = reencode(out.getvalue(), "chart.webp")
    assert (encoded.kind, encoded.width, encoded.height) == ("image/webp", 50, 20)


def test_the_original_bytes_are_never_what_comes_back() -> None:
    original = photo()
    assert reencode(original).data != original


# --- kept in the store ------------------------------------------------------------------------------------


def test_keep_stores_the_reencoded_bytes_once_and_describes_them(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'livetweet.db'}")
    try:
        first = keep(store, None, photo(), "panel.jpg", "  The five panellists on stage.\r\n")
        with store.begin() as conn:
            again = keep(store, conn, photo(), "panel.jpg", "Another description")
        assert first.sha256 == again.sha256
        assert (first.alt, first.kind, first.name) == ("The five panellists on stage.", "image/jpeg", "panel.jpg")
        stored = store.media_data(first.sha256)
        assert stored is not None
        data, kind = stored
        assert kind == "image/jpeg" and len(data) == first.size
        assert dict(opened(data).getexif()) == {}
    finally:
        store.close()


# --- drafts with images: the service ----------------------------------------------------------------

PANEL_ALT = "Four panellists seated on a stage in front of a blue banner"


@pytest.fixture
def roundtable(tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    """The shipped roundtable (schedule, templates, its two images) copied into a folder, loaded into a SQLite file."""
    shutil.copytree(X_ONLY_SCHEDULE.parent, tmp_path / "schedules")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    store = Store(f"sqlite:///{tmp_path / 'livetweet.db'}")
    service = Service(store, FixedClock(datetime(2020, 11, 12, 11, 0, tzinfo=UTC)), clock_is_live=False)
    service.load(tmp_path / "schedules" / X_ONLY_SCHEDULE.name)
    yield service, tmp_path / "schedules" / X_ONLY_SCHEDULE.name
    store.close()


def by_slot(service: Service, slot: str) -> int:
    return next(d.id for d in service.queue() if d.slot == slot)


def undescribed_draft(service: Service) -> Draft:
    """A draft composed (not approved) for 13:50 with one image, stage.jpg, that has no alt text."""
    image = keep(service.store, None, photo(), "stage.jpg", "")
    draft, _ = compose_draft(
        service, "The panel is on stage", "alice", datetime(2020, 11, 12, 12, 50, tzinfo=UTC), approve=False,
        media=(image,),
    )  # fmt: skip
    return draft


def test_loading_the_roundtable_keeps_its_two_planned_images(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    with_media = {d.slot: d.media for d in service.queue() if d.media}
    assert set(with_media) == {"announcement", "opening"}
    [panel] = with_media["opening"]
    assert (panel.name, panel.kind, panel.width, panel.height) == (
        "media/roundtable-panel.jpg",
        "image/jpeg",
        1600,
        900,
    )
    assert panel.alt.endswith('under a blue banner that reads "Regional Review of the GCM in the UNECE region, '
                              'Roundtable 2".')  # fmt: skip
    stored = service.store.media_data(panel.sha256)
    assert stored is not None and len(stored[0]) == panel.size


def test_a_reload_with_the_same_images_changes_nothing(roundtable: tuple[Service, Path]) -> None:
    service, schedule = roundtable
    report = service.load(schedule)
    assert (report.unchanged, report.revised) == (10, [])


def test_a_reload_with_a_changed_alt_text_makes_a_new_revision(roundtable: tuple[Service, Path]) -> None:
    service, schedule = roundtable
    schedule.write_text(schedule.read_text().replace("Drawing of five speakers", "A drawing of five speakers"))
    report = service.load(schedule)
    [revised] = report.revised
    assert (revised.slot, revised.revision, revised.state) == ("opening", 2, DraftState.PENDING)
    assert revised.media[0].alt.startswith("A drawing of five speakers")


def test_a_reload_with_another_image_file_makes_a_new_revision(roundtable: tuple[Service, Path]) -> None:
    service, schedule = roundtable
    before = service.show(by_slot(service, "opening")).media[0]
    (schedule.parent / "media" / "roundtable-panel.jpg").write_bytes(photo(size=(320, 180)))
    [revised] = service.load(schedule).revised
    assert revised.media[0].sha256 != before.sha256 and (revised.media[0].width, revised.media[0].height) == (320, 180)


def test_an_approved_draft_whose_images_changed_is_left_alone_and_said_so(roundtable: tuple[Service, Path]) -> None:
    service, schedule = roundtable
    service.approve(by_slot(service, "opening"), "alice")
    (schedule.parent / "media" / "roundtable-panel.jpg").write_bytes(photo(size=(320, 180)))
    report = service.load(schedule)
    assert [(d.slot, why) for d, why in report.untouched] == [
        ("opening", "the schedule changed its images, but it is approved")
    ]


def test_a_draft_whose_image_lacks_alt_text_cannot_be_approved(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    draft = undescribed_draft(service)
    with pytest.raises(MediaRefused) as refused:
        service.approve(draft.id, "bob")
    assert str(refused.value) == (
        f"draft {draft.id} cannot be approved: image 1 (stage.jpg) has no alt text: describe what the image shows, "
        "for people who cannot see it (up to 1,000 characters); write the alt text with "
        f"`livetweet edit {draft.id} --alt TEXT` (one --alt per image, in order)"
    )
    assert service.show(draft.id).state == DraftState.PENDING


def test_approving_several_is_refused_whole_when_one_lacks_alt_text(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    draft = undescribed_draft(service)
    with pytest.raises(MediaRefused):
        service.approve_all([(1, None), (draft.id, None)], "bob")
    assert service.show(1).state == DraftState.PENDING  # all or nothing


def test_auto_mode_does_not_approve_an_image_without_alt_text(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    draft = undescribed_draft(service)
    with service.store.begin() as conn, pytest.raises(MediaRefused, match="cannot be approved"):
        approve_draft(service.store, conn, service.store.get(draft.id, conn), "auto", None, service.clock.now(),
                      actor=Actor.SCHEDULE)  # fmt: skip


def test_composing_with_an_image_and_approving_at_once_needs_its_alt_text(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    image = keep(service.store, None, photo(), "stage.jpg", "")
    count = len(service.queue())
    with pytest.raises(MediaRefused, match=r"^image 1 \(stage\.jpg\) has no alt text: .*; nothing was composed$"):
        compose_draft(service, "The panel is on stage", "alice", datetime(2020, 11, 12, 12, 50, tzinfo=UTC),
                      media=(image,))  # fmt: skip
    assert len(service.queue()) == count


def test_compose_keeps_its_images_and_checks_their_alt_text_against_the_post(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    at = datetime(2020, 11, 12, 12, 50, tzinfo=UTC)
    copy = keep(service.store, None, photo(), "stage.jpg", "The panel is on stage")
    with pytest.raises(MediaRefused, match="alt text repeats the post's text"):
        compose_draft(service, "The panel is on stage", "alice", at, media=(copy,))
    good = replace(copy, alt=PANEL_ALT)
    draft, _ = compose_draft(service, "The panel is on stage", "alice", at, media=(good,))
    assert draft.state == DraftState.APPROVED and draft.media == (good,)


def test_edit_sets_keeps_and_removes_images(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    draft_id = by_slot(service, "q1")
    image = keep(service.store, None, photo(), "stage.jpg", PANEL_ALT)
    edited, _ = service.edit(draft_id, "Question 1 is on", "alice", media=(image,))
    assert (edited.media, edited.revision) == ((image,), 2)
    kept, _ = service.edit(draft_id, "Question 1 is on now", "alice")  # media None: the images stay
    assert kept.media == (image,)
    removed, _ = service.edit(draft_id, "Question 1 is on now", "alice", media=())
    assert removed.media == ()
    assert service.history(draft_id)[-3].detail["media"] == [{"sha256": image.sha256, "name": "stage.jpg",
                                                              "alt": PANEL_ALT}]  # fmt: skip


def test_edit_refuses_images_x_would_not_take_and_changes_nothing(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    draft_id = by_slot(service, "q1")
    five = tuple(keep(service.store, None, photo(colour=(n, 90, 160)), f"p{n}.jpg", f"Slide {n}") for n in range(5))
    with pytest.raises(MediaRefused, match=r"^a post carries at most 4 images, not 5; nothing was changed$"):
        service.edit(draft_id, "Question 1 is on", "alice", media=five)
    said = replace(five[0], alt="Photo of the stage")
    with pytest.raises(MediaRefused, match=r'image 1 \(p0\.jpg\): alt text starts with "Photo of"'):
        service.edit(draft_id, "Question 1 is on", "alice", media=(said,))
    assert service.show(draft_id).revision == 1


def test_edit_refuses_an_image_the_store_does_not_hold(roundtable: tuple[Service, Path]) -> None:
    service, _ = roundtable
    image = replace(keep(service.store, None, photo(), "stage.jpg", PANEL_ALT), sha256="0" * 64)
    with pytest.raises(MediaRefused, match=r"image 1 \(stage\.jpg\) is not in the store: add its file again"):
        service.edit(by_slot(service, "q1"), "Question 1 is on", "alice", media=(image,))


# --- drafts with images: the command line ------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The mini event loaded into livetweet.db here, and a photo (with GPS and serial) beside it."""
    write_event(tmp_path)
    assert cli("load", "schedules/demo.yaml", cwd=tmp_path).returncode == 0
    (tmp_path / "stage.jpg").write_bytes(photo(size=(80, 60), orientation=6))
    (tmp_path / "setup.jpg").write_bytes(windows_program())
    return tmp_path


def drafts(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    result = cli("queue", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_compose_with_media_and_alt(folder: Path) -> None:
    out = cli("compose", "The panel is on stage", "--at", "13:50", "--media", "stage.jpg", "--alt", PANEL_ALT,
              "--as", "alice", cwd=folder)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "composed and approved (added #GCM #Pathways), with 1 image:" in out.stdout
    [image] = next(d for d in drafts(folder) if d["source"] == "compose")["media"]
    assert (image["name"], image["alt"], image["kind"]) == ("stage.jpg", PANEL_ALT, "image/jpeg")
    assert (image["width"], image["height"]) == (60, 80)  # the camera's orientation applied


def test_compose_with_an_image_but_no_alt_text_is_not_approved(folder: Path) -> None:
    out = cli("compose", "The panel is on stage", "--at", "13:50", "--media", "stage.jpg", "--alt", "", cwd=folder)
    assert out.returncode == 1
    assert "error: image 1 (stage.jpg) has no alt text: describe what the image shows" in out.stderr
    assert [d["source"] for d in drafts(folder)] == ["schedule", "schedule"]


def test_approve_refuses_a_draft_whose_image_lacks_alt_text_exit_1(folder: Path) -> None:
    out = cli("compose", "The panel is on stage", "--at", "13:50", "--pending", "--media", "stage.jpg", "--alt", "",
              cwd=folder)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Draft 3 composed (added #GCM #Pathways), with 1 image: " in out.stdout
    refused = cli("approve", "3", cwd=folder)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: draft 3 cannot be approved: image 1 (stage.jpg) has no alt text")
    assert drafts(folder)[2]["state"] == "pending"
    assert cli("edit", "3", "--alt", PANEL_ALT, cwd=folder).returncode == 0  # the text stays, the image gets its alt
    assert cli("approve", "3", cwd=folder).returncode == 0


def test_edit_with_media_replaces_the_images_and_keeps_the_text(folder: Path) -> None:
    out = cli("edit", "1", "--media", "stage.jpg", "--alt", PANEL_ALT, cwd=folder)
    assert out.returncode == 0, out.stderr
    assert "Draft 1 (hello) is now revision 2, " in out.stdout and ", 1 image; it needs approval" in out.stdout
    first = drafts(folder)[0]
    assert first["text"] == "Welcome to Demo event!\n\n#GCM" and first["media"][0]["alt"] == PANEL_ALT
    shown = cli("show", "1", cwd=folder).stdout
    assert "    image 1: stage.jpg, JPEG 60x80, " in shown and f"      alt: {PANEL_ALT}" in shown
    assert "[1 image] Welcome to Demo event!" in cli("queue", cwd=folder).stdout
    assert cli("edit", "1", "--no-media", cwd=folder).returncode == 0
    assert drafts(folder)[0]["media"] == []


def test_a_file_that_is_not_an_image_is_refused_naming_it(folder: Path) -> None:
    out = cli("edit", "1", "--media", "setup.jpg", "--alt", "An installer", cwd=folder)
    assert out.returncode == 1
    assert out.stderr == (
        "error: setup.jpg is not an image livetweet can post: its contents are not JPEG, PNG, WebP or GIF, "
        "whatever its name says\n"
    )
    missing = cli("compose", "Hello", "--media", "nowhere.jpg", "--alt", "A stage", cwd=folder)
    assert (missing.returncode, missing.stderr) == (1, "error: nowhere.jpg does not exist\n")
    assert drafts(folder)[0]["revision"] == 1


def test_media_and_alt_come_in_pairs(folder: Path) -> None:
    out = cli("compose", "Hello", "--media", "stage.jpg", cwd=folder)
    assert out.returncode == 2
    assert "give one --alt for each --media, in order (1 --media, 0 --alt)" in out.stderr
    alone = cli("edit", "1", "--alt", "A stage", cwd=folder)
    assert alone.returncode == 2 and "draft 1 has no images: give one --alt for each" in alone.stderr

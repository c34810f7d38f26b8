"""Images made fit to post (livetweet.media): the metadata goes, the orientation is applied, X's limits hold,
and what is not an image is refused, with a sentence naming the file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms

from livetweet.errors import MediaError
from livetweet.media import keep, reencode, reencode_file
from livetweet.plan.media import MAX_IMAGE_BYTES, MAX_INPUT_BYTES, MAX_SIDE
from livetweet.store import Store

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

"""Images as they arrive (a schedule's file, a person's upload, a direct message's photo), made fit to post.

Every image is decoded and encoded anew with Pillow before livetweet keeps it, so what is kept
and posted is never the file that arrived: the metadata goes (EXIF with the GPS position, the
camera's serial and the time; XMP; comments; a colour profile, after converting the colours to
sRGB), the orientation the camera recorded is applied to the pixels, and an image larger than X
takes is scaled down (and a JPEG's quality stepped down) until it fits.

The type comes from the bytes, never the name: a program renamed `.jpg` is refused. A file
over 30 MB is refused before it is opened, and one that would decode to more pixels than
`MAX_PIXELS` before it is decoded (Pillow's decompression-bomb limit is set to the same).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageCms, ImageOps, ImageSequence, UnidentifiedImageError

from .draft import Attachment
from .errors import MediaError
from .plan.media import (
    GIF,
    JPEG,
    KIND_NAMES,
    MAX_GIF_BYTES,
    MAX_GIF_FRAMES,
    MAX_GIF_HEIGHT,
    MAX_GIF_PIXELS,
    MAX_GIF_WIDTH,
    MAX_IMAGE_BYTES,
    MAX_INPUT_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    PNG,
    WEBP,
    EncodedImage,
    megabytes,
    sniff,
)
from .plan.normal import normal_text

if TYPE_CHECKING:
    from .store import Connection, Store

Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow warns past this and refuses past twice this; we refuse past it

_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", GIF: "GIF"}  # Pillow's names, the only decoders used
_JPEG_QUALITIES = (85, 75, 65, 55)
_SHRINK = 0.75  # each further try, when the smallest quality is still too big
_TRIES = 6
# What Pillow may raise for a file that is not the image it claims to be, or a damaged one.
_UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


@dataclass(frozen=True)
class Encoded:
    """An image re-encoded for posting: its new bytes (no metadata), MIME type and size in pixels."""

    data: bytes
    kind: str
    width: int
    height: int


def _called(name: str) -> str:
    return name or "the image"


def reencode(data: bytes, name: str = "") -> Encoded:
    """The image in `data`, decoded and encoded anew within X's limits; MediaError (naming `name`) if it cannot be."""
    called = _called(name)
    if len(data) > MAX_INPUT_BYTES:
        raise MediaError(_too_big(called))
    kind = sniff(data[:16])
    if kind is None:
        raise MediaError(
            f"{called} is not an image livetweet can post: its contents are not JPEG, PNG, WebP or GIF, "
            "whatever its name says"
        )
    try:
        image = Image.open(io.BytesIO(data), formats=[_FORMATS[kind]])
    except Image.DecompressionBombError:
        raise MediaError(_too_many_pixels(called, None)) from None
    except _UNREADABLE:
        raise MediaError(_damaged(called, kind)) from None
    with image:
        pixels = image.width * image.height
        if pixels > MAX_PIXELS:
            raise MediaError(_too_many_pixels(called, image.size))
        try:
            if kind == GIF:
                return _gif(image, called)
            if getattr(image, "is_animated", False):
                raise MediaError(
                    f"{called} is an animated {KIND_NAMES[kind]}: X plays only GIF animations; save it as a GIF "
                    "or as a still image"
                )
            return _still(image, kind, called)
        except MediaError:
            raise
        except MemoryError:
            raise MediaError(_too_many_pixels(called, image.size)) from None
        except _UNREADABLE:
            raise MediaError(_damaged(called, kind)) from None


def reencode_file(path: Path, name: str = "") -> Encoded:
    """`reencode` of a file's bytes, read only when the file is small enough; MediaError naming it otherwise."""
    called = name or str(path)
    try:
        if path.is_dir():
            raise MediaError(f"{called} is a folder, not an image")
        if not path.is_file():
            raise MediaError(f"{called} does not exist" if not path.exists() else f"{called} is not a regular file")
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise MediaError(_too_big(called))
        with path.open("rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise MediaError(f"{called} cannot be read: {exc.strerror or exc}") from None
    return reencode(data, called)


def keep(store: Store, conn: Connection | None, data: bytes, name: str, alt: str) -> Attachment:
    """Re-encode an image and keep it in the store (in `conn`'s transaction, or one of its own): its Attachment."""
    encoded = reencode(data, name)
    sha = store.put_media(conn, encoded.data, encoded.kind, encoded.width, encoded.height)
    return attachment(sha, encoded, name, alt)


def keep_file(store: Store, conn: Connection | None, path: Path, name: str, alt: str) -> Attachment:
    """`keep` for a file on disk (read only if small enough); MediaError naming it as `name`."""
    encoded = reencode_file(path, name)
    sha = store.put_media(conn, encoded.data, encoded.kind, encoded.width, encoded.height)
    return attachment(sha, encoded, name, alt)


def attachment(sha256: str, encoded: EncodedImage, name: str, alt: str) -> Attachment:
    """The Attachment of an image kept under `sha256`, with its alt text in livetweet's normal form."""
    return Attachment(
        sha256=sha256,
        alt=normal_text(alt).strip(),
        kind=encoded.kind,
        width=encoded.width,
        height=encoded.height,
        size=len(encoded.data),
        name=name,
    )


# --- still images ---------------------------------------------------------------------------------


def _still(image: Image.Image, kind: str, called: str) -> Encoded:
    if kind == JPEG:
        image.draft(image.mode, (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 when that is still large enough
    image.load()
    icc = image.info.get("icc_profile")
    ImageOps.exif_transpose(image, in_place=True)  # the pixels turned as the camera meant (no copy when upright)
    clean = _srgb(image, icc)
    transparency = clean.info.get("transparency") if clean.mode in ("P", "L", "RGB", "1") else None
    clean.info = {}  # EXIF (GPS, serial, time), XMP, comments, the profile: none of it is written
    if transparency is not None:
        clean.info["transparency"] = transparency
    if max(clean.size) > MAX_SIDE:
        clean.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    if kind == PNG:
        return _fit(clean, called, _png_or_jpeg)
    if kind == WEBP:
        return _fit(clean, called, _webp)
    return _fit(clean, called, _jpeg)


Encoder = Callable[[Image.Image, int], tuple[bytes, str] | None]  # (bytes, kind) fitting the limit, or None


def _fit(image: Image.Image, called: str, encode: Encoder) -> Encoded:
    """Encode, scaling down by a quarter each time the result is still over X's limit."""
    for _ in range(_TRIES):
        found = encode(image, MAX_IMAGE_BYTES)
        if found is not None:
            data, kind = found
            return Encoded(data, kind, image.width, image.height)
        smaller = (max(1, round(image.width * _SHRINK)), max(1, round(image.height * _SHRINK)))
        image = image.resize(smaller, Image.Resampling.LANCZOS)
    raise MediaError(
        f"{called} is still over {megabytes(MAX_IMAGE_BYTES)} after re-encoding it smaller: export it smaller"
    )


def _jpeg(image: Image.Image, limit: int) -> tuple[bytes, str] | None:
    if image.mode not in ("L", "RGB"):
        image = _flatten(image)
    for quality in _JPEG_QUALITIES:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality, exif=b"", icc_profile=None)
        if out.tell() <= limit:
            return out.getvalue(), JPEG
    return None


def _png_or_jpeg(image: Image.Image, limit: int) -> tuple[bytes, str] | None:
    """A PNG stays a PNG while it fits; an opaque one too big for X becomes a JPEG (a photo saved as PNG)."""
    if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=6)
    if out.tell() <= limit:
        return out.getvalue(), PNG
    if _has_alpha(image):
        return None
    return _jpeg(image, limit)


def _webp(image: Image.Image, limit: int) -> tuple[bytes, str] | None:
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    for quality in _JPEG_QUALITIES:
        out = io.BytesIO()
        image.save(out, "WEBP", quality=quality, method=4, exif=b"", icc_profile="", xmp="")
        if out.tell() <= limit:
            return out.getvalue(), WEBP
    return None


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def _flatten(image: Image.Image) -> Image.Image:
    """An image for JPEG (no transparency): what shows through transparent pixels is white."""
    if not _has_alpha(image):
        return image.convert("RGB") if image.mode != "L" else image
    rgba = image.convert("RGBA")
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    return white


def _srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """The colours converted to sRGB when the file carries another colour profile (a phone's Display P3)."""
    if not icc:
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower().replace(" ", ""):
            return image  # already what X shows: drop the profile, keep the pixels
        source = image.convert("RGBA") if image.mode in ("LA", "PA", "P") else image
        mode = "RGBA" if "A" in source.getbands() else "RGB"
        converted = ImageCms.profileToProfile(source, profile, ImageCms.createProfile("sRGB"), outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # a profile that cannot be read: the pixels as they are
    return converted if converted is not None else image


# --- GIF -----------------------------------------------------------------------------------------


def _gif(image: Image.Image, called: str) -> Encoded:
    frames = getattr(image, "n_frames", 1)
    if frames > MAX_GIF_FRAMES:
        raise MediaError(f"{called} is a GIF of {frames:,} frames: X plays at most {MAX_GIF_FRAMES}")
    if image.width * image.height * frames > MAX_GIF_PIXELS:
        raise MediaError(
            f"{called} is a GIF of {frames:,} frames of {image.width}x{image.height} pixels: too large to post "
            f"(at most {MAX_GIF_PIXELS // 1_000_000} million pixels in all); make it shorter or smaller"
        )
    scale = min(1.0, MAX_GIF_WIDTH / image.width, MAX_GIF_HEIGHT / image.height)
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    loop = image.info.get("loop", 0)
    shown: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(image):
        durations.append(int(frame.info.get("duration", 100)))
        still = frame.convert("RGBA")
        if still.size != size:
            still = still.resize(size, Image.Resampling.LANCZOS)
        still.info = {}  # comments and application extensions (XMP) are not written
        shown.append(still)
    out = io.BytesIO()
    if len(shown) == 1:
        shown[0].save(out, "GIF")
    else:
        shown[0].save(out, "GIF", save_all=True, append_images=shown[1:], duration=durations, loop=loop, disposal=2)
    if out.tell() > MAX_GIF_BYTES:
        raise MediaError(
            f"{called} is {megabytes(out.tell())} as a GIF: X takes GIFs up to {megabytes(MAX_GIF_BYTES)}; "
            "make it shorter or smaller"
        )
    return Encoded(out.getvalue(), GIF, size[0], size[1])


def _too_big(called: str) -> str:
    return f"{called} is larger than the {megabytes(MAX_INPUT_BYTES)} livetweet takes: export it smaller"


def _damaged(called: str, kind: str) -> str:
    return f"{called} cannot be read as a {KIND_NAMES[kind]} image: the file is damaged or incomplete"


def _too_many_pixels(called: str, size: tuple[int, int] | None) -> str:
    shown = f" ({size[0]:,} x {size[1]:,} pixels)" if size else ""
    return (
        f"{called} is too large an image to open{shown}: at most {MAX_PIXELS // 1_000_000} million pixels; "
        "export it smaller"
    )

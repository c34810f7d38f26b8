"""Images for the media tests: photos with a camera's metadata, GIFs, files that only pretend to be images."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image

CAMERA_SERIAL = "SN-0042-LIVETWEET"
GPS_LATITUDE = (46.0, 13.0, 27.0)  # the Palais des Nations, roughly


def camera_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: the camera, its serial number, the time, the GPS position."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Livetweet Camera Co."
    exif[ExifTags.Base.Model] = "LT-1"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.DateTime] = "2020:11:12 13:31:00"
    extra = exif.get_ifd(ExifTags.IFD.Exif)
    extra[ExifTags.Base.BodySerialNumber] = CAMERA_SERIAL
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = GPS_LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (6.0, 8.0, 25.0)
    return exif


def photo(
    size: tuple[int, int] = (64, 48),
    orientation: int = 1,
    colour: tuple[int, int, int] = (30, 90, 160),
    quality: int = 90,
    noise: bool = False,
) -> bytes:
    """A JPEG as a camera makes it (EXIF with GPS and serial, a comment); its left half red, to see turns."""
    if noise:
        image = Image.merge("RGB", [Image.effect_noise(size, 120) for _ in range(3)])
    else:
        image = Image.new("RGB", size, colour)
        image.paste((220, 20, 20), (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=camera_exif(orientation), comment=b"taken by Jane Doe")
    return out.getvalue()


def png(size: tuple[int, int] = (40, 30), alpha: bool = False) -> bytes:
    image = Image.new("RGBA" if alpha else "RGB", size, (10, 120, 60, 128) if alpha else (10, 120, 60))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def gif(frames: int = 4, size: tuple[int, int] = (60, 40)) -> bytes:
    """An animated GIF (a comment and a loop extension included) whose frames differ."""
    shown = [Image.new("RGB", size, (i * 60 % 256, 40, 255 - i * 60 % 256)) for i in range(frames)]
    out = io.BytesIO()
    shown[0].save(out, "GIF", save_all=True, append_images=shown[1:], duration=90, loop=0, comment=b"secret")
    return out.getvalue()


def windows_program() -> bytes:
    """The first bytes of a Windows program (MZ, the DOS stub): what a renamed .exe holds."""
    return (
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"This program cannot be run in DOS mode." * 20
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims to be `width` x `height` (a decompression bomb's header), with one empty row of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")

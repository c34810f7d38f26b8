"""Benchmark: re-encode a 12-megapixel phone photo (EXIF with GPS and serial) as livetweet does on arrival.

Prints the time `livetweet.media.reencode` takes (best and median of several runs, one core: Pillow's
JPEG codec uses one thread) and the memory it takes: the process's peak resident set growth, measured
in a fresh process so that nothing before it hides the peak, and the peak of Python's own allocations
(tracemalloc: the bytes objects; Pillow's pixel buffers are allocated in C and show in the resident set
only). The target is under 1 s. Asserts nothing.

The upload to the simulated X is measured with the X side's code; `photo_12mp()` and `measure()` are
the hooks it can call for the re-encoding part.

Run:  .venv/bin/python bench/bench_media.py [--runs 5] [--width 4000 --height 3000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from PIL import ExifTags, Image

from livetweet.media import Encoded, reencode


def photo_12mp(width: int = 4000, height: int = 3000, quality: int = 92) -> bytes:
    """A JPEG like a phone's: 12 megapixels of gradients and grain (texture that compresses as a photo
    does), with EXIF: camera, serial number, time, orientation (turned: the re-encoding rotates it) and GPS."""
    gradient = Image.linear_gradient("L").resize((width, height))
    grain = Image.effect_noise((width, height), 24)
    red = Image.blend(gradient, grain, 0.35)
    green = Image.blend(gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grain, 0.25)
    blue = Image.blend(gradient.transpose(Image.Transpose.ROTATE_180), grain, 0.3)
    image = Image.merge("RGB", (red, green, blue))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Bench"
    exif[ExifTags.Base.Model] = "Phone 12 MP"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.DateTime] = "2020:11:12 13:31:00"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.BodySerialNumber] = "SN-BENCH-0001"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (46.0, 13.0, 27.0)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (6.0, 8.0, 25.0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def measure(data: bytes, runs: int = 5) -> dict[str, float]:
    """Seconds per re-encoding of `data` (best, median) and the output's size: the re-encode part of an upload."""
    times = []
    encoded: Encoded | None = None
    for _ in range(runs):
        start = time.perf_counter()
        encoded = reencode(data, "bench.jpg")
        times.append(time.perf_counter() - start)
    assert encoded is not None
    return {
        "best_s": min(times),
        "median_s": statistics.median(times),
        "bytes_out": float(len(encoded.data)),
        "width": float(encoded.width),
        "height": float(encoded.height),
    }


def _resident_peak_kib() -> int:
    """The process's peak resident set so far: VmHWM on Linux (ru_maxrss starts from the parent's peak
    in a child process), ru_maxrss elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def _reset_resident_peak() -> None:
    """Start the peak from the current resident set (Linux: "5" to clear_refs), where the system allows it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_memory(path: Path) -> dict[str, float]:
    """In this (fresh) process: the resident set's growth and Python's peak while re-encoding the file once."""
    data = path.read_bytes()
    reencode(photo_12mp(64, 48), "warm.jpg")  # the codecs loaded, on a photo too small to move the peak
    _reset_resident_peak()
    before = _resident_peak_kib()
    tracemalloc.start()
    reencode(data, "bench.jpg")
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    after = _resident_peak_kib()
    return {"rss_growth_mib": (after - before) / 1024, "python_peak_mib": python_peak / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--memory-of", type=Path, help=argparse.SUPPRESS)  # the fresh process's part
    args = parser.parse_args()
    if args.memory_of is not None:
        print(json.dumps(_peak_memory(args.memory_of)))
        return 0
    data = photo_12mp(args.width, args.height)
    megapixels = args.width * args.height / 1e6
    timed = measure(data, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        path.write_bytes(data)
        child = subprocess.run(
            [sys.executable, __file__, "--memory-of", str(path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    memory = json.loads(child.stdout)
    print(f"input: {megapixels:.1f}-megapixel JPEG, {len(data) / 1e6:.1f} MB, EXIF with GPS, serial and orientation 6")
    print(
        f"re-encode: best {timed['best_s'] * 1000:.0f} ms, median {timed['median_s'] * 1000:.0f} ms over "
        f"{args.runs} runs (target: under 1 s); out: {int(timed['width'])}x{int(timed['height'])}, "
        f"{timed['bytes_out'] / 1e6:.1f} MB, no metadata"
    )
    print(
        f"memory: the resident set grew by {memory['rss_growth_mib']:.0f} MiB at its peak (a fresh process); "
        f"Python's own allocations peaked at {memory['python_peak_mib']:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

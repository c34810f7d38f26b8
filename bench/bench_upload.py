"""Benchmark: a 12-megapixel phone photo from arrival to X: re-encoded, uploaded with its alt text to
the simulated X over real HTTP (tweepy's signed request, base64 JSON), and posted.

Prints each part's time (best and median of several runs, one core) and the whole, against the
issue's target (re-encode and upload under 1 s), and the memory the upload adds (Python's peak
allocations while uploading: the photo, its base64 form and the JSON body). Asserts nothing.

Run:  .venv/bin/python bench/bench_upload.py [--runs 5] [--width 4000 --height 3000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_media import photo_12mp

from livetweet.fakes import FakeXServer
from livetweet.media import reencode
from livetweet.publishers.base import Posted, Uploaded
from livetweet.publishers.x import XPublisher

CREDENTIALS = {k: "bench" for k in ("X_API_KEY", "X_API_KEY_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")}
ALT = "The five panellists of Roundtable 2 seated at a long table under the UNECE banner"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args()
    photo = photo_12mp(args.width, args.height)
    server = FakeXServer().start()
    publisher = XPublisher(CREDENTIALS, server.url, timeout=30.0)
    try:
        times: dict[str, list[float]] = {"re-encode": [], "upload": [], "post": [], "all": []}
        for run in range(args.runs):
            start = time.perf_counter()
            encoded = reencode(photo, "bench.jpg")
            encoded_at = time.perf_counter()
            uploaded = publisher.upload(encoded.data, encoded.kind, ALT)
            uploaded_at = time.perf_counter()
            assert isinstance(uploaded, Uploaded), uploaded
            posted = publisher.post(f"Roundtable 2, run {run} #GCM", media_ids=[uploaded.media_id])
            assert isinstance(posted, Posted), posted
            end = time.perf_counter()
            times["re-encode"].append(encoded_at - start)
            times["upload"].append(uploaded_at - encoded_at)
            times["post"].append(end - uploaded_at)
            times["all"].append(end - start)
        tracemalloc.start()
        publisher.upload(encoded.data, encoded.kind, ALT)
        upload_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        [media] = server.media_of(server.posts()[0])
    finally:
        publisher.close()
        server.stop()
    print(
        f"input: {args.width * args.height / 1e6:.1f}-megapixel JPEG, {len(photo) / 1e6:.1f} MB; "
        f"uploaded: {len(encoded.data) / 1e6:.1f} MB {encoded.kind}, {encoded.width}x{encoded.height}, "
        f"alt text {'kept' if media.alt == ALT else 'LOST'} at the simulated X"
    )
    for part, seconds in times.items():
        print(f"{part:>10}: best {min(seconds) * 1000:.0f} ms, median {statistics.median(seconds) * 1000:.0f} ms")
    both = [a + b for a, b in zip(times["re-encode"], times["upload"], strict=True)]
    print(
        f"re-encode and upload: median {statistics.median(both) * 1000:.0f} ms over {args.runs} runs "
        f"(target: under 1 s); the upload's Python allocations peaked at {upload_peak / 2**20:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

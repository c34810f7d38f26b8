"""Images people bring to the console (Compose, Edit): read from the form, re-encoded, kept in the store.

Each image arrives as a file field `image1`..`image4` with its alt text in `alt1`..`alt4`. An
image already kept (a form that came back refused, or one an edit keeps) is named by its
SHA-256 in `kept1`..`kept4`, so nobody has to pick the file again.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.datastructures import FormData, UploadFile

from ..draft import Attachment
from ..errors import MediaError
from ..store import Store

SLOTS = 4  # at most four images on a post (or one GIF)
MAX_FILE = 30 * 1024 * 1024  # a photo straight from a phone; re-encoding makes it fit X's limits


def images_from_form(store: Store, form: FormData, already: tuple[Attachment, ...] = ()) -> tuple[Attachment, ...]:
    """The images a form asks for, in order: those it keeps (by SHA-256), then the new files."""
    by_sha = {a.sha256: a for a in already}
    found: list[Attachment] = []
    for n in range(1, SLOTS + 1):
        alt = " ".join(str(form.get(f"alt{n}") or "").split())
        upload = form.get(f"image{n}")
        kept = str(form.get(f"kept{n}") or "")
        if isinstance(upload, UploadFile) and upload.filename:
            name = upload.filename[-120:]
            if upload.size is not None and upload.size > MAX_FILE:
                raise MediaError(f"{name} is {upload.size // 1_000_000} MB: at most {MAX_FILE // 1_000_000} MB a file")
            data = upload.file.read(MAX_FILE + 1)
            if len(data) > MAX_FILE:
                raise MediaError(f"{name} is over {MAX_FILE // 1_000_000} MB: choose a smaller photo")
            from ..media import keep  # Pillow loads only when someone brings an image

            found.append(keep(store, None, data, name, alt))
        elif kept:
            known = by_sha.get(kept) or _stored(store, kept)
            if known is not None and form.get(f"drop{n}") != "1":
                found.append(replace(known, alt=alt))
    return tuple(found)


def _stored(store: Store, sha: str) -> Attachment | None:
    """An image kept earlier (its form came back refused), as an Attachment without alt text."""
    if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        return None
    found = store.media_info(sha)
    return found

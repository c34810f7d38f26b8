"""One normal form for every text that enters: what is counted is what is posted.

Text arrives from the console (a textarea sends CRLF), the command line, `$EDITOR`, direct
messages, templates and YAML. Each edge passes it through `normal_text` once: newlines become
LF, the text is NFC (X counts and stores NFC), a tab becomes a space, and the characters that
only hide or reorder text are removed (NUL and the other C0 and C1 controls, DEL, the bidi
embeddings, overrides, isolates and marks, zero-width space, BOM, the line and paragraph
separators). Joiners stay: emoji sequences and some scripts need them. Lone surrogates
(which no network can store) become U+FFFD.
"""

from __future__ import annotations

import re
import unicodedata

_NEWLINES = re.compile("\r\n|\r|\u0085|\u2028|\u2029")
_REMOVED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def normal_text(text: str) -> str:
    """`text` in livetweet's one normal form (idempotent: normal_text(normal_text(t)) == normal_text(t))."""
    text = _NEWLINES.sub("\n", text).replace("\t", " ")
    text = _SURROGATE.sub("\ufffd", _REMOVED.sub("", text))
    return unicodedata.normalize("NFC", text)


def normal_line(text: str) -> str:
    """A one-line value (a name, a reason, a slot): the normal form with every run of whitespace one space."""
    return " ".join(normal_text(text).split())

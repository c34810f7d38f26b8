"""Stored text on a terminal: control and escape characters shown, never obeyed.

Operator names, reasons, DM senders and texts come from other people. Printed raw, an
escape sequence in them could clear the screen, retitle the window, hide lines or turn
text around (bidi overrides). `safe` replaces each such character with a visible escape
(ESC becomes the four characters \\x1b), so what is stored is what the operator sees.
"""

from __future__ import annotations

import re

# C0 controls (newline and tab handled apart), DEL, C1 controls (0x80-0x9f, which some
# terminals read as CSI, OSC...), the bidi embeddings, overrides and isolates, the marks
# that reorder text, and the line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object, newlines: bool = False) -> str:
    """`text` for a terminal: every control, escape or bidi character written as a visible escape.

    Tabs are kept; newlines too when `newlines` (a text printed over several lines), else
    shown as \\n so that a one-line field stays on its line.
    """
    value = str(text)
    value = _UNSAFE.sub(_visible, value)
    if not newlines:
        value = value.replace("\n", "\\n")
    return value

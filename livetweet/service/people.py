"""Who is acting: the name every operator action is audited under."""

from __future__ import annotations

import getpass
import os

from ..errors import LivetweetError
from ..plan.normal import normal_line


def operator_name(explicit: str | None = None) -> str:
    """Who is acting: --as, else LIVETWEET_OPERATOR, else the login name."""
    if explicit is not None:
        name = normal_line(explicit)[:100]
        if not name:
            raise LivetweetError("--as needs your name: it goes in the audit trail")
        return name
    name = normal_line(os.environ.get("LIVETWEET_OPERATOR") or "")[:100]
    if not name:
        try:
            name = normal_line(getpass.getuser())[:100]
        except (KeyError, OSError):  # no login name (containers without a passwd entry)
            name = ""
    return name or "operator"

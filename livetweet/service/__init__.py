"""The service layer: every operator action, once, for the CLI and the console alike.

A rule lives here, never in a click command or a web view. Each action runs in one store
transaction and is audited under the operator's name. One module per reason to change:

    facade.py       Service: the store and the clock; reads, and each action handed over
    planning.py     load a schedule into the store, and load it again (LoadReport)
    actions.py      approve, unapprove, reject, post now, edit; cancel a post-now, bring back a rejected draft
    texts.py        the rules a typed text obeys (TextRefused), duplicates
    corrections.py  shift, cue (and their previews), pause, resume
    composing.py    drafts no slot made: compose_draft, as_posted, running_segment
    inbox.py        InboxService: direct messages kept, dismissed (and restored), reshared
    people.py       operator_name: who is acting

No module here imports SQLAlchemy or a table: the store owns every query. Importing the
package loads no planning module (YAML, Jinja2, twitter-text): the functions that plan,
check a text or render one import them, so `livetweet queue` and `approve` start fast.
"""

from ..draft import MODES
from .actions import cancel_post, held_until, post_now, restore_rejected
from .composing import as_posted, compose_draft, running_segment, segment_started
from .corrections import POSTING_MARGIN, preview_cue, preview_shift
from .facade import CONSOLE_URL_KEY, Service
from .inbox import InboxService
from .people import operator_name
from .planning import AUTO_OPERATOR, SCHEDULE_OPERATOR, LoadReport
from .texts import TextRefused

__all__ = [
    "AUTO_OPERATOR",
    "CONSOLE_URL_KEY",
    "MODES",
    "POSTING_MARGIN",
    "SCHEDULE_OPERATOR",
    "InboxService",
    "LoadReport",
    "Service",
    "TextRefused",
    "as_posted",
    "cancel_post",
    "compose_draft",
    "held_until",
    "operator_name",
    "post_now",
    "preview_cue",
    "preview_shift",
    "restore_rejected",
    "running_segment",
    "segment_started",
]

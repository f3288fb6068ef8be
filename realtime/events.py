"""The event types of a case's thread and its internal notes (the catalogue:
`mediation/events.py`). A session room's chat is the sessions area's
(`mediation/sessions/events.py`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, EventType

# Talk on the case's thread is not work on the case (the stalled list ignores it).
MESSAGE_POSTED = EventType("message.posted", _l("留言"), progress=False)
MESSAGE_EDITED = EventType("message.edited", _l("留言已修改"), progress=False)
MESSAGE_DELETED = EventType("message.deleted", _l("留言已删除"), progress=False)
# Officials' notes on the case are their working record.
INTERNAL_NOTE_POSTED = EventType("internal_note.posted", _l("内部备注"), audience=OFFICIALS)
INTERNAL_NOTE_EDITED = EventType("internal_note.edited", _l("内部备注已修改"), audience=OFFICIALS)
INTERNAL_NOTE_DELETED = EventType("internal_note.deleted", _l("内部备注已删除"), audience=OFFICIALS)

ALL = (MESSAGE_POSTED, MESSAGE_EDITED, MESSAGE_DELETED, INTERNAL_NOTE_POSTED, INTERNAL_NOTE_EDITED,
       INTERNAL_NOTE_DELETED)

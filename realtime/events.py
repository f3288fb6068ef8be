"""The event types of a case's thread and its internal notes (the catalogue:
`mediation/events.py`). A session room's chat is the sessions area's
(`mediation/sessions/events.py`)."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, EventType

MENTION = re.compile(r"@([A-Za-z0-9_.-]{1,64})")


def mention_recipients(session: Any, envelope: dict) -> list[int]:
    """Users named `@username` in a posted message who see the case: mentioning someone
    does not show them a case they do not see (the event's audience decides the rest)."""
    import sqlalchemy as sa

    from mediation.cases.models import Case
    from mediation.permissions import can_view_case
    from mediation.users import User

    names = set(MENTION.findall(str((envelope.get("data") or {}).get("body") or "")))
    if not names:
        return []
    case = session.get(Case, envelope["case_id"])
    users = session.execute(sa.select(User).where(User.username.in_(sorted(names)))).scalars()
    return [u.id for u in users if case is not None and u.active and can_view_case(u, case)]


# Talk on the case's thread is not work on the case (the stalled list ignores it). A
# mention reaches the user named (their inbox and notification centre).
MESSAGE_POSTED = EventType("message.posted", _l("留言"), recipients=(mention_recipients,), progress=False)
MESSAGE_EDITED = EventType("message.edited", _l("留言已修改"), progress=False)
MESSAGE_DELETED = EventType("message.deleted", _l("留言已删除"), progress=False)
# Officials' notes on the case are their working record.
INTERNAL_NOTE_POSTED = EventType("internal_note.posted", _l("内部备注"), audience=OFFICIALS,
                                 recipients=(mention_recipients,))
INTERNAL_NOTE_EDITED = EventType("internal_note.edited", _l("内部备注已修改"), audience=OFFICIALS)
INTERNAL_NOTE_DELETED = EventType("internal_note.deleted", _l("内部备注已删除"), audience=OFFICIALS)

ALL = (MESSAGE_POSTED, MESSAGE_EDITED, MESSAGE_DELETED, INTERNAL_NOTE_POSTED, INTERNAL_NOTE_EDITED,
       INTERNAL_NOTE_DELETED)

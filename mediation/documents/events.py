"""The documents' event types (the catalogue: `mediation/events.py`). They carry what a
document is — name, kind, size, type, SHA-256 — never its content."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from mediation.events import Audience, EventType
from mediation.permissions import OFFICIAL_ROLES
from mediation.users import User


def _admits(user: User, case: Any, data: dict) -> bool:
    """Officials see every document's events; others those of documents they may read:
    the case's own papers, and their own counselling attachments."""
    if user.role in OFFICIAL_ROLES:
        return True
    if not data:
        return False
    attached = data.get("attached_type")
    if attached and attached != "case" and not _reads_record(user, attached, data.get("attached_id")):
        return False
    visibility = data.get("visibility", "case")
    return visibility == "case" or (visibility == "author" and data.get("by") == user.id)


def _reads_record(user: User, attached: str, record_id: Any) -> bool:
    """Whether the user may read the record a document is attached to (a session's minutes
    are for the session's participants): the record's own rule, asked now."""
    from mediation.documents import targets
    from mediation.errors import DomainError

    try:
        targets.target(attached).load(user, int(record_id))
    except (DomainError, TypeError, ValueError):
        return False
    return True


def document_recipients(db_session: Any, envelope: dict) -> list[int]:
    """The uploader hears of their own document wherever they are."""
    by = (envelope.get("data") or {}).get("by")
    return [int(by)] if by is not None else []


DOCUMENT_READERS = Audience(
    "document_readers", _admits, admits_region=lambda user: user.role in OFFICIAL_ROLES,
    doc="officials who see the case; others who see it, for the documents they may read")

DOCUMENT_ADDED = EventType("document.added", _l("上传材料"), audience=DOCUMENT_READERS,
                           recipients=(document_recipients,))
DOCUMENT_WITHDRAWN = EventType("document.withdrawn", _l("撤回材料"), audience=DOCUMENT_READERS,
                               recipients=(document_recipients,))
# An admin's retention purge removes the bytes of a withdrawn document: no work on the case.
DOCUMENT_PURGED = EventType("document.purged", _l("材料到期清除"), audience=DOCUMENT_READERS,
                            progress=False)

ALL = (DOCUMENT_ADDED, DOCUMENT_WITHDRAWN, DOCUMENT_PURGED)

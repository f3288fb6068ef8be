"""The referrals' records that documents attach to: a lawyer's legal opinion (its
annexes, read by whoever sees the case) and a counsellor's note (its attachments read by
their author alone, like the note's content)."""

from __future__ import annotations

from mediation.documents.targets import Attachment, AttachTarget
from mediation.errors import NotFound
from mediation.extensions import db
from mediation.permissions import require_case
from mediation.users import User
from referrals.models import CounsellingNote, LegalOpinion


def _opinion(user: User, record_id: int) -> Attachment:
    opinion = db.session.get(LegalOpinion, record_id)
    if opinion is None:
        raise NotFound("legal opinion")
    case = require_case(user, opinion.case_id)
    return Attachment(case.id, "case", user.id == opinion.author_id)


def _counselling(user: User, record_id: int) -> Attachment:
    note = db.session.get(CounsellingNote, record_id)
    if note is None:
        raise NotFound("counselling note")
    case = require_case(user, note.case_id)
    return Attachment(case.id, "author", user.id == note.author_id)


TARGETS = (
    AttachTarget("opinion", _opinion, "a legal opinion: its annexes"),
    AttachTarget("counselling_note", _counselling, "a counselling note: read by its author only"),
)

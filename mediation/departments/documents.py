"""The departments' record that documents attach to: a reply to a hand-over (办理回复), its
papers read by the officials who see the case and by the department that replied — which
sees no case, so the record vouches for it (`Attachment.vouches`). Its department attaches
while the reply awaits the officer's decision; a decided reply takes no more papers."""

from __future__ import annotations

from mediation.departments.models import HandoverReply, HandoverStatus
from mediation.departments.rules import sees_handover
from mediation.documents.targets import Attachment, AttachTarget
from mediation.errors import NotFound
from mediation.extensions import db
from mediation.permissions import Action, can
from mediation.users import User


def _reply(user: User, record_id: int) -> Attachment:
    reply = db.session.get(HandoverReply, record_id)
    if reply is None or not sees_handover(user, reply.handover):
        raise NotFound("handover reply")
    h = reply.handover
    may = can(user, Action.HANDOVER_RESPOND, h)
    closed = reply.decision or (h.status if h.status != HandoverStatus.REPLIED else None)
    return Attachment(h.case_id, "case", may, closed=closed, vouches=True)


TARGETS = (AttachTarget("handover_reply", _reply,
                        "a department's reply to a hand-over: read by the officials and the department"),)

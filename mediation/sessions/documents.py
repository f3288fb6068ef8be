"""The sessions area's records that documents attach to: a session (minutes,
recordings), an agreement (the signed scan), a performance item (its evidence), a follow-up
visit (回访记录: the signed visit record, photos). Their attachments are read by whoever may
read the record — a visit's by the case's officials and the agreement's mediator, as the
visit itself."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from mediation.documents.targets import Attachment, AttachTarget
from mediation.errors import Forbidden, NotFound
from mediation.permissions import Action, can
from mediation.sessions import commands, followup
from mediation.sessions.models import AgreementStatus, SessionStatus
from mediation.users import User


def _session(user: User, record_id: int) -> Attachment:
    session, case = commands.get_session(user, record_id)
    keeper = user.id == session.mediator_id or can(user, Action.CASE_EDIT, case)
    closed = session.status if session.status == SessionStatus.CANCELLED else None
    return Attachment(case.id, "case", keeper, closed)


def _agreement(user: User, record_id: int) -> Attachment:
    agreement, case = commands.get_agreement(user, record_id, read_only=True)
    keeper = user.id == agreement.mediator_id or can(user, Action.CASE_EDIT, case)
    closed = agreement.status if agreement.status == AgreementStatus.SUPERSEDED else None
    return Attachment(case.id, "case", keeper, closed)


def _performance(user: User, record_id: int) -> Attachment:
    from mediation.extensions import db
    from mediation.sessions.models import Agreement

    item, case = followup.get_item(user, record_id, read_only=True)
    agreement = db.session.get(Agreement, item.agreement_id)
    keeper = user.id == agreement.mediator_id or can(user, Action.CASE_EDIT, case)
    return Attachment(case.id, "case", keeper)


def _visit(user: User, record_id: int) -> Attachment:
    """A follow-up visit: read by whoever reads the case's visits (officials who see the
    case, the agreement's mediator), attached to by whoever records them; 404 otherwise."""
    from mediation.extensions import db
    from mediation.sessions import visits
    from mediation.sessions.models import FollowupVisit

    v = db.session.get(FollowupVisit, record_id)
    if v is None:
        raise NotFound("visit")
    try:
        case = visits._case_for(user, v.case_id)
    except (NotFound, Forbidden):
        raise NotFound("visit") from None
    return Attachment(case.id, "case", visits._may_record(user, case))


def _visit_choices(user: User, case: Any) -> list[tuple[int, str]]:
    from mediation.sessions import visits

    try:
        rows = visits.visits_of(user, case.id)
    except (NotFound, Forbidden):
        return []
    if not visits._may_record(user, case):
        return []
    out = []
    for v in rows:
        day = v.visited_on or v.due_on
        words = str(_l("已回访")) if v.recorded_at is not None else str(_l("待回访"))
        out.append((v.id, f"{day.isoformat() if day else ''} {words}".strip()))
    return out


TARGETS = (
    AttachTarget("session", _session, "a mediation session: minutes, recordings", _l("调解会")),
    AttachTarget("agreement", _agreement, "a mediation agreement: the signed scan", _l("调解协议")),
    AttachTarget("performance", _performance, "a performance item: its evidence", _l("履行事项")),
    AttachTarget("visit", _visit, "a follow-up visit (回访记录): read by the case's officials and "
                 "the agreement's mediator", _l("回访记录"), _visit_choices),
)

"""The sessions area's records that documents attach to: a session (minutes,
recordings), an agreement (the signed scan), a performance item (its evidence). Their
attachments are read by whoever may read the record."""

from __future__ import annotations

from mediation.documents.targets import Attachment, AttachTarget
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


TARGETS = (
    AttachTarget("session", _session, "a mediation session: minutes, recordings"),
    AttachTarget("agreement", _agreement, "a mediation agreement: the signed scan"),
    AttachTarget("performance", _performance, "a performance item: its evidence"),
)

"""Supervision's record that documents attach to: a satisfaction survey (满意度评价) — the
scan of a questionnaire answered on paper, a note of a call. Surveys judge the officers'
handling, so their papers are internal (officials who see the case read them) and only
those who send surveys (supervisors covering the case, admins) attach to them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from mediation.documents.targets import Attachment, AttachTarget
from mediation.errors import NotFound
from mediation.users import User


def _survey(user: User, record_id: int) -> Attachment:
    from mediation.extensions import db
    from mediation.permissions import Action, can, require_case
    from mediation.supervision.models import SurveyInvite

    invite = db.session.get(SurveyInvite, record_id)
    if invite is None:
        raise NotFound("survey")
    try:
        case = require_case(user, invite.case_id)
    except NotFound:
        raise NotFound("survey") from None
    if not can(user, Action.CASE_INTERNAL, case):
        raise NotFound("survey")
    return Attachment(case.id, "officials", can(user, Action.SURVEY_SEND, case))


def _survey_choices(user: User, case: Any) -> list[tuple[int, str]]:
    from mediation import clock
    from mediation.extensions import db
    from mediation.permissions import Action, can
    from mediation.supervision.models import SurveyInvite

    if not can(user, Action.SURVEY_SEND, case):
        return []
    rows = db.session.execute(sa.select(SurveyInvite).where(SurveyInvite.case_id == case.id)
                              .order_by(SurveyInvite.id)).scalars()
    return [(i.id, f"{clock.local_date(i.created_at).isoformat()} "
                   f"{_l('已评价') if i.used_at else _l('未评价')}") for i in rows]


TARGET = AttachTarget("survey", _survey, "a satisfaction survey: internal, attached to by those who "
                      "send surveys", _l("满意度评价"), _survey_choices)

"""Supervision: survey answers on past dates (the KPIs count them by the day answered)."""

from __future__ import annotations

from mediation.extensions import db
from mediation.supervision.models import SurveyAnswer, SurveyInvite
from tests.factories.base import at


def survey_answer(case_id: int, rating: int, day: str, hour: int = 12) -> None:
    """A petitioner's answer of `rating` stars to a used survey link, on `day` at `hour` UTC."""
    invite = SurveyInvite(case_id=case_id, token_hash=f"{case_id}-{day}-{rating}-{hour}".ljust(64, "x"),
                          expires_at=at(day), used_at=at(day, hour))
    db.session.add(invite)
    db.session.flush()
    db.session.add(SurveyAnswer(invite_id=invite.id, case_id=case_id, rating=rating,
                                answered_at=at(day, hour)))
    db.session.commit()

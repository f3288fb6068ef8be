"""The third-party evaluation data set (第三方评估): one row per case, no name, identity or
phone number and no free text (which may hold any of them); cases are named by an HMAC
pseudonym that is stable across exports but cannot be reversed without the app's secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import current_app

from mediation.cases.models import Case
from mediation.extensions import db
from mediation.supervision import kpis
from mediation.supervision.excel import csv_text, workbook_bytes
from mediation.supervision.models import SurveyAnswer
from mediation.timeline import Event

COLUMNS = ["case_pseudonym", "region_code", "departments", "status", "assessment", "categories",
           "livelihood_fields", "times_handled", "visits_in_person", "online_complaints",
           "received_on", "accepted_on", "replied_on", "resolved", "petitioning_ceased",
           "reopened_after_resolution", "petitioners", "events", "survey_answers", "mean_rating"]


def pseudonym_key() -> bytes:
    """A key for pseudonyms only, derived from the app's secret (never the secret itself)."""
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"mediation evaluation pseudonym",
                    hashlib.sha256).digest()


def pseudonym(case_id: int, key: bytes | None = None) -> str:
    key = key or pseudonym_key()
    return "C" + hmac.new(key, str(case_id).encode(), hashlib.sha256).hexdigest()[:16]


def _rows() -> Iterator[list[Any]]:
    from mediation.cases.models import CaseFlag, Petitioner

    events = (sa.select(Event.case_id, sa.func.count().label("n")).group_by(Event.case_id).subquery())
    answers = (sa.select(SurveyAnswer.case_id, sa.func.count().label("n"),
                         sa.func.avg(SurveyAnswer.rating).label("mean"))
               .group_by(SurveyAnswer.case_id).subquery())
    people = (sa.select(Petitioner.case_id, sa.func.count().label("n"))
              .group_by(Petitioner.case_id).subquery())
    q = (sa.select(Case.id, Case.region_code, Case.departments, Case.status, Case.assessment,
                   Case.category_mask, Case.livelihood_fields, Case.times_handled,
                   Case.visits_in_person, Case.online_complaints, Case.received_on,
                   Case.accepted_on, Case.replied_on,
                   Case.status.in_(kpis.RESOLVED_STATUSES).label("resolved"),
                   kpis.flag_set(CaseFlag.PETITIONING_CEASED).label("ceased"),
                   kpis.flag_set(CaseFlag.REOPENED_AFTER_RESOLUTION).label("reopened"),
                   sa.func.coalesce(people.c.n, 0), sa.func.coalesce(events.c.n, 0),
                   sa.func.coalesce(answers.c.n, 0), answers.c.mean)
         .outerjoin(events, events.c.case_id == Case.id)
         .outerjoin(answers, answers.c.case_id == Case.id)
         .outerjoin(people, people.c.case_id == Case.id)
         .order_by(Case.id))
    key = pseudonym_key()
    for r in db.session.execute(q).yield_per(2000):
        yield [pseudonym(r[0], key), r[1], "、".join(r[2] or []), r[3], r[4] or "",
               "、".join(str(n) for n in range(1, 7) if r[5] & (1 << (n - 1))),
               "、".join(r[6] or []), r[7], r[8], r[9],
               *(d.isoformat() if d else "" for d in (r[10], r[11], r[12])),
               int(bool(r[13])), int(bool(r[14])), int(bool(r[15])), r[16], r[17], r[18],
               round(float(r[19]), 2) if r[19] is not None else ""]


def export_csv() -> str:
    return csv_text([COLUMNS, *_rows()])


def export_xlsx() -> bytes:
    return workbook_bytes({"evaluation": [COLUMNS, *_rows()]})

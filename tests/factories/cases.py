"""Cases: the intake body, a case taken in through the real command, a case row dated in
the past (for reports), and a case's events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mediation.cases import commands
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.schemas.cases import CaseIn
from mediation.timeline import Event
from mediation.users import User
from tests.factories.base import at, seq


def case_payload(**overrides: Any) -> dict[str, Any]:
    """A valid intake body for a county case in 锦江区 (510104)."""
    body: dict[str, Any] = {
        "title": "征地拆迁补偿纠纷",
        "summary": "村民反映征地补偿款未足额发放",
        "region_code": "510104",
        "departments": ["区自然资源局"],
        "received_on": "2025-03-01",
        "accepted_on": "2025-03-08",
        "times_handled": 1,
        "livelihood_fields": ["land_demolition"],
        "petitioners": [{"name": "张三", "id_number": "510104198001011234",
                         "phone": "13800138000", "groups": ["worker"]}],
    }
    body.update(overrides)
    return body


def make_case(officer: User, **overrides: Any) -> Case:
    """A case taken in by the officer through the intake command (`case_payload` overridden)."""
    return commands.intake(officer, CaseIn().load(case_payload(**overrides)))


def case_row(region: str = "510104", status: str = "in_progress", changed: str = "2025-01-10",
             created: str = "2025-01-10", *, title: str = "t", flags: list[str] | tuple = (),
             departments: list[str] | tuple = (), **columns: Any) -> int:
    """A case row as an imported ledger holds it — no intake, no events — whose status
    changed on `changed` and which was created and listed in the action on `created` (noon
    UTC). Committed; its id."""
    # As the ledger holds it: listed in the action (纳入专项行动) on the day it was entered,
    # with a category (category 6 unless the caller says otherwise).
    columns = {"action_listed_on": dt.date.fromisoformat(created), "category_mask": 1 << 5} | columns
    case = Case(reference=f"T-{seq():05d}", title=title, region_code=region, status=status,
                status_changed_at=at(changed), created_at=at(created), flags=list(flags),
                departments=list(departments), last_seq=0, **columns)
    db.session.add(case)
    db.session.commit()
    return case.id


def events(case_id: int, type_prefix: str = "") -> list[Event]:
    """The case's events of these types, oldest first, read afresh."""
    db.session.expire_all()
    return list(db.session.execute(
        sa.select(Event).where(Event.case_id == case_id, Event.type.startswith(type_prefix))
        .order_by(Event.seq)).scalars())

"""Hand-over state changes raced on PostgreSQL, real threads on real connections: each
status change is one conditional update, so of many clicks exactly one wins and the rest
are 409s naming the state the winner left; the timeline holds one event per win."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import sqlalchemy as sa

from mediation import clock, timeline
from mediation.departments import commands
from mediation.departments.models import Handover, HandoverReply
from mediation.errors import Conflict
from mediation.extensions import db
from mediation.users import User
from tests.factories import make_case, make_department, make_user

# The referrals' races' app (own database, a pool of 30) and threads serve these too.
from tests.test_referrals_pg_concurrency import pg as _pg  # noqa: F401 - fixture `pg`
from tests.test_referrals_pg_concurrency import race_app as _race_app  # noqa: F401 - fixture `race_app`
from tests.test_referrals_pg_concurrency import run_threads

pytestmark = pytest.mark.postgres


def _world():
    officer = make_user("case_officer", "510104")
    members = [make_user("department", "510100") for _ in range(4)]
    department = make_department("civil_affairs", "510100", members=tuple(members))
    case = make_case(officer)
    h = commands.create(officer, case.id, {"department_ids": [department.id], "matter": "低保",
                                           "ask": "核实", "due_on": clock.today() + dt.timedelta(days=5)})[0]
    ids = (h.id, case.id, officer.id, [m.id for m in members])
    db.session.remove()
    return ids


def _events(case_id: int, type_: str) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(timeline.Event).where(
        timeline.Event.case_id == case_id, timeline.Event.type == type_)).scalar_one()


def test_pg_40_acknowledgements_one_wins(pg):
    hid, cid, _officer, members = _world()

    def ack(i):
        return commands.acknowledge(db.session.get(User, members[i % 4]), hid).status

    outcomes = run_threads(pg, 40, ack)
    assert outcomes.count("acknowledged") == 1, Counter(map(str, outcomes))
    losses = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(losses) == 39 and {o.extra["current_state"] for o in losses} == {"acknowledged"}
    assert _events(cid, "handover.acknowledged") == 1


def test_pg_replies_against_a_withdrawal_one_outcome(pg):
    """Twenty replies and twenty withdrawals at once: whichever comes first decides; the
    other side's every attempt is a 409, and no reply row survives a withdrawal."""
    hid, cid, officer_id, members = _world()

    def act(i):
        if i % 2:
            return commands.withdraw(db.session.get(User, officer_id), hid, "另行处理").status
        member = db.session.get(User, members[i % 4])
        return commands.reply(member, hid, {"result": f"回复{i}"}).handover.status

    outcomes = run_threads(pg, 40, act)
    wins = [o for o in outcomes if isinstance(o, str)]
    assert len(wins) == 1, Counter(map(str, outcomes))
    status = db.session.get(Handover, hid).status
    assert wins == [status]
    replies = db.session.execute(sa.select(sa.func.count()).select_from(HandoverReply)
                                 .where(HandoverReply.handover_id == hid)).scalar_one()
    assert replies == (1 if status == "replied" else 0)
    assert {o.extra["current_state"] for o in outcomes if isinstance(o, Conflict)} == {status}
    assert _events(cid, "handover.replied") + _events(cid, "handover.withdrawn") == 1


def test_pg_accept_against_send_back_one_decision(pg):
    hid, cid, officer_id, members = _world()
    commands.reply(db.session.get(User, members[0]), hid, {"result": "已办理"})
    db.session.remove()

    def decide(i):
        officer = db.session.get(User, officer_id)
        if i % 2:
            return commands.accept(officer, hid).status
        return commands.send_back(officer, hid, "材料不全").status

    outcomes = run_threads(pg, 30, decide)
    wins = [o for o in outcomes if isinstance(o, str)]
    assert len(wins) == 1, Counter(map(str, outcomes))
    h = db.session.get(Handover, hid)
    assert h.status == wins[0] and h.rounds == (1 if h.status == "returned" else 0)
    assert [r.decision for r in h.replies] == ["accepted" if h.status == "accepted" else "returned"]

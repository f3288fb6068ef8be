"""Real concurrency on PostgreSQL: many writers of one case at once, each in its own app
context, session and connection, as in a multi-threaded or multi-process server."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from mediation import timeline
from mediation.cases import commands
from mediation.cases.models import Case
from mediation.errors import Conflict
from mediation.events import EventType
from mediation.extensions import db
from mediation.registry import registry
from mediation.timeline import Event
from mediation.users import User
from tests.factories import make_user

THREADS = 20
CONCURRENT = EventType("test.concurrent", "concurrent")  # declared for one test only


def run_together(app, n: int, work: Callable[[User, int], Any], user_id: int) -> list[Any]:
    """Run work(user, i) in n threads released at once; return each result or exception."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                db.session.expunge(user)
                db.session.rollback()  # hold no connection while waiting for the others
                barrier.wait(timeout=30)
                results[i] = work(user, i)
            except Exception as exc:  # reported through results, asserted by the test
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return results


def _new_case(officer: User) -> int:
    return commands.intake(officer, {
        "title": "并发写入的案件", "region_code": "510104", "received_on": dt.date(2025, 3, 1),
        "livelihood_fields": ["education"],
        "petitioners": [{"name": "张三", "id_number": "510104198001011234"}]}).id


def test_twenty_writers_of_one_case_get_gapless_sequence_and_valid_chain(pg):
    officer = make_user("case_officer", "510104")
    case_id = _new_case(officer)
    start = db.session.get(Case, case_id).last_seq

    def write(user: User, i: int):
        if i % 2:
            return commands.add_investigation(user, case_id, {
                "method": "on_site_check", "conducted_on": dt.date(2025, 3, 10),
                "findings": f"第{i}组实地核查"})
        return commands.update(user, case_id, {"strategy_note": f"第{i}版策略"})

    results = run_together(pg, THREADS, write, officer.id)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    db.session.remove()
    seqs = db.session.execute(sa.select(Event.seq).where(Event.case_id == case_id)
                              .order_by(Event.seq)).scalars().all()
    assert seqs == list(range(1, start + THREADS + 1))
    assert db.session.get(Case, case_id).last_seq == start + THREADS
    assert timeline.verify(case_id) == (1, [])
    types = db.session.execute(sa.select(Event.type).where(Event.case_id == case_id,
                                                           Event.seq > start)).scalars().all()
    assert sorted(types).count("dossier.investigation_added") == THREADS // 2
    assert sorted(types).count("case.updated") == THREADS // 2
    assert timeline.pending_count() == 0  # every event was published after its commit


def test_twenty_raw_appends_to_one_case(pg):
    officer = make_user("case_officer", "510104")
    case_id = _new_case(officer)

    def append(user: User, i: int) -> int:
        ev = timeline.append(db.session, case_id, CONCURRENT, {"writer": i}, user.id)
        db.session.commit()
        return ev.seq

    with registry(pg).event_types.scoped(CONCURRENT.name, CONCURRENT):
        got = run_together(pg, THREADS, append, officer.id)
    assert all(isinstance(s, int) for s in got), got
    assert sorted(got) == list(range(3, 3 + THREADS))
    db.session.remove()
    assert timeline.verify() == (1, [])


def test_concurrent_transitions_exactly_one_wins(pg):
    officer = make_user("case_officer", "510104")
    case_id = _new_case(officer)

    def move(user: User, i: int):
        return commands.transition(user, case_id, "in_progress", f"writer {i}").status

    results = run_together(pg, 10, move, officer.id)
    wins = [r for r in results if r == "in_progress"]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1, results
    assert len(conflicts) == 9, results
    assert {c.status for c in conflicts} == {409}
    assert {c.extra["current_state"] for c in conflicts} == {"in_progress"}
    db.session.remove()
    types = db.session.execute(sa.select(Event.type).where(Event.case_id == case_id)
                               .order_by(Event.seq)).scalars().all()
    assert types.count("case.status_changed") == 1
    assert timeline.verify() == (1, [])


def test_concurrent_intakes_get_distinct_references(pg):
    officer = make_user("case_officer", "510104")
    results = run_together(pg, 10, lambda user, i: _new_case(user), officer.id)
    assert all(isinstance(r, int) for r in results), results
    db.session.remove()
    refs = db.session.execute(sa.select(Case.reference)).scalars().all()
    assert len(set(refs)) == 10 and all(r.startswith("XF-2025-") for r in refs)
    assert timeline.verify() == (10, [])

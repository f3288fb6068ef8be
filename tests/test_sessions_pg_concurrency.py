"""Concurrent edits of one draft agreement, and concurrent signatures, decided by
PostgreSQL with real threads on real connections (always PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from mediation.errors import Conflict
from mediation.extensions import db
from mediation.sessions import commands
from mediation.sessions.models import Agreement
from mediation.timeline import Event
from mediation.users import User
from tests.factories import complete_content, sessions_world

pytestmark = pytest.mark.postgres


def run_threads(app, n: int, work) -> list:
    """work(i) in n threads released together, each with its own app context and
    connection; what each returned or raised."""
    barrier = threading.Barrier(n)

    def one(i: int):
        with app.app_context():
            try:
                barrier.wait(timeout=60)
                return work(i)
            except Exception as exc:  # the outcome under test
                return exc
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_pg_concurrent_edits_of_one_version_exactly_one_wins(pg):
    w = sessions_world(pg)
    mediator_id = w.users["mediator"].id
    with pg.app_context():
        a = commands.draft(db.session.get(User, mediator_id), w.case_id, {})
        agreement_id = a.id
        db.session.remove()

    def edit(i: int):
        actor = db.session.get(User, mediator_id)
        return commands.revise(actor, agreement_id, 1, {"facts": f"版本{i}"}).version

    outcomes = run_threads(pg, 8, edit)
    wins = [o for o in outcomes if o == 2]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(wins) == 1 and len(conflicts) == 7, Counter(type(o).__name__ for o in outcomes)
    assert all(c.extra["current_state"] == {"status": "draft", "version": 2} for c in conflicts)
    db.session.remove()
    stored = db.session.get(Agreement, agreement_id)
    assert stored.version == 2 and stored.facts.startswith("版本")
    revised = db.session.execute(sa.select(sa.func.count()).select_from(Event).where(
        Event.case_id == w.case_id, Event.type == "agreement.revised")).scalar_one()
    assert revised == 1


def test_pg_the_last_signatures_arriving_together_put_it_in_effect_once(pg):
    w = sessions_world(pg)
    officer_id, mediator_id = w.users["officer"].id, w.users["mediator"].id
    with pg.app_context():
        mediator = db.session.get(User, mediator_id)
        a = commands.draft(mediator, w.case_id, complete_content(w))
        commands.finalise(mediator, a.id)
        agreement_id = a.id
        db.session.remove()

    signings = [(officer_id, "party", "hand", 0), (officer_id, "party", "seal", 1),
                (mediator_id, "mediator", "account", None)] * 2  # each signer twice

    def sign(i: int):
        user_id, signer, method, index = signings[i]
        return commands.sign(db.session.get(User, user_id), agreement_id, signer, method, index).id

    outcomes = run_threads(pg, len(signings), sign)
    assert sum(1 for o in outcomes if o == agreement_id) == 3, outcomes
    assert sum(1 for o in outcomes if isinstance(o, Conflict)) == 3, outcomes
    db.session.remove()
    assert db.session.get(Agreement, agreement_id).status == "in_effect"
    counts = Counter(db.session.execute(sa.select(Event.type).where(
        Event.case_id == w.case_id, Event.type.in_(
            ["agreement.signed", "agreement.in_effect", "case.status_changed"]))).scalars())
    assert counts == {"agreement.signed": 3, "agreement.in_effect": 1, "case.status_changed": 2}


def test_pg_concurrent_finalisations_take_distinct_numbers_in_sequence(pg):
    """Eight drafts of one committee finalised at once, the first of its year among them
    (its counter row made in the race): numbers 1 to 8, each once (文号)."""
    w = sessions_world(pg)
    mediator_id = w.users["mediator"].id
    with pg.app_context():
        actor = db.session.get(User, mediator_id)
        ids = [commands.draft(actor, w.case_id, complete_content(w)).id for _ in range(8)]
        db.session.remove()

    def finalise(i: int):
        return commands.finalise(db.session.get(User, mediator_id), ids[i]).document_no

    outcomes = run_threads(pg, 8, finalise)
    assert all(isinstance(o, str) for o in outcomes), outcomes
    numbers = sorted(int(o.split("第")[1].rstrip("号")) for o in outcomes)
    assert numbers == list(range(1, 9)), outcomes
    db.session.remove()

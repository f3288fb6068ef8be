"""Races decided by PostgreSQL, with real threads on real connections (always PostgreSQL,
whatever the suite's database)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from mediation import timeline
from mediation.errors import Conflict, Invalid
from mediation.extensions import db
from mediation.users import User
from referrals import lifecycle
from referrals.models import Provider, Referral
from tests.conftest import build_app, clean_database, drop_pg_database, make_pg_database
from tests.factories import make_case, make_provider, make_user

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def race_app(tmp_path_factory):
    """An app on its own PostgreSQL database with a pool of 30 connections: the threads
    outnumber it, so they queue for connections as a real server's would, while up to 30
    transactions race at once (the server is shared: 100 connections in all)."""
    url = make_pg_database()
    try:
        yield build_app(url, tmp_path_factory.mktemp("race"), SQLALCHEMY_ENGINE_OPTIONS={
            "pool_size": 30, "max_overflow": 0, "pool_timeout": 120})
    finally:
        drop_pg_database(url)


@pytest.fixture
def pg(race_app):
    with race_app.app_context():
        yield race_app
        db.session.remove()
    clean_database(race_app)


def run_threads(app, n: int, work) -> list:
    """Run work(i) in n threads released together; each has its own app context and
    connection. Returns what each returned or raised."""
    barrier = threading.Barrier(n)

    def one(i: int):
        with app.app_context():
            try:
                barrier.wait(timeout=60)
                return work(i)
            except Exception as exc:  # the outcome under test, kept for the assertions
                return exc
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_pg_100_threads_accept_one_referral_exactly_one_wins(pg):
    officer = make_user("case_officer", "510104")
    mediator = make_user("mediator")
    make_provider("mediator", members=(mediator,), capacity=5)
    case = make_case(officer, needs=["economic_compensation"])
    ref = lifecycle.request_referral(officer, case.id, "economic_compensation")
    rid, uid, cid = ref.id, mediator.id, case.id
    db.session.remove()

    def accept(_i):
        return lifecycle.accept(db.session.get(User, uid), rid).status

    outcomes = run_threads(pg, 100, accept)
    wins = [o for o in outcomes if o == "accepted"]
    losses = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(wins) == 1, Counter(type(o).__name__ for o in outcomes)
    assert len(losses) == 99
    assert {c.extra["current_state"] for c in losses} == {"accepted"}
    accepted_events = db.session.execute(sa.select(sa.func.count()).select_from(timeline.Event).where(
        timeline.Event.case_id == cid, timeline.Event.type == "referral.accepted")).scalar_one()
    assert accepted_events == 1
    assert timeline.verify(cid) == (1, [])


@pytest.fixture
def crowd(pg):
    """10 mediators of capacity 3 in one county, 200 cases there, all needing mediation."""
    officer = make_user("case_officer", "510104")
    users = [make_user("mediator") for _ in range(10)]
    providers = [make_provider("mediator", members=(u,), capacity=3) for u in users]
    cases = [make_case(officer, needs=["economic_compensation"]) for _ in range(200)]
    out = dict(officer=officer.id, members={p.id: u.id for p, u in zip(providers, users, strict=True)},
               providers=[p.id for p in providers], cases=[c.id for c in cases])
    db.session.remove()
    return out


def assert_capacity_held(crowd) -> int:
    db.session.expire_all()
    loads = dict(db.session.execute(sa.select(Provider.id, Provider.load)).all())
    live = Counter(db.session.execute(sa.select(Referral.provider_id).where(
        Referral.status.in_(("offered", "accepted")))).scalars())
    accepted = Counter(db.session.execute(sa.select(Referral.provider_id).where(
        Referral.status == "accepted")).scalars())
    for pid in crowd["providers"]:
        assert loads[pid] <= 3 and live[pid] <= 3 and accepted[pid] <= 3, (pid, loads, live)
        assert loads[pid] == live[pid]  # the counter never drifts from the rows
    return sum(accepted.values())


def test_pg_200_threads_route_and_accept_across_10_providers_of_capacity_3(pg, crowd):
    def route_and_accept(i):
        officer = db.session.get(User, crowd["officer"])
        ref = lifecycle.request_referral(officer, crowd["cases"][i], "economic_compensation")
        if ref is None:
            return None
        member = db.session.get(User, crowd["members"][ref.provider_id])
        return lifecycle.accept(member, ref.id).status

    outcomes = run_threads(pg, 200, route_and_accept)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert not errors, errors[:3]
    assert outcomes.count("accepted") == 30
    assert outcomes.count(None) == 170  # no capacity left: those needs wait
    assert assert_capacity_held(crowd) == 30


def test_pg_200_threads_offer_to_chosen_providers_never_above_capacity(pg, crowd):
    def offer_and_accept(i):
        officer = db.session.get(User, crowd["officer"])
        pid = crowd["providers"][i % 10]
        ref = lifecycle.request_referral(officer, crowd["cases"][i], "economic_compensation",
                                         provider_id=pid)
        member = db.session.get(User, crowd["members"][pid])
        return lifecycle.accept(member, ref.id).status

    outcomes = run_threads(pg, 200, offer_and_accept)
    refused = [o for o in outcomes if isinstance(o, Invalid)]
    assert outcomes.count("accepted") == 30
    assert len(refused) == 170
    assert all(o.extra["errors"]["provider_id"][0].startswith("capacity") for o in refused)
    assert assert_capacity_held(crowd) == 30

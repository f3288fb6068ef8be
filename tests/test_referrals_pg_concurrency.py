"""Races decided by PostgreSQL, with real threads on real connections (always PostgreSQL,
whatever the suite's database)."""

from __future__ import annotations

import threading
import time
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


# --- the sweep against a provider's answer: the offer's row decides -------------------------

@pytest.fixture
def due_offer(pg):
    """An offer past its deadline, of one of two mediators (the other is free)."""
    officer = make_user("case_officer", "510104")
    users = [make_user("mediator") for _ in range(2)]
    providers = [make_provider("mediator", members=(u,), capacity=2) for u in users]
    case = make_case(officer, needs=["economic_compensation"])
    ref = lifecycle.request_referral(officer, case.id, "economic_compensation")
    db.session.execute(sa.update(Referral).where(Referral.id == ref.id)
                       .values(respond_by=sa.func.now() - sa.text("interval '1 minute'")))
    db.session.commit()
    member = {p.id: u.id for p, u in zip(providers, users, strict=True)}[ref.provider_id]
    out = dict(referral=ref.id, case=case.id, member=member, first=ref.provider_id,
               other=next(p.id for p in providers if p.id != ref.provider_id))
    db.session.remove()
    return out


def _lock_waiters() -> int:
    n = db.session.execute(sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'")).scalar_one()
    db.session.rollback()
    return n


def _race(app, first, second, monkeypatch, module, name):
    """Run `first` until it holds the offer's row (it calls module.name next), then `second`
    until it waits for that row lock, then let `first` finish. Returns both outcomes."""
    holding, go = threading.Event(), threading.Event()
    real = getattr(module, name)

    def paused(*a, **kw):
        holding.set()
        assert go.wait(60)
        return real(*a, **kw)

    monkeypatch.setattr(module, name, paused)
    out: dict[str, object] = {}

    def run(key, fn):
        with app.app_context():
            try:
                out[key] = fn()
            except Exception as exc:  # the outcome under test
                out[key] = exc
            finally:
                db.session.remove()

    a = threading.Thread(target=run, args=("first", first))
    a.start()
    assert holding.wait(60), out
    b = threading.Thread(target=run, args=("second", second))
    b.start()
    deadline = time.monotonic() + 60
    while _lock_waiters() < 1:  # the second now waits for the first's row lock
        assert time.monotonic() < deadline, "the second never queued behind the first"
        time.sleep(0.02)
    go.set()
    a.join(60)
    b.join(60)
    return out["first"], out["second"]


def test_pg_an_accept_holding_the_offer_wins_over_the_sweep(pg, due_offer, monkeypatch):
    from referrals import routing

    def accept():
        return lifecycle.accept(db.session.get(User, due_offer["member"]), due_offer["referral"]).status

    accepted, swept = _race(pg, accept, routing.sweep, monkeypatch, lifecycle,
                            "_set_need_state")
    assert accepted == "accepted"
    assert swept.expired == 0 and swept.rerouted == 0
    db.session.expire_all()
    assert db.session.get(Referral, due_offer["referral"]).status == "accepted"
    assert db.session.get(Provider, due_offer["first"]).load == 1
    assert db.session.get(Provider, due_offer["other"]).load == 0
    types = db.session.execute(sa.select(timeline.Event.type).where(
        timeline.Event.case_id == due_offer["case"]).where(
        timeline.Event.type.startswith("referral.")).order_by(timeline.Event.seq)).scalars().all()
    assert types == ["referral.offered", "referral.accepted"]
    assert timeline.verify(due_offer["case"]) == (1, [])


def test_pg_a_sweep_holding_the_offer_wins_over_an_accept(pg, due_offer, monkeypatch):
    from referrals import routing

    def accept():
        return lifecycle.accept(db.session.get(User, due_offer["member"]), due_offer["referral"]).status

    swept, refused = _race(pg, routing.sweep, accept, monkeypatch, routing, "release_places")
    assert (swept.expired, swept.rerouted) == (1, 1)
    assert isinstance(refused, Conflict) and refused.extra["current_state"] == "expired"
    db.session.expire_all()
    assert db.session.get(Referral, due_offer["referral"]).status == "expired"
    live = db.session.execute(sa.select(Referral).where(Referral.status == "offered")).scalar_one()
    assert (live.provider_id, live.attempt) == (due_offer["other"], 2)
    assert db.session.get(Provider, due_offer["first"]).load == 0
    assert db.session.get(Provider, due_offer["other"]).load == 1
    types = db.session.execute(sa.select(timeline.Event.type).where(
        timeline.Event.case_id == due_offer["case"]).where(
        timeline.Event.type.startswith("referral.")).order_by(timeline.Event.seq)).scalars().all()
    assert types == ["referral.offered", "referral.expired", "referral.offered"]
    assert timeline.verify(due_offer["case"]) == (1, [])


class _Then:
    """A point a racing thread passes (the race helper pauses it there)."""

    @staticmethod
    def commit() -> None:
        db.session.commit()


def test_pg_append_batch_behind_another_writer_of_a_case_chains_after_it(pg, monkeypatch):
    """A batch that waits for another writer of one of its cases numbers and chains that
    case's events after the other writer's (its predecessor read once the lock is free)."""
    from referrals import events as referral_events

    officer = make_user("case_officer", "510104")
    c, d = (make_case(officer).id for _ in range(2))
    db.session.remove()
    data = {"need": "economic_compensation", "reason": "r", "failed_offers": 0}

    def single():
        timeline.append(db.session, c, referral_events.CASE_ESCALATED, data, None)
        _Then.commit()

    def batch():
        out = timeline.append_batch(db.session, {
            d: [(referral_events.CASE_ESCALATED, data)],
            c: [(referral_events.CASE_ESCALATION_CLEARED, {"need": "economic_compensation"})]},
            None)
        db.session.commit()
        return {k: [(e.seq, e.prev_hash) for e in v] for k, v in out.items()}

    first, second = _race(pg, single, batch, monkeypatch, _Then, "commit")
    assert first is None and isinstance(second, dict), (first, second)
    rows = db.session.execute(sa.select(timeline.Event.seq, timeline.Event.type, timeline.Event.hash)
                              .where(timeline.Event.case_id == c)
                              .order_by(timeline.Event.seq)).all()
    assert [t for _s, t, _h in rows][-2:] == ["case.escalated", "case.escalation_cleared"]
    assert second[c] == [(rows[-1][0], rows[-2][2])]  # after the other writer's event
    for case_id in (c, d):
        assert timeline.verify(case_id) == (1, [])

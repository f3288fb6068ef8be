"""The referral lifecycle through its commands, on the suite's database: every legal and
illegal transition, capacity, re-routing, escalation, waiting needs, the sweep, intake."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
import sqlalchemy as sa

from mediation import clock, timeline
from mediation.cases import commands
from mediation.errors import Conflict, Invalid, NotFound
from mediation.extensions import db
from referrals import lifecycle, routing
from referrals.models import (
    REFERRAL_TRANSITIONS,
    NeedState,
    Referral,
    ReferralStatus,
    RoutingNeed,
)
from tests.factories import (
    World,
    events,
    make_case,
    make_provider,
    make_user,
    provider,
    referral,
)


@pytest.fixture
def world(ctx):
    """An officer, a case in 锦江区 needing compensation, and three mediators with users."""
    officer = make_user("case_officer", "510104")
    users = [make_user("mediator") for _ in range(3)]
    providers = [make_provider("mediator", members=(u,), capacity=2) for u in users]
    case = make_case(officer, needs=["economic_compensation"])
    return World({"officer": officer}, mediators=users, providers=providers, case=case,
                 by_provider={p.id: u for p, u in zip(providers, users, strict=True)})


def offer(world, **kw) -> Referral:
    r = lifecycle.request_referral(world.officer, world.case.id, "economic_compensation", **kw)
    assert r is not None
    return r


def member(world, r: Referral):
    return world.by_provider[r.provider_id]


def expire_now(referral_id: int) -> None:
    db.session.execute(sa.update(Referral).where(Referral.id == referral_id)
                       .values(respond_by=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    db.session.commit()


# --- the state machine itself ----------------------------------------------------------------

def test_the_state_machine_is_the_documented_one():
    s = ReferralStatus
    assert REFERRAL_TRANSITIONS[s.OFFERED] == {s.ACCEPTED, s.DECLINED, s.EXPIRED, s.WITHDRAWN}
    assert REFERRAL_TRANSITIONS[s.ACCEPTED] == {s.COMPLETED, s.WITHDRAWN}
    for final in (s.DECLINED, s.EXPIRED, s.WITHDRAWN, s.COMPLETED):
        assert REFERRAL_TRANSITIONS[final] == frozenset()


# --- legal transitions -----------------------------------------------------------------------

def test_offer_takes_capacity_and_goes_on_the_timeline(world):
    r = offer(world)
    assert r.status == "offered" and r.attempt == 1
    assert provider(r.provider_id).load == 1
    ev = events(world.case.id, "referral.")[-1]
    assert ev.type == "referral.offered"
    assert ev.payload["provider_id"] == r.provider_id
    assert ev.payload["reasons"]["rank"] == 1
    assert timeline.verify(world.case.id) == (1, [])


def test_offered_to_accepted_to_completed_releases_capacity(world):
    r = offer(world)
    u = member(world, r)
    lifecycle.accept(u, r.id)
    assert referral(r.id).status == "accepted" and referral(r.id).responded_at is not None
    assert provider(r.provider_id).load == 1
    lifecycle.complete(u, r.id, "agreement_reached", "signed on site")
    done = referral(r.id)
    assert (done.status, done.outcome, done.live_key) == ("completed", "agreement_reached", None)
    assert provider(r.provider_id).load == 0
    types = [e.type for e in events(world.case.id, "referral.")]
    assert types == ["referral.offered", "referral.accepted", "referral.completed"]
    need = db.session.execute(sa.select(RoutingNeed)).scalar_one()
    assert need.state == NeedState.COMPLETED


def test_offered_to_declined_reroutes_to_the_next_candidate(world):
    r = offer(world)
    lifecycle.decline(member(world, r), r.id, "outside_expertise")
    assert referral(r.id).status == "declined"
    assert provider(r.provider_id).load == 0
    live = db.session.execute(sa.select(Referral).where(Referral.status == "offered")).scalar_one()
    assert live.provider_id != r.provider_id and live.attempt == 2
    types = [e.type for e in events(world.case.id, "referral.")]
    assert types == ["referral.offered", "referral.declined", "referral.offered"]
    assert events(world.case.id, "referral.offered")[-1].payload["how"] == "rerouted"


def test_decline_needs_a_known_reason_and_a_note_for_other(world):
    r = offer(world)
    u = member(world, r)
    with pytest.raises(Invalid) as err:
        lifecycle.decline(u, r.id, "bored")
    assert "reason" in err.value.extra["errors"]
    with pytest.raises(Invalid) as err:
        lifecycle.decline(u, r.id, "other", "  ")
    assert "note" in err.value.extra["errors"]
    assert referral(r.id).status == "offered"
    lifecycle.decline(u, r.id, "other", "on leave abroad")
    assert referral(r.id).decline_note == "on leave abroad"


def test_offered_to_withdrawn_by_the_officer(world):
    r = offer(world)
    lifecycle.withdraw(world.officer, r.id, "petitioner withdrew the demand")
    assert referral(r.id).status == "withdrawn"
    assert provider(r.provider_id).load == 0
    need = db.session.execute(sa.select(RoutingNeed)).scalar_one()
    assert need.state == NeedState.CANCELLED
    ev = events(world.case.id, "referral.withdrawn")[-1]
    assert ev.payload["was"] == "offered" and ev.payload["by"] == "officer"


def test_officer_may_withdraw_and_reroute(world):
    r = offer(world)
    lifecycle.withdraw(world.officer, r.id, "wrong mediator", reroute=True)
    live = db.session.execute(sa.select(Referral).where(Referral.status == "offered")).scalar_one()
    assert live.id != r.id


def test_accepted_to_withdrawn_by_the_provider_reroutes(world):
    r = offer(world)
    u = member(world, r)
    lifecycle.accept(u, r.id)
    lifecycle.withdraw(u, r.id, "fell ill")
    assert referral(r.id).status == "withdrawn"
    live = db.session.execute(sa.select(Referral).where(Referral.status == "offered")).scalar_one()
    assert live.provider_id != r.provider_id
    assert events(world.case.id, "referral.withdrawn")[-1].payload["by"] == "provider"


def test_offered_to_expired_by_the_sweep(world):
    r = offer(world)
    expire_now(r.id)
    result = routing.sweep()
    assert (result.expired, result.rerouted) == (1, 1)
    assert referral(r.id).status == "expired"
    assert provider(r.provider_id).load == 0
    assert routing.sweep().expired == 0  # exactly once


def test_one_sweep_batch_reroutes_many_offers_from_one_pool_read_kept_current(ctx, monkeypatch):
    """The sweep re-ranks a batch from pools read once (`routing.PoolCache`): what the
    batch takes is known to the next ranking of the batch, so no offer is tried on a
    provider the batch has just filled, no provider goes past its capacity, and no case is
    offered again to the provider who let its offer expire."""
    officer = make_user("case_officer", "510104")
    providers = [make_provider("mediator", members=(make_user("mediator"),), capacity=1)
                 for _ in range(4)]
    cases = [make_case(officer, needs=["economic_compensation"]) for _ in range(3)]
    first = {c.id: lifecycle.request_referral(officer, c.id, "economic_compensation") for c in cases}
    for r in first.values():
        expire_now(r.id)
    pool_reads, refused_takes = [], []
    real_pool, real_take = routing.provider_pool, routing.take_places

    def counted_pool(*a, **kw):
        pool_reads.append(1)
        return real_pool(*a, **kw)

    def counted_take(places, now):
        took = real_take(places, now)
        refused_takes.extend(set(places) - took)
        return took

    monkeypatch.setattr(routing, "provider_pool", counted_pool)
    cache = routing.directory()
    if cache is not None and db.session.connection().dialect.name == "postgresql":
        real_view = cache.view

        def counted_view(*a, **kw):
            pool_reads.append(1)
            return real_view(*a, **kw)

        monkeypatch.setattr(cache, "view", counted_view)
    monkeypatch.setattr(routing, "take_places", counted_take)
    result = routing.sweep()
    assert (result.expired, result.rerouted) == (3, 3)
    assert len(pool_reads) == 1  # one region, one kind: one read for the batch
    assert refused_takes == []
    live = db.session.execute(sa.select(Referral).where(Referral.status == "offered")).scalars().all()
    assert sorted(r.case_id for r in live) == sorted(first)
    for r in live:
        assert r.provider_id != first[r.case_id].provider_id
        assert r.attempt == 2  # the need's second offer
    assert all(provider(p.id).load <= 1 for p in providers)
    assert sum(provider(p.id).load for p in providers) == 3


# --- illegal transitions ---------------------------------------------------------------------

ILLEGAL = [
    ("accepted", "accept"), ("declined", "accept"), ("expired", "accept"),
    ("withdrawn", "accept"), ("completed", "accept"),
    ("accepted", "decline"), ("declined", "decline"), ("expired", "decline"),
    ("withdrawn", "decline"), ("completed", "decline"),
    ("offered", "complete"), ("declined", "complete"), ("expired", "complete"),
    ("withdrawn", "complete"), ("completed", "complete"),
    ("declined", "withdraw"), ("expired", "withdraw"), ("withdrawn", "withdraw"),
    ("completed", "withdraw"),
]


def bring_to(world, state: str) -> Referral:
    r = offer(world)
    u = member(world, r)
    if state in ("accepted", "completed"):
        lifecycle.accept(u, r.id)
    if state == "completed":
        lifecycle.complete(u, r.id, "resolved")
    if state == "declined":
        lifecycle.decline(u, r.id, "capacity")
    if state == "withdrawn":
        lifecycle.withdraw(world.officer, r.id, "no longer needed")
    if state == "expired":
        expire_now(r.id)
        routing.sweep()
    assert referral(r.id).status == state
    return referral(r.id)


@pytest.mark.parametrize("state, action", ILLEGAL)
def test_illegal_transition_is_a_conflict_with_the_current_state(world, state, action):
    r = bring_to(world, state)
    u = member(world, r)
    before = len(events(world.case.id))
    with pytest.raises(Conflict) as err:
        if action == "accept":
            lifecycle.accept(u, r.id)
        elif action == "decline":
            lifecycle.decline(u, r.id, "capacity")
        elif action == "complete":
            lifecycle.complete(u, r.id, "resolved")
        else:
            lifecycle.withdraw(world.officer, r.id, "again")
    assert err.value.extra["current_state"] == state
    assert referral(r.id).status == state
    assert len(events(world.case.id)) == before  # nothing recorded


def test_a_provider_withdraws_an_accepted_referral_but_declines_an_offer(world):
    r = offer(world)
    with pytest.raises(Conflict) as err:
        lifecycle.withdraw(member(world, r), r.id, "no")
    assert err.value.extra["current_state"] == "offered"


def test_someone_elses_referral_is_not_found(world):
    r = offer(world)
    stranger = next(u for u in world.mediators if u.id != member(world, r).id)
    for act in (lambda: lifecycle.accept(stranger, r.id),
                lambda: lifecycle.decline(stranger, r.id, "capacity"),
                lambda: lifecycle.complete(stranger, r.id, "resolved"),
                lambda: lifecycle.withdraw(stranger, r.id, "mine now"),
                lambda: lifecycle.accept(world.officer, r.id)):
        with pytest.raises(NotFound):
            act()
    assert referral(r.id).status == "offered"


# --- routing, escalation, waiting ------------------------------------------------------------

def test_explicit_provider_must_be_eligible_and_the_error_names_the_reason(world):
    far = make_provider("mediator", regions=("5201",))
    lawyer = make_provider("lawyer", regions=("510104",))
    with pytest.raises(Invalid) as err:
        offer(world, provider_id=far.id)
    assert err.value.extra["errors"]["provider_id"][0].startswith("region:")
    with pytest.raises(Invalid) as err:
        offer(world, provider_id=lawyer.id)
    assert err.value.extra["errors"]["provider_id"][0].startswith("kind:")
    chosen = world.providers[2]
    r = offer(world, provider_id=chosen.id)
    assert r.provider_id == chosen.id
    assert events(world.case.id, "referral.offered")[-1].payload["how"] == "chosen"


def test_one_live_referral_per_need(world):
    offer(world)
    with pytest.raises(Conflict) as err:
        offer(world)
    assert err.value.extra["current_state"] == "offered"


def test_escalation_after_the_configured_number_of_failed_offers(world, app, monkeypatch):
    rules = app.extensions["referrals.rules"]
    monkeypatch.setitem(app.extensions, "referrals.rules", replace(rules, max_failed_offers=2))
    r1 = offer(world)
    lifecycle.decline(member(world, r1), r1.id, "capacity")
    r2 = db.session.execute(sa.select(Referral).where(Referral.status == "offered")).scalar_one()
    lifecycle.decline(member(world, r2), r2.id, "unavailable")
    assert db.session.execute(sa.select(Referral).where(Referral.status == "offered")).first() is None
    need = db.session.execute(sa.select(RoutingNeed)).scalar_one()
    assert (need.state, need.failed_offers) == ("escalated", 2)
    case = commands.require_case(world.officer, world.case.id)
    assert "escalated" in case.flags
    ev = events(case.id, "case.escalated")
    assert len(ev) == 1 and ev[0].payload == {"need": "economic_compensation",
                                               "reason": "failed_offers", "failed_offers": 2}


def test_no_candidate_escalates_once_and_the_need_waits(world):
    officer = world.officer
    case = make_case(officer, needs=["legal_opinion"])  # no lawyer in the directory
    assert lifecycle.request_referral(officer, case.id, "legal_opinion") is None
    need = db.session.execute(sa.select(RoutingNeed).where(RoutingNeed.case_id == case.id)).scalar_one()
    assert need.state == "waiting" and need.escalated_at is not None
    assert routing.sweep().expired == 0
    assert len(events(case.id, "case.escalated")) == 1  # the sweep does not escalate again
    assert "escalated" in commands.require_case(officer, case.id).flags


def test_freed_capacity_offers_waiting_needs_oldest_first(world):
    officer = world.officer
    lawyer_user = make_user("lawyer")
    lawyer = make_provider("lawyer", capacity=1, members=(lawyer_user,),
                           specialities=["land_demolition"])
    first = make_case(officer, needs=["legal_opinion"])
    r = lifecycle.request_referral(officer, first.id, "legal_opinion")
    assert r.provider_id == lawyer.id
    older = make_case(officer, needs=["legal_opinion"])
    newer = make_case(officer, needs=["legal_opinion"])
    assert lifecycle.request_referral(officer, older.id, "legal_opinion") is None
    assert lifecycle.request_referral(officer, newer.id, "legal_opinion") is None
    # The lawyer finishes the first case: the oldest waiting need gets the freed place.
    lifecycle.accept(lawyer_user, r.id)
    lifecycle.complete(lawyer_user, r.id, "service_given")
    offered = db.session.execute(sa.select(Referral).where(Referral.status == "offered")).scalars().all()
    assert [x.case_id for x in offered] == [older.id]
    assert events(older.id, "referral.offered")[0].payload["how"] == "capacity_freed"
    # Accepting clears the escalation of that case.
    lifecycle.accept(lawyer_user, offered[0].id)
    assert "escalated" not in commands.require_case(officer, older.id).flags
    assert [e.type for e in events(older.id, "case.escalation")] == ["case.escalation_cleared"]
    assert "escalated" in commands.require_case(officer, newer.id).flags


def test_unavailable_and_away_providers_are_skipped(world):
    for p, values in zip(world.providers, [dict(available=False),
                                              dict(away_until=clock.today() + dt.timedelta(days=3)),
                                              {}], strict=True):
        for k, v in values.items():
            setattr(provider(p.id), k, v)
        db.session.commit()
    r = offer(world)
    assert r.provider_id == world.providers[2].id


def test_conflict_of_interest_excludes_a_provider(world):
    for p in world.providers[:2]:
        provider(p.id).conflicts = ["张三"]
    db.session.commit()
    assert offer(world).provider_id == world.providers[2].id


# --- routing on intake -----------------------------------------------------------------------

def test_confirm_mode_waits_for_the_officer(world, app):
    assert app.config["MEDIATION_ROUTING_ON_INTAKE"] == "confirm"
    assert events(world.case.id, "referral.") == []
    routed = lifecycle.confirm(world.officer, world.case.id)
    assert [(n, r is not None) for n, r in routed] == [("economic_compensation", True)]
    assert lifecycle.confirm(world.officer, world.case.id) == []  # nothing left to route


def test_auto_mode_offers_on_intake_and_when_needs_change(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIATION_ROUTING_ON_INTAKE", "auto")
    officer = world.officer
    case = make_case(officer, needs=["economic_compensation"])
    offered = events(case.id, "referral.offered")
    assert len(offered) == 1 and offered[0].payload["how"] == "on_intake"
    # Adding a need routes it; the lawyer is missing, so the case is escalated.
    commands.update(officer, case.id, {"needs": ["economic_compensation", "legal_opinion"]})
    assert [e.payload["need"] for e in events(case.id, "case.escalated")] == ["legal_opinion"]
    # Removing the waiting need cancels it.
    commands.update(officer, case.id, {"needs": ["economic_compensation"]})
    assert [e.type for e in events(case.id, "routing.")] == ["routing.cancelled"]
    assert timeline.verify(case.id) == (1, [])


def test_the_sweep_expires_only_open_offers(world):
    r = offer(world)
    lifecycle.accept(member(world, r), r.id)
    expire_now(r.id)  # an accepted referral's old deadline no longer matters
    assert routing.sweep().expired == 0
    assert referral(r.id).status == "accepted"


def test_an_answer_before_the_sweep_still_counts(world):
    r = offer(world)
    expire_now(r.id)
    lifecycle.decline(member(world, r), r.id, "unavailable")
    assert routing.sweep().expired == 0
    assert referral(r.id).status == "declined"


def test_release_places_gives_back_many_places_at_once_never_below_zero(ctx):
    """The sweep gives back a batch's places in one statement, as that many single
    releases would."""
    a = make_provider("mediator", capacity=5, load=5)
    b = make_provider("mediator", capacity=5, load=2)
    c = make_provider("mediator", capacity=5, load=4)
    routing.release_places({a.id: 2, b.id: 3})
    db.session.commit()
    assert (provider(a.id).load, provider(b.id).load, provider(c.id).load) == (3, 0, 4)

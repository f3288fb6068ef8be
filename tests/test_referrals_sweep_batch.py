"""The sweep's batch: ranked in memory (`routing.PoolCache.best`), written in a few
statements (`take_places`, `_claim_many`, `timeline.append_batch`), on the suite's database."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import sqlalchemy as sa

from mediation import clock, timeline
from mediation.extensions import db
from referrals import events as referral_events
from referrals import lifecycle, routing
from referrals.models import NeedState, Provider, Referral, RoutingNeed
from referrals.ranking import rank
from tests.factories import events, make_case, make_provider, make_user, provider, referral

NEED = "economic_compensation"
MOMENT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def expire_now(referral_id: int) -> None:
    db.session.execute(sa.update(Referral).where(Referral.id == referral_id)
                       .values(respond_by=clock.now() - dt.timedelta(minutes=1)))
    db.session.commit()


def test_the_best_of_a_batch_is_the_first_of_the_whole_ranking(ctx):
    """`PoolCache.best` ranks the nearest region's providers first and the farther ones only
    when none of those may take the need: the same provider, reasons and rank as `rank`
    over the case's whole open pool, before and after the batch takes places."""
    with clock.frozen(MOMENT):
        officer = make_user("case_officer", "510000")
        spec = [  # (regions, type, specialities, capacity, load, hours since the last offer, extra)
            (("510104",), "people", ["land_demolition"], 2, 1, 30, {}),
            (("510104",), "people", ["land_demolition"], 2, 1, 30, {}),  # its exact twin: a tie
            (("510104",), "administrative", [], 3, 0, None, {}),
            (("510104", "510000"), "industry", ["education"], 5, 0, 200, {}),  # two levels
            (("510104",), "people", ["land_demolition"], 4, 0, None, {"conflicts": ["张三"]}),
            (("510104",), "people", ["land_demolition"], 4, 0, None, {"available": False}),
            (("510100",), "administrative", ["land_demolition"], 3, 0, 10, {}),
            (("510100",), "people", ["education"], 3, 2, None, {}),
            (("510000",), "professional", ["healthcare"], 9, 0, None, {}),
            (("520000",), "people", ["land_demolition"], 9, 0, None, {}),  # another province
        ]
        providers = []
        for regions, mtype, fields, capacity, load, hours, extra in spec:
            last = None if hours is None else MOMENT - dt.timedelta(hours=hours)
            providers.append(make_provider("mediator", regions=regions, capacity=capacity,
                                           load=load, mediation_type=mtype,
                                           specialities=fields, last_offered_at=last, **extra))
        cases = [make_case(officer, region_code=code, livelihood_fields=fields)
                 for code, fields in [("510104", ["land_demolition"]), ("510104", ["education"]),
                                      ("510104", ["healthcare"]), ("510105", ["land_demolition"]),
                                      ("510300", ["education"]), ("510104", ["land_demolition"]),
                                      ("510301", ["healthcare"])]]
        rules = routing.routing_rules()
        cache = routing.PoolCache(MOMENT, {})
        declined = {cases[5].id: {providers[0].id: "declined", providers[1].id: "expired"}}
        seen = set()
        taken: dict[int, int] = {}
        for round_ in range(3):  # each round takes what the batch chose, then ranks again
            for case in cases:
                history = declined.get(case.id, {})
                cache.histories[(case.id, NEED)] = history
                best = cache.best(case, NEED)
                pool = []  # the whole open pool, with the places the batch plans to take
                for p in routing.candidates(case, NEED, MOMENT, open_only=True).pool.values():
                    n = taken.get(p.id, 0)
                    if n and p.load + n >= p.capacity:
                        continue  # full
                    pool.append(replace(p, load=p.load + n, last_offered_at=MOMENT) if n else p)
                ranked, _ = rank(routing.case_facts(case), pool, rules.rule(NEED), rules.weights,
                                 MOMENT, history)
                if not ranked:
                    assert best is None, (round_, case.region_code)
                    continue
                assert best is not None, (round_, case.region_code)
                assert best.provider.id == ranked[0].provider.id, (round_, case.region_code)
                assert best.reasons == ranked[0].reasons
                seen.add(best.reasons["region"]["distance"])
                if round_ < 2:  # planned, as the sweep plans its batch before taking
                    cache.took(best.provider.id)
                    taken[best.provider.id] = taken.get(best.provider.id, 0) + 1
        assert seen == {0, 1, 2}  # the county's, the city's and the province's providers won
        db.session.rollback()
    assert taken


def test_take_places_takes_all_of_a_providers_places_or_none(ctx):
    a = make_provider("mediator", capacity=3, load=1)
    b = make_provider("mediator", capacity=2, load=1)
    c = make_provider("mediator", capacity=5, load=0, available=False)
    with clock.frozen(MOMENT):
        given = routing.take_places({a.id: 2, b.id: 2, c.id: 1}, MOMENT)
    db.session.commit()
    assert given == {a.id}
    assert (provider(a.id).load, provider(b.id).load, provider(c.id).load) == (3, 1, 0)
    assert clock.as_utc(provider(a.id).last_offered_at) == MOMENT
    assert provider(b.id).last_offered_at is None


def test_claim_many_moves_only_the_rows_still_in_the_state_read(ctx):
    officer = make_user("case_officer", "510104")
    rows = []
    for _ in range(3):
        case = make_case(officer, needs=[NEED])
        rows.append(routing.need_row(case.id, NEED))
    db.session.commit()
    # Another transaction moved the second one since it was read.
    db.session.execute(sa.update(RoutingNeed).where(RoutingNeed.id == rows[1].id)
                       .values(state=NeedState.CANCELLED.value)
                       .execution_options(synchronize_session=False))
    moved = routing._claim_many(rows, NeedState.WAITING.value, NeedState.OFFERED.value, MOMENT)
    assert moved == {rows[0].id, rows[2].id}
    assert [r.state for r in rows] == ["offered", "waiting", "offered"]  # the loser as read
    db.session.commit()
    db.session.expire_all()
    states = dict(db.session.execute(sa.select(RoutingNeed.id, RoutingNeed.state)).all())
    assert [states[r.id] for r in rows] == ["offered", "cancelled", "offered"]


def test_append_batch_numbers_and_chains_each_case_as_append_many_would(ctx):
    officer = make_user("case_officer", "510104")
    a, b, c = (make_case(officer) for _ in range(3))
    before = {x.id: len(events(x.id)) for x in (a, b, c)}
    # b's last hash is known to this transaction (an earlier append), a's and c's are read.
    timeline.append(db.session, b.id, referral_events.CASE_ESCALATED,
                    {"need": NEED, "reason": "no_candidate", "failed_offers": 0}, None)
    out = timeline.append_batch(db.session, {
        c.id: [(referral_events.ROUTING_CANCELLED, {"need": "x", "reason": "r"})],
        a.id: [(referral_events.CASE_ESCALATED, {"need": NEED, "reason": "r", "failed_offers": 1}),
               (referral_events.CASE_ESCALATION_CLEARED, {"need": NEED})],
        b.id: [(referral_events.CASE_ESCALATION_CLEARED, {"need": NEED})],
    }, None)
    db.session.commit()
    assert [e.seq for e in out[a.id]] == [before[a.id] + 1, before[a.id] + 2]
    assert [e.seq for e in out[b.id]] == [before[b.id] + 2]
    assert [e.seq for e in out[c.id]] == [before[c.id] + 1]
    for x in (a, b, c):
        assert timeline.verify(x.id) == (1, [])
    pending = db.session.execute(sa.select(sa.func.count()).select_from(timeline.EventOutbox).where(
        timeline.EventOutbox.event_id.in_([e.id for evs in out.values() for e in evs]))).scalar_one()
    assert pending in (0, 4)  # in the outbox until published, like any append


def test_a_batch_reranks_an_offer_whose_planned_provider_was_taken_meanwhile(ctx, monkeypatch):
    """A provider that cannot give the places the batch planned on it (filled by someone
    else between the ranking and the take) is left alone: those needs are ranked again
    and offered to the next provider, as `route` would."""
    officer = make_user("case_officer", "510104")
    providers = [make_provider("mediator", members=(make_user("mediator"),), capacity=2)
                 for _ in range(4)]
    cases = [make_case(officer, needs=[NEED]) for _ in range(2)]
    first = {c.id: lifecycle.request_referral(officer, c.id, NEED) for c in cases}
    for r in first.values():
        expire_now(r.id)
    real_take = routing.take_places
    filled: list[int] = []

    def take_after_a_rival(places, now):
        rival = min(places)  # a concurrent writer fills one planned provider first
        db.session.execute(sa.update(Provider).where(Provider.id == rival)
                           .values(load=Provider.capacity))
        filled.append(rival)
        return real_take(places, now)

    monkeypatch.setattr(routing, "take_places", take_after_a_rival)
    result = routing.sweep()
    assert (result.expired, result.rerouted, result.failed) == (2, 2, 0)
    live = db.session.execute(sa.select(Referral).where(Referral.status == "offered")).scalars().all()
    assert sorted(r.case_id for r in live) == sorted(first)
    for r in live:
        assert r.provider_id not in filled
        assert r.provider_id != first[r.case_id].provider_id
        assert r.attempt == 2
    loads = {p.id: provider(p.id).load for p in providers}
    for p in providers:
        offered = sum(1 for r in live if r.provider_id == p.id)
        assert loads[p.id] == (2 if p.id in filled else offered)
    for case in cases:
        assert [e.type for e in events(case.id, "referral.")] == [
            "referral.offered", "referral.expired", "referral.offered"]
        assert timeline.verify(case.id) == (1, [])


def test_a_batch_escalates_offers_that_failed_too_often_and_needs_nobody_can_take(ctx, app,
                                                                                monkeypatch):
    officer = make_user("case_officer", "510104")
    lawyer = make_provider("lawyer", members=(make_user("lawyer"),), capacity=1,
                           specialities=["land_demolition"])
    mediators = [make_provider("mediator", members=(make_user("mediator"),), capacity=1)
                 for _ in range(2)]
    rules = app.extensions["referrals.rules"]
    monkeypatch.setitem(app.extensions, "referrals.rules", replace(rules, max_failed_offers=2))
    opinion = make_case(officer, needs=["legal_opinion"])  # the only lawyer lets it expire
    mediation = make_case(officer, needs=[NEED])  # its second failure: escalated
    r1 = lifecycle.request_referral(officer, opinion.id, "legal_opinion")
    r2 = lifecycle.request_referral(officer, mediation.id, NEED)
    assert r1.provider_id == lawyer.id and r2.provider_id in {m.id for m in mediators}
    db.session.execute(sa.update(RoutingNeed).where(RoutingNeed.case_id == mediation.id)
                       .values(failed_offers=1))
    db.session.commit()
    expire_now(r1.id)
    expire_now(r2.id)
    result = routing.sweep()
    assert (result.expired, result.rerouted, result.escalated_or_waiting) == (2, 0, 2)
    states = dict(db.session.execute(sa.select(RoutingNeed.case_id, RoutingNeed.state)).all())
    assert states == {opinion.id: "waiting", mediation.id: "escalated"}
    assert [(e.type, e.payload.get("reason")) for e in events(opinion.id, "") if
            e.type.startswith(("referral.", "case.escalated"))] == [
        ("referral.offered", None), ("referral.expired", None), ("case.escalated", "no_candidate")]
    assert [e.payload for e in events(mediation.id, "case.escalated")] == [
        {"need": NEED, "reason": "failed_offers", "failed_offers": 2}]
    assert referral(r1.id).status == referral(r2.id).status == "expired"
    assert provider(lawyer.id).load == 0 and sum(provider(m.id).load for m in mediators) == 0
    for case in (opinion, mediation):
        assert timeline.verify(case.id) == (1, [])

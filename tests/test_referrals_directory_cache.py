"""The routing's in-process directory (`referrals.directory_cache`, PostgreSQL): a ranking
sees every change of a provider at once — an edit, a pause, capacity taken, a referral
answered, regions moved, a provider added or deleted — whether this transaction, a
committed one or another connection made it, and forgets what a rolled-back one did.
Each step compares the cache's pool with the pool query (`routing.provider_pool`)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from mediation.cases.models import Case
from mediation.extensions import db
from referrals import directory, lifecycle, routing
from referrals.models import Provider, ProviderRegion, Referral
from tests.factories import make_case, make_provider, make_user

pytestmark = pytest.mark.postgres

NEED = "economic_compensation"


def pools(case_id: int, open_only: bool) -> tuple[list, list]:
    """(the cache's pool and history, the query's), each sorted by provider id."""
    case = db.session.get(Case, case_id)
    facts = routing.case_facts(case)
    kinds = routing.routing_rules().rule(NEED).kinds_for(set(facts.groups))
    now = routing.utcnow()
    cached, cached_history = routing.directory_pool(facts, NEED, kinds, open_only, now)
    queried, queried_history = routing.provider_pool(facts, NEED, kinds, open_only, now)

    def key(pool):
        return sorted((p.id, p.name, p.kind, p.capacity, p.load, p.mediation_type,
                       p.specialities, p.conflicts, p.available, p.away_until, p.active,
                       p.last_offered_at, p.offers_decided, p.offers_accepted) for p in pool)

    return [key(cached), cached_history], [key(queried), queried_history]


def open_ids(case_id: int) -> set[int]:
    cached, queried = pools(case_id, open_only=True)
    assert cached == queried
    all_cached, all_queried = pools(case_id, open_only=False)
    assert all_cached == all_queried
    return {row[0] for row in cached[0]}


def excluded_codes(case_id: int, provider_id: int) -> set[str]:
    found = routing.candidates(db.session.get(Case, case_id), NEED)
    return {w.code for w in found.excluded.get(provider_id, [])}


def test_the_cache_is_used_on_postgresql(pg):
    assert routing.directory() is not None
    assert db.session.connection().dialect.name == "postgresql"


def test_every_change_of_a_provider_is_seen_at_once(pg):
    admin = make_user("admin")
    officer = make_user("case_officer", "510104")
    member = make_user("mediator")
    a = make_provider("mediator", capacity=2, members=(member,))
    b = make_provider("mediator", capacity=2)
    far = make_provider("mediator", regions=("510203",), capacity=2)
    case = make_case(officer, needs=[NEED])
    a_id, b_id, far_id, case_id = a.id, b.id, far.id, case.id
    assert open_ids(case_id) == {a_id, b_id}  # the cache is warm from here on

    directory.update_provider(member, a_id, {"available": False})  # paused by its member
    assert open_ids(case_id) == {b_id}
    assert excluded_codes(case_id, a_id) == {"unavailable"}
    directory.update_provider(member, a_id, {"available": True})
    assert open_ids(case_id) == {a_id, b_id}

    # Full: its load reaches its capacity by the conditional update that takes places.
    for _ in range(2):
        assert routing.take_capacity(b_id, routing.utcnow())
    db.session.commit()
    assert open_ids(case_id) == {a_id}
    assert excluded_codes(case_id, b_id) == {"capacity"}
    routing.release_capacity(b_id, offer_waiting_after=False)
    db.session.commit()
    assert open_ids(case_id) == {a_id, b_id}

    directory.update_provider(admin, far_id, {"regions": ["510104"]})  # moved to the case
    assert open_ids(case_id) == {a_id, b_id, far_id}
    directory.update_provider(admin, far_id, {"active": False})
    assert open_ids(case_id) == {a_id, b_id}

    added = directory.create_provider(admin, {
        "name": "新调解员", "kind": "mediator", "mediation_type": "people",
        "regions": ["510104"], "capacity": 1})
    assert open_ids(case_id) == {a_id, b_id, added.id}


def test_answers_change_the_acceptance_counts_and_the_history(pg):
    officer = make_user("case_officer", "510104")
    member = make_user("mediator")
    make_provider("mediator", capacity=3, members=(member,))
    accepted_case = make_case(officer, needs=[NEED])
    declined_case = make_case(officer, needs=[NEED])
    other = make_case(officer, needs=[NEED])
    other_id = other.id
    open_ids(other_id)
    first = lifecycle.request_referral(officer, accepted_case.id, NEED)
    lifecycle.accept(member, first.id)
    cached, _ = pools(other_id, open_only=True)
    assert [(row[12], row[13]) for row in cached[0]] == [(1, 1)]  # decided, accepted
    second = lifecycle.request_referral(officer, declined_case.id, NEED)
    lifecycle.decline(member, second.id, "capacity")
    cached, _ = pools(other_id, open_only=True)
    assert [(row[12], row[13]) for row in cached[0]] == [(2, 1)]
    cached, queried = pools(declined_case.id, open_only=False)
    assert cached == queried and list(cached[1].values()) == ["declined"]


def test_this_transactions_own_changes_are_seen_and_forgotten_on_rollback(pg):
    officer = make_user("case_officer", "510104")
    p = make_provider("mediator", capacity=1)
    case = make_case(officer, needs=[NEED])
    pid, case_id = p.id, case.id
    assert open_ids(case_id) == {pid}
    assert routing.take_capacity(pid, routing.utcnow())  # not committed
    assert open_ids(case_id) == set()
    db.session.rollback()
    assert open_ids(case_id) == {pid}


def test_a_commit_of_another_connection_is_seen_even_if_it_began_before(pg):
    """Another connection changes a provider while this one ranks: not seen until it
    commits (as a query would not see it), seen at once after."""
    officer = make_user("case_officer", "510104")
    p = make_provider("mediator", capacity=1)
    case = make_case(officer, needs=[NEED])
    pid, case_id = p.id, case.id
    assert open_ids(case_id) == {pid}
    with db.engine.connect() as other:
        other.execute(sa.update(Provider).where(Provider.id == pid).values(available=False))
        assert open_ids(case_id) == {pid}
        db.session.commit()
        other.commit()
    assert open_ids(case_id) == set()


def test_providers_deleted_behind_the_cache_are_dropped(pg):
    officer = make_user("case_officer", "510104")
    keep = make_provider("mediator")
    gone = make_provider("mediator")
    case = make_case(officer, needs=[NEED])
    keep_id, gone_id, case_id = keep.id, gone.id, case.id
    assert open_ids(case_id) == {keep_id, gone_id}
    db.session.execute(sa.delete(ProviderRegion).where(ProviderRegion.provider_id == gone_id))
    db.session.execute(sa.text("DELETE FROM provider_members WHERE provider_id = :p"), {"p": gone_id})
    db.session.execute(sa.delete(Provider).where(Provider.id == gone_id))
    db.session.commit()
    assert open_ids(case_id) == {keep_id}


def test_counts_are_read_again_when_an_offer_leaves_the_window(pg):
    officer = make_user("case_officer", "510104")
    member = make_user("mediator")
    make_provider("mediator", capacity=3, members=(member,))
    case = make_case(officer, needs=[NEED])
    other = make_case(officer, needs=[NEED])
    ref = lifecycle.request_referral(officer, case.id, NEED)
    lifecycle.accept(member, ref.id)
    window = routing.routing_rules().acceptance_window_days
    offered = db.session.get(Referral, ref.id).offered_at
    found = routing.candidates(db.session.get(Case, other.id), NEED, open_only=True)
    assert found.ranked[0].reasons["acceptance"]["decided"] == 1
    later = offered + dt.timedelta(days=window, seconds=1)  # the offer has left the window
    found = routing.candidates(db.session.get(Case, other.id), NEED, later, open_only=True)
    assert found.ranked[0].reasons["acceptance"]["decided"] == 0
    earlier = offered + dt.timedelta(days=window - 1)  # and a ranking as of before sees it
    found = routing.candidates(db.session.get(Case, other.id), NEED, earlier, open_only=True)
    assert found.ranked[0].reasons["acceptance"]["decided"] == 1


@pytest.mark.parametrize("plan", ["force_custom_plan", "force_generic_plan"])
def test_a_cases_history_with_a_need_is_read_by_the_case_not_by_every_refusal(pg, plan):
    """Who declined a need of a case, or let its offer expire (the history the ranking
    excludes), is read from that case's referrals by the index on (case_id, status): never
    from every declined or expired referral of the database. With an index on case_id alone,
    the planner without statistics (this machine's PostgreSQL runs without autovacuum) took
    `status IN ('declined', 'expired')` for 1/100 of the table and ANDed the status index's
    bitmap of all of them with the case's, at every look of the routing."""
    officer = make_user("case_officer", "510104")
    member = make_user("mediator")
    provider_id = make_provider("mediator", capacity=3, members=(member,)).id
    case_id, other_id = make_case(officer, needs=[NEED]).id, make_case(officer, needs=[NEED]).id
    lifecycle.decline(member, lifecycle.request_referral(officer, case_id, NEED).id, "capacity")
    first = lifecycle.request_referral(officer, other_id, NEED)
    lifecycle.decline(member, first.id, "capacity")
    with db.engine.begin() as conn:  # 20,000 refusals of the other case, long ago
        conn.execute(sa.text(
            "INSERT INTO referrals (case_id, routing_need_id, need, provider_id, status, attempt, "
            "offered_at, respond_by, responded_at, closed_at, decline_reason, reasons) "
            "SELECT case_id, routing_need_id, need, provider_id, status, attempt + g, "
            "offered_at - interval '2 years', respond_by, responded_at, closed_at, "
            "decline_reason, reasons FROM referrals, generate_series(1, 20000) g WHERE id = :id"),
            {"id": first.id})

    from tests.plans import forced_plan

    # Index entries read on referrals, and its sequential scans.
    counts = ("SELECT 'referrals', sum(pg_stat_get_xact_tuples_returned(i.indexrelid)), "
              "pg_stat_get_xact_numscans('referrals'::regclass) "
              "FROM pg_index i WHERE i.indrelid = 'referrals'::regclass")
    with forced_plan(plan, counts=counts) as reads:
        one = routing.offer_history(case_id, NEED)
        many = routing.offer_histories({(case_id, NEED)})
        cached, queried = pools(case_id, open_only=False)
    assert one == many[(case_id, NEED)] == {provider_id: "declined"}
    assert cached == queried and cached[1] == {provider_id: "declined"}
    read, scans = reads["referrals"]
    assert read < 100 and scans == 0, (read, scans)


@pytest.mark.parametrize("plan", ["force_custom_plan", "force_generic_plan"])
def test_a_later_look_reads_the_changed_providers_by_index(pg, plan):
    """After its first look the directory reads only the providers changed since, by the
    index on their stamps, whatever plan the server makes: with `change_xid >= :after`
    alone, a plan without statistics (this machine's PostgreSQL runs without autovacuum) or
    without the values (generic) guesses a third of the table and reads every provider."""
    officer = make_user("case_officer", "510104")
    member = make_user("mediator")
    provider_id = make_provider("mediator", capacity=3, members=(member,)).id
    case_id = make_case(officer, needs=[NEED]).id
    db.session.commit()
    columns = [c.name for c in Provider.__table__.columns if c.name not in ("id", "change_xid")]
    with db.engine.begin() as conn:  # 20,000 more providers (copies of the first)
        conn.execute(sa.text(f"INSERT INTO providers ({', '.join(columns)}) "
                             f"SELECT {', '.join(columns)} FROM providers, "
                             "generate_series(1, 20000) WHERE id = :id"), {"id": provider_id})
    open_ids(case_id)  # the first look reads them all
    db.session.rollback()
    with db.engine.begin() as conn:  # a provider changed elsewhere since
        conn.execute(sa.update(Provider).where(Provider.id == provider_id).values(capacity=4))

    from tests.plans import forced_plan

    with forced_plan(plan, ("providers",)) as reads:
        facts = routing.case_facts(db.session.get(Case, case_id))
        kinds = routing.routing_rules().rule(NEED).kinds_for(set(facts.groups))
        pool, _ = routing.directory_pool(facts, NEED, kinds, False, routing.utcnow())
    assert [p.capacity for p in pool if p.id == provider_id] == [4]  # the change was read
    assert reads["providers"][0] == 0, reads  # sequential scans

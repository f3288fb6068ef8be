"""Routing: gather the facts, rank, and offer a need to the best free provider.

Races are decided by the database with conditional updates checked by their row count,
the same code path on SQLite and PostgreSQL:
- a need is claimed for routing by moving its row from the state that was read;
- capacity is taken by `load = load + 1 WHERE load < capacity`;
- `referrals.live_key` is unique, so two live referrals for one need cannot both commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from mediation import timeline
from mediation.cases import rules as case_rules
from mediation.cases.models import Case, CaseFlag, Need
from mediation.clock import local_date
from mediation.errors import Conflict, Invalid
from mediation.events import EventType
from mediation.extensions import db
from mediation.tasks import enqueue_after_commit
from mediation.timeline import utcnow
from mediation.users import User
from referrals import events
from referrals.directory_cache import DirectoryCache, DirectoryView
from referrals.directory_cache import accepted_filter as _accepted
from referrals.directory_cache import decided_filter as _decided
from referrals.directory_cache import json_list as _json_list
from referrals.models import (
    LIVE,
    NeedState,
    Provider,
    ProviderMember,
    ProviderRegion,
    Referral,
    ReferralStatus,
    RoutingNeed,
)
from referrals.ranking import (
    Candidate,
    CaseFacts,
    Ineligible,
    ProviderFacts,
    case_prefixes,
    normalise_party,
    rank,
)
from referrals.rules import RoutingRules

log = logging.getLogger(__name__)


def routing_rules() -> RoutingRules:
    return current_app.extensions["referrals.rules"]


def routing_mode() -> str:
    return current_app.config["MEDIATION_ROUTING_ON_INTAKE"]


def check_need(need: str) -> None:
    if need not in Need._value2member_map_:
        raise Invalid({"need": [f"unknown need; one of {', '.join(n.value for n in Need)}"]})


# --- facts -----------------------------------------------------------------------------------

def case_facts(case: Case) -> CaseFacts:
    groups = {g for p in case.petitioners for g in (p.groups or [])}
    parties = {normalise_party(p.name) for p in case.petitioners}
    parties |= {normalise_party(d) for d in case.departments or []}
    return CaseFacts(case.id, case.region_code, tuple(case.livelihood_fields or []),
                     frozenset(groups), frozenset(parties - {""}))


@functools.cache
def _pool_query(open_only: bool) -> sa.Select:
    """The pool query, built once: construction would cost as much as running it."""
    r = sa.orm.aliased(Referral)
    recent = sa.and_(r.provider_id == Provider.id, r.offered_at >= sa.bindparam("since"))
    decided = sa.select(sa.func.count()).where(recent, _decided(r)).scalar_subquery()
    accepted = sa.select(sa.func.count()).where(recent, _accepted(r)).scalar_subquery()
    h = sa.orm.aliased(Referral)
    history = (sa.select(h.provider_id, sa.func.max(h.status).label("status"))
               .where(h.case_id == sa.bindparam("case_id"), h.need == sa.bindparam("need"),
                      h.status.in_((ReferralStatus.DECLINED, ReferralStatus.EXPIRED)))
               .group_by(h.provider_id).subquery())
    query = (
        sa.select(Provider.id, Provider.name, Provider.kind, Provider.capacity, Provider.load,
                  Provider.mediation_type, sa.cast(Provider.specialities, sa.Text),
                  sa.cast(Provider.conflicts, sa.Text), Provider.available, Provider.away_until,
                  Provider.active, Provider.last_offered_at, ProviderRegion.region_prefix,
                  decided, accepted, history.c.status)
        .join(ProviderRegion, ProviderRegion.provider_id == Provider.id)
        .outerjoin(history, history.c.provider_id == Provider.id)
        .where(ProviderRegion.region_prefix.in_(sa.bindparam("prefixes", expanding=True)),
               Provider.kind.in_(sa.bindparam("kinds", expanding=True)),
               Provider.active.is_(True))
    )
    if open_only:
        query = query.where(Provider.available.is_(True), Provider.load < Provider.capacity,
                            sa.or_(Provider.away_until.is_(None),
                                   Provider.away_until < sa.bindparam("today")))
    return query


def provider_pool(case: CaseFacts, need: str, kinds: tuple[str, ...], open_only: bool = False,
                  now: dt.datetime | None = None, prefixes: list[str] | None = None
                  ) -> tuple[list[ProviderFacts], dict[int, str]]:
    """Active providers of these kinds serving a region that covers the case, with their
    recent acceptance counts and their history with this need of this case, in one round
    trip: an indexed lookup by region prefix, correlated counts on indexed referrals, and
    the case's few earlier offers of the need joined once.
    `open_only` also leaves out the unavailable and the full; `prefixes` (rather than those
    covering the case's region) asks for the providers serving these region prefixes."""
    now = now or utcnow()
    params = {"since": now - dt.timedelta(days=routing_rules().acceptance_window_days),
              "case_id": case.case_id, "need": need,
              "prefixes": prefixes if prefixes is not None else case_prefixes(case.region_code),
              "kinds": list(kinds), "today": local_date(now)}
    if not open_only:
        params.pop("today")
    facts: dict[int, ProviderFacts] = {}
    before: dict[int, str] = {}
    rows = db.session.connection().execute(_pool_query(open_only), params)
    for (pid, name, kind, capacity, load, mtype, specialities, conflicts, available, away,
         active, last_offered, prefix, n_decided, n_accepted, status) in rows:
        seen = facts.get(pid)
        if seen is not None:  # a second region of the same provider covers the case
            facts[pid] = dataclasses.replace(seen, region_prefixes=(*seen.region_prefixes, prefix))
            continue
        facts[pid] = ProviderFacts(
            pid, name, kind, (prefix,), capacity, load, mtype, _json_list(specialities),
            _json_list(conflicts), available, away, active, last_offered, n_decided, n_accepted)
        if status is not None:
            before[pid] = status
    return list(facts.values()), before


def directory() -> DirectoryCache | None:
    """The app's in-process directory (PostgreSQL), or None (SQLite reads the pool)."""
    return current_app.extensions.get("referrals.directory")


def directory_pool(case: CaseFacts, need: str, kinds: tuple[str, ...], open_only: bool = False,
                   now: dt.datetime | None = None) -> tuple[list[ProviderFacts], dict[int, str]]:
    """`provider_pool`, from the in-process directory where there is one (PostgreSQL): the
    same providers and facts, in id order, and the case's history with the need, from one
    indexed look at what changed."""
    cache = directory()
    conn = db.session.connection()
    if cache is None or conn.dialect.name != "postgresql":
        return provider_pool(case, need, kinds, open_only, now)
    now = now or utcnow()
    since = now - dt.timedelta(days=routing_rules().acceptance_window_days)
    return cache.pool(conn, case, need, kinds, open_only, local_date(now), since)


def offer_history(case_id: int, need: str) -> dict[int, str]:
    """Providers who declined this need of this case or let an offer of it expire."""
    rows = db.session.execute(
        sa.select(Referral.provider_id, Referral.status)
        .where(Referral.case_id == case_id, Referral.need == need,
               Referral.status.in_((ReferralStatus.DECLINED, ReferralStatus.EXPIRED)))
        .order_by(Referral.id)
    )
    return {pid: status for pid, status in rows}


def offer_histories(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], dict[int, str]]:
    """`offer_history` of many (case, need) pairs in one query."""
    found: dict[tuple[int, str], dict[int, str]] = {pair: {} for pair in pairs}
    if not pairs:
        return found
    rows = db.session.execute(
        sa.select(Referral.case_id, Referral.need, Referral.provider_id, Referral.status)
        .where(Referral.case_id.in_({c for c, _ in pairs}),
               Referral.status.in_((ReferralStatus.DECLINED, ReferralStatus.EXPIRED)))
        .order_by(Referral.id))
    for case_id, need, pid, status in rows:
        if (case_id, need) in found:
            found[(case_id, need)][pid] = status
    return found


@dataclass
class PoolCache:
    """The sweep's batch ranks its re-routings in memory before it writes any of them.

    The open providers serving one region prefix are read once per prefix and kinds for the
    whole batch (on PostgreSQL from one look at the in-process directory, taken after the
    batch's expiries; on SQLite by the pool query), and the places the batch plans to take
    are applied to them (`took`), so the next ranking of the batch sees them. The histories
    of the batch's (case, need) pairs are read once, after its expiries. Capacity is still
    taken by the conditional update: the cache only ranks, the database decides.

    `best` is the first candidate `rank` would give over the whole pool of the case: the
    order is nearer region first, so the providers serving the case's own prefix are ranked
    first, and the farther ones only when none of the nearer ones may take the need."""

    now: dt.datetime
    histories: dict[tuple[int, str], dict[int, str]]
    pools: dict[tuple[str, tuple[str, ...]], dict[int, ProviderFacts]] = dataclasses.field(
        default_factory=dict)
    # The in-process directory as the batch saw it first (PostgreSQL), and the places the
    # batch plans to take, applied to the pools read after they were planned.
    view: DirectoryView | None = None
    taken: dict[int, int] = dataclasses.field(default_factory=dict)
    # Offers made so far of each need the batch routes (read once; counted on as it offers).
    offers: dict[int, int] = dataclasses.field(default_factory=dict)

    def history(self, case_id: int, need: str) -> dict[int, str]:
        history = self.histories.get((case_id, need))
        if history is None:  # a pair the batch did not foresee: read it as `candidates` would
            history = self.histories[(case_id, need)] = offer_history(case_id, need)
        return history

    def best(self, case: Case, need: str) -> Candidate | None:
        """The best open provider for the need of the case (None: nobody may take it), with
        the reasons and rank (1) that `candidates(..., open_only=True)` would give it as of
        the batch's instant."""
        rules = routing_rules()
        rule = rules.rule(need)
        facts = case_facts(case)
        kinds = rule.kinds_for(set(facts.groups))
        if not kinds:
            return None
        history = self.history(case.id, need)
        # A provider serving a nearer prefix too is ranked at its nearest: if it may take the
        # need, it was found there; if not, it is excluded here as well.
        for prefix in reversed(case_prefixes(facts.region_code)):
            pool = self.pools.get((prefix, kinds))
            if pool is None:
                pool = self.pools[(prefix, kinds)] = {
                    p.id: p for p in self._read_pool(facts, need, prefix, kinds)}
            ranked, _ = rank(facts, list(pool.values()), rule, rules.weights, self.now, history)
            if ranked:
                return ranked[0]
        return None

    def _read_pool(self, case: CaseFacts, need: str, prefix: str, kinds: tuple[str, ...]
                   ) -> list[ProviderFacts]:
        """The open providers serving `prefix`, from the batch's view of the directory (or
        the pool query on SQLite), with the places the batch plans to take."""
        cache = directory()
        conn = db.session.connection()
        if cache is None or conn.dialect.name != "postgresql":
            found = provider_pool(case, need, kinds, True, self.now, prefixes=[prefix])[0]
        else:
            if self.view is None:
                self.view = cache.view(conn, self.now - dt.timedelta(
                    days=routing_rules().acceptance_window_days))
            found = self.view.pool_of([prefix], kinds, True, local_date(self.now))
        out = []
        for p in found:
            n = self.taken.get(p.id)
            if n:
                if p.load + n >= p.capacity:
                    continue
                p = dataclasses.replace(p, load=p.load + n, last_offered_at=self.now)
            out.append(p)
        return out

    def took(self, provider_id: int) -> None:
        """The batch plans to take one unit of this provider's capacity."""
        self.taken[provider_id] = self.taken.get(provider_id, 0) + 1
        for pool in self.pools.values():
            p = pool.get(provider_id)
            if p is None:
                continue
            if p.load + 1 >= p.capacity:
                del pool[provider_id]  # full: no longer in an open pool
            else:
                pool[provider_id] = dataclasses.replace(p, load=p.load + 1, last_offered_at=self.now)


@dataclass
class Candidates:
    need: str
    kinds: tuple[str, ...]
    ranked: list[Candidate]
    excluded: dict[int, list[Ineligible]]
    pool: dict[int, ProviderFacts]


def candidates(case: Case, need: str, now: dt.datetime | None = None,
               open_only: bool = False) -> Candidates:
    """The providers who may take this need of the case, best first, each with reasons."""
    check_need(need)
    now = now or utcnow()
    rules = routing_rules()
    rule = rules.rule(need)
    facts = case_facts(case)
    kinds = rule.kinds_for(set(facts.groups))
    if not kinds:
        pool, history = [], {}
    else:
        pool, history = directory_pool(facts, need, kinds, open_only, now)
    ranked, excluded = rank(facts, pool, rule, rules.weights, now, history)
    return Candidates(need, kinds, ranked, excluded, {p.id: p for p in pool})


def explain_ineligible(case: Case, need: str, provider_id: int, now: dt.datetime) -> list[Ineligible]:
    """Why this provider may not take the need (empty if it may)."""
    from referrals.ranking import ineligibility

    provider = db.session.get(Provider, provider_id)
    if provider is None:
        return [Ineligible("unknown", "no such provider")]
    facts = case_facts(case)
    stats = ProviderFacts(
        provider.id, provider.name, provider.kind, tuple(r.region_prefix for r in provider.regions),
        provider.capacity, provider.load, provider.mediation_type, tuple(provider.specialities or ()),
        tuple(provider.conflicts or ()), provider.available, provider.away_until, provider.active,
        provider.last_offered_at)
    return ineligibility(facts, stats, routing_rules().rule(need), local_date(now),
                         offer_history(case.id, need))


# --- needs -----------------------------------------------------------------------------------

def need_row(case_id: int, need: str) -> RoutingNeed:
    """The routing row of a need, created if missing (concurrent creators both succeed)."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    db.session.execute(
        insert(RoutingNeed).values(case_id=case_id, need=need, state=NeedState.WAITING,
                                   failed_offers=0, waiting_since=now, created_at=now,
                                   updated_at=now)
        .on_conflict_do_nothing(index_elements=["case_id", "need"])
    )
    return db.session.execute(
        sa.select(RoutingNeed).where(RoutingNeed.case_id == case_id, RoutingNeed.need == need)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _claim(row: RoutingNeed, expected: str, to: str, **values: Any) -> bool:
    """Move the need from the state read to another; False if someone moved it first."""
    result = db.session.execute(
        sa.update(RoutingNeed).where(RoutingNeed.id == row.id, RoutingNeed.state == expected)
        .values(state=to, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    for name, value in {"state": to, **values}.items():
        sa.orm.attributes.set_committed_value(row, name, value)
    return True


def _claim_many(rows: list[RoutingNeed], expected: str, to: str, now: dt.datetime,
                **values: Any) -> set[int]:
    """`_claim` of many needs in one statement: each row moves only from the state read
    (a conditional update per row); returns the ids of those that moved, so a row that
    lost a race is known and left alone."""
    if not rows:
        return set()
    moved = set(db.session.execute(
        sa.update(RoutingNeed)
        .where(RoutingNeed.id.in_([r.id for r in rows]), RoutingNeed.state == expected)
        .values(state=to, updated_at=now, **values)
        .returning(RoutingNeed.id).execution_options(synchronize_session=False)).scalars())
    for row in rows:
        if row.id in moved:
            for name, value in {"state": to, **values}.items():
                sa.orm.attributes.set_committed_value(row, name, value)
    return moved


# Session info key: {case id: [(event type, data)]} held for one `timeline.append_many`.
HELD_EVENTS = "referrals.held_events"


def _append(case_id: int, type_: EventType, data: dict[str, Any], actor_id: int | None) -> None:
    """Append an event of the case, or add it to the events held for the case (the sweep
    appends an expiry and what follows it at once)."""
    held = db.session.info.get(HELD_EVENTS)
    if held is not None and case_id in held and actor_id is None:
        held[case_id].append((type_, data))
    else:
        timeline.append(db.session, case_id, type_, data, actor_id)


def set_case_flag(case: Case, flag: CaseFlag, on: bool) -> bool:
    flags = set(case.flags or [])
    if (flag.value in flags) == on:
        return False
    flags.symmetric_difference_update({flag.value})
    case.flags = sorted(flags)
    return True


def escalate(case: Case, row: RoutingNeed, reason: str, actor_id: int | None) -> None:
    """Hand the need back to the case's officer: an event and the case's escalated flag.
    Once per episode: a need already escalated is not escalated again by every sweep."""
    if row.escalated_at is not None:
        return
    row.escalated_at = utcnow()
    set_case_flag(case, CaseFlag.ESCALATED, True)
    _append(case.id, events.CASE_ESCALATED, {
        "need": row.need, "reason": reason, "failed_offers": row.failed_offers}, actor_id)


def clear_escalation(case: Case, row: RoutingNeed, actor_id: int | None) -> None:
    """A provider took the need: drop the case's flag once no need is escalated any more."""
    if row.escalated_at is None:
        return
    row.escalated_at = None
    db.session.flush()
    others = db.session.execute(
        sa.select(sa.func.count()).select_from(RoutingNeed)
        .where(RoutingNeed.case_id == case.id, RoutingNeed.escalated_at.is_not(None))
    ).scalar_one()
    if not others and set_case_flag(case, CaseFlag.ESCALATED, False):
        timeline.append(db.session, case.id, events.CASE_ESCALATION_CLEARED, {"need": row.need}, actor_id)


# --- offering --------------------------------------------------------------------------------

def take_capacity(provider_id: int, now: dt.datetime) -> bool:
    """One unit of the provider's capacity, or False when it is full or away (the
    database decides between concurrent takers)."""
    result = db.session.execute(
        sa.update(Provider)
        .where(Provider.id == provider_id, Provider.load < Provider.capacity,
               Provider.active.is_(True), Provider.available.is_(True),
               sa.or_(Provider.away_until.is_(None), Provider.away_until < local_date(now)))
        .values(load=Provider.load + 1, last_offered_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def take_places(places: dict[int, int], now: dt.datetime) -> set[int]:
    """`places[id]` units of each provider's capacity in one statement: a provider gives
    all of them (`load + n <= capacity`, and free as `take_capacity` asks) or none. Returns
    the ids of the providers that gave them; the database decides between concurrent takers."""
    if not places:
        return set()
    n = sa.case(places, value=Provider.id, else_=0)
    return set(db.session.execute(
        sa.update(Provider)
        .where(Provider.id.in_(places), Provider.load + n <= Provider.capacity,
               Provider.active.is_(True), Provider.available.is_(True),
               sa.or_(Provider.away_until.is_(None), Provider.away_until < local_date(now)))
        .values(load=Provider.load + n, last_offered_at=now)
        .returning(Provider.id).execution_options(synchronize_session=False)).scalars())


def release_capacity(provider_id: int, offer_waiting_after: bool = True) -> None:
    """Give back one unit; once committed, needs waiting for such a provider are offered."""
    # The row is written even at load 0, so the answer that gave the place back stamps the
    # provider for the directory cache (`referrals.directory_cache`).
    db.session.execute(
        sa.update(Provider).where(Provider.id == provider_id)
        .values(load=sa.case((Provider.load > 0, Provider.load - 1), else_=Provider.load))
        .execution_options(synchronize_session=False)
    )
    if offer_waiting_after:
        enqueue_after_commit("referrals.offer_waiting", provider_id=provider_id)


def release_places(places: dict[int, int]) -> None:
    """Give back `places[id]` units of each provider's capacity in one statement, as that
    many `release_capacity` calls would (never below 0; every row written), without
    offering waiting needs after the commit."""
    if not places:
        return
    n = sa.case(places, value=Provider.id, else_=0)
    db.session.execute(
        sa.update(Provider).where(Provider.id.in_(places))
        .values(load=sa.case((Provider.load > n, Provider.load - n), else_=0))
        .execution_options(synchronize_session=False)
    )


def _offered_data(referral_id: int, need: str, provider: ProviderFacts, audience: list[int],
                  attempt: int, respond_by: dt.datetime, how: str,
                  reasons: dict[str, Any]) -> dict[str, Any]:
    """The data of a `referral.offered` event."""
    return {"referral_id": referral_id, "need": need, "provider_id": provider.id,
            "audience": audience, "provider_name": provider.name,
            "provider_kind": provider.kind, "attempt": attempt,
            "respond_by": timeline.iso(respond_by), "how": how, "reasons": reasons}


def _offer(case: Case, row: RoutingNeed, cand: Candidate, actor_id: int | None,
           now: dt.datetime, how: str, attempt: int | None = None) -> Referral:
    """Write the offer of the need to the candidate (its capacity taken) and its event.
    `attempt`: the offer's number when the caller knows it (else counted)."""
    provider = cand.provider
    hours = routing_rules().response_hours_for(provider.kind)
    if attempt is None:
        attempt = db.session.execute(
            sa.select(sa.func.count()).select_from(Referral)
            .where(Referral.routing_need_id == row.id)).scalar_one() + 1
    referral = Referral(
        case_id=case.id, routing_need_id=row.id, need=row.need, provider_id=provider.id,
        status=ReferralStatus.OFFERED.value, attempt=attempt, live_key=f"{case.id}:{row.need}",
        offered_by_id=actor_id, offered_at=now, respond_by=now + dt.timedelta(hours=hours),
        reasons=cand.reasons)
    db.session.add(referral)
    db.session.flush()
    _append(case.id, events.REFERRAL_OFFERED, _offered_data(
        referral.id, row.need, provider, events.provider_users(provider.id), attempt,
        referral.respond_by, how, cand.reasons), actor_id)
    return referral


def route(case: Case, need: str, actor: User | None, provider_id: int | None = None,
          how: str = "routed", row: RoutingNeed | None = None) -> Referral | None:
    """Offer a need of the case to the best free provider (or to `provider_id`).

    Returns the referral, or None when nobody is free: the need then waits (offered when
    capacity frees, oldest first) and the case is escalated to its officer. An explicit
    provider that may not take the need is a 422 naming the reason.
    """
    check_need(need)
    now = utcnow()
    actor_id = actor.id if actor else None
    row = row or need_row(case.id, need)
    if row.state in (NeedState.OFFERED, NeedState.ACCEPTED):
        raise Conflict(f"the need {need} already has a live referral", current_state=row.state)
    if provider_id is not None:
        why_not = explain_ineligible(case, need, provider_id, now)
        if why_not:
            raise Invalid({"provider_id": [f"{w.code}: {w.message}" for w in why_not]},
                          message=f"provider {provider_id} may not take this referral")
    found = candidates(case, need, now, open_only=provider_id is None)
    order = found.ranked if provider_id is None else [
        c for c in found.ranked if c.provider.id == provider_id]
    expected = row.state
    # An officer who routes again after an escalation starts a fresh count of failed offers.
    fresh = {"failed_offers": 0} if actor is not None and expected != NeedState.WAITING else {}
    if not _claim(row, expected, NeedState.OFFERED.value, **fresh):
        raise Conflict(f"the need {need} is being routed by someone else", current_state=None)
    for cand in order:
        if take_capacity(cand.provider.id, now):
            return _offer(case, row, cand, actor_id, now, how)
    if provider_id is not None:  # it was eligible a moment ago: someone took its last slot
        raise Invalid({"provider_id": ["capacity: the provider's last free place was just taken"]})
    _claim(row, NeedState.OFFERED.value, NeedState.WAITING.value,
           waiting_since=row.waiting_since if expected == NeedState.WAITING else now)
    escalate(case, row, "no_candidate", actor_id)
    return None


def after_failed_offer(case: Case, row: RoutingNeed, actor_id: int | None) -> Referral | None:
    """A declined or expired offer: count it, then re-route or escalate (same transaction)."""
    now = utcnow()
    failed = db.session.execute(
        sa.update(RoutingNeed).where(RoutingNeed.id == row.id)
        .values(failed_offers=RoutingNeed.failed_offers + 1, state=NeedState.WAITING.value,
                waiting_since=now, updated_at=now)
        .returning(RoutingNeed.failed_offers).execution_options(synchronize_session=False)
    ).scalar_one()
    for name, value in (("failed_offers", failed), ("state", NeedState.WAITING.value),
                        ("waiting_since", now)):
        sa.orm.attributes.set_committed_value(row, name, value)
    if failed >= routing_rules().max_failed_offers:
        _claim(row, NeedState.WAITING.value, NeedState.ESCALATED.value)
        escalate(case, row, "failed_offers", actor_id)
        return None
    return route(case, row.need, None, how="rerouted", row=row)


# --- waiting needs, the sweep, and intake --------------------------------------------------

def offer_waiting(provider_id: int | None = None, limit: int = 100) -> int:
    """Offer needs waiting for a provider, oldest first; each in its own transaction.
    With `provider_id`, only needs that provider could take, until it is full."""
    rules = routing_rules()
    query = sa.select(RoutingNeed.id, RoutingNeed.case_id, RoutingNeed.need).where(
        RoutingNeed.state == NeedState.WAITING)
    provider = None
    if provider_id is not None:
        provider = db.session.get(Provider, provider_id)
        if provider is None or not provider.active or provider.load >= provider.capacity:
            db.session.rollback()
            return 0
        needs = [n for n, r in rules.needs.items() if provider.kind in r.kinds]
        prefixes = [r.region_prefix for r in provider.regions]
        if not needs or not prefixes:
            db.session.rollback()
            return 0
        query = query.join(Case, Case.id == RoutingNeed.case_id).where(
            RoutingNeed.need.in_(needs),
            sa.or_(*[Case.region_code.startswith(p, autoescape=True) for p in prefixes]))
    waiting = db.session.execute(
        query.order_by(RoutingNeed.waiting_since, RoutingNeed.id).limit(limit)).all()
    db.session.rollback()
    offered = 0
    for _id, case_id, need in waiting:
        try:
            case = db.session.get(Case, case_id)
            row = db.session.get(RoutingNeed, _id)
            if case is None or row is None or row.state != NeedState.WAITING:
                db.session.rollback()
                continue
            if route(case, need, None, how="capacity_freed") is not None:
                offered += 1
            db.session.commit()
        except Conflict:
            db.session.rollback()  # someone else routed it meanwhile
        except Exception:
            db.session.rollback()
            log.exception("offering waiting need %s of case %s failed", need, case_id)
        if provider_id is not None:
            load, capacity = db.session.execute(
                sa.select(Provider.load, Provider.capacity).where(Provider.id == provider_id)).one()
            db.session.rollback()
            if load >= capacity:
                break
    return offered


@dataclass
class SweepResult:
    expired: int = 0
    rerouted: int = 0
    escalated_or_waiting: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Plan:
    """What the sweep does about one expired offer: its need's next step and the events
    it appends to the case's timeline (the expiry first)."""

    case: Case
    row: RoutingNeed
    events: list[tuple[EventType, dict[str, Any]]]
    step: str = "offer"  # "offer", "none" (nobody free: the need waits) or "escalate"
    cand: Candidate | None = None
    attempt: int = 0


def _expire(ids: list[int], now: dt.datetime, result: SweepResult) -> None:
    """Expire these offers if they are still open and re-route each need; the caller
    commits. The batch is ranked in memory first (`PoolCache`), then written in a few
    statements for all its offers: the needs' failed offers counted, the needs claimed,
    the places taken, the referrals inserted, the events appended (`timeline.append_batch`).
    Every write that a race may lose is a conditional update whose rows are checked: a
    provider that could not give the places planned on it (taken or closed meanwhile)
    has its offers ranked again one by one, as `route` would."""
    rows = db.session.execute(
        sa.update(Referral)
        .where(Referral.id.in_(ids), Referral.status == ReferralStatus.OFFERED,
               Referral.respond_by <= now)
        .values(status=ReferralStatus.EXPIRED.value, closed_at=now, live_key=None)
        .returning(Referral.id, Referral.case_id, Referral.provider_id, Referral.routing_need_id,
                   Referral.need)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return
    if len({r[3] for r in rows}) != len(rows):  # one live offer per need: cannot happen
        raise Conflict("two expired offers of one need in a batch", current_state=None)
    # Load the batch's cases (with their petitioners) and needs in two queries, not 2n.
    cases = {c.id: c for c in db.session.execute(
        sa.select(Case).where(Case.id.in_({r[1] for r in rows}))
        .options(sa.orm.selectinload(Case.petitioners))).scalars()}
    needs = {n.id: n for n in db.session.execute(
        sa.select(RoutingNeed).where(RoutingNeed.id.in_({r[3] for r in rows}))).scalars()}
    # Every expired offer gives its place back before any is re-routed (they expired at
    # one instant), then the batch re-ranks from pools read once (`PoolCache`).
    places: dict[int, int] = {}
    for _rid, _case_id, provider_id, _need_id, _need in rows:
        places[provider_id] = places.get(provider_id, 0) + 1
    release_places(places)  # the sweep offers the waiting needs itself
    at = utcnow()  # the batch's instant: its rankings, offers and need updates
    cache = PoolCache(at, offer_histories({(r[1], r[4]) for r in rows}))
    cache.offers = {need_id: 0 for need_id in needs} | dict(db.session.execute(
        sa.select(Referral.routing_need_id, sa.func.count()).where(
            Referral.routing_need_id.in_(list(needs))).group_by(Referral.routing_need_id)).all())
    # Each expired offer counts as a failed offer of its need, which waits again
    # (`after_failed_offer`), in one statement.
    failed = dict(db.session.execute(
        sa.update(RoutingNeed).where(RoutingNeed.id.in_(list(needs)))
        .values(failed_offers=RoutingNeed.failed_offers + 1, state=NeedState.WAITING.value,
                waiting_since=at, updated_at=at)
        .returning(RoutingNeed.id, RoutingNeed.failed_offers)
        .execution_options(synchronize_session=False)).all())
    for need_id, row in needs.items():
        for name, value in (("failed_offers", failed[need_id]), ("state", NeedState.WAITING.value),
                            ("waiting_since", at)):
            sa.orm.attributes.set_committed_value(row, name, value)
    # Rank the batch in memory, in the order of the expired offers.
    max_failed = routing_rules().max_failed_offers
    plans: list[_Plan] = []
    for rid, case_id, provider_id, need_id, need in sorted(rows):
        plan = _Plan(cases[case_id], needs[need_id], [(events.REFERRAL_EXPIRED, {
            "referral_id": rid, "need": need, "provider_id": provider_id, "audience": []})])
        plans.append(plan)
        if failed[need_id] >= max_failed:
            plan.step = "escalate"
            continue
        plan.cand = cache.best(plan.case, need)
        if plan.cand is None:
            plan.step = "none"
            continue
        cache.took(plan.cand.provider.id)
        plan.attempt = cache.offers[need_id] = cache.offers[need_id] + 1
    # The users acting for the expired offers' providers and the chosen ones (the events'
    # audiences), in one query.
    members: dict[int, list[int]] = {r[2]: [] for r in rows}
    members |= {p.cand.provider.id: [] for p in plans if p.cand is not None}
    for provider_id, user_id in db.session.execute(
            sa.select(ProviderMember.provider_id, ProviderMember.user_id)
            .where(ProviderMember.provider_id.in_(members)).order_by(ProviderMember.user_id)):
        members[provider_id].append(user_id)
    for plan in plans:
        plan.events[0][1]["audience"] = members[plan.events[0][1]["provider_id"]]
    # The needs that failed too often are handed back to their officers.
    escalating = [p for p in plans if p.step == "escalate"]
    _claim_many([p.row for p in escalating], NeedState.WAITING.value, NeedState.ESCALATED.value, at)
    for plan in escalating:
        _held_escalate(plan, "failed_offers")
    # The others are claimed for routing: nobody may have moved them since the update above
    # (its rows are locked), but a row that did not move is a conflict, as in `route`.
    routing = [p for p in plans if p.step != "escalate"]
    claimed = _claim_many([p.row for p in routing], NeedState.WAITING.value,
                          NeedState.OFFERED.value, at)
    if len(claimed) != len(routing):
        raise Conflict("a need of the batch is being routed by someone else", current_state=None)
    wanted: dict[int, int] = {}
    for plan in routing:
        if plan.cand is not None:
            wanted[plan.cand.provider.id] = wanted.get(plan.cand.provider.id, 0) + 1
    given = take_places(wanted, at)
    hours = routing_rules().response_hours_for
    offering = [p for p in routing if p.cand is not None and p.cand.provider.id in given]
    if offering:
        values = [{
            "case_id": p.case.id, "routing_need_id": p.row.id, "need": p.row.need,
            "provider_id": p.cand.provider.id, "status": ReferralStatus.OFFERED.value,
            "attempt": p.attempt, "live_key": f"{p.case.id}:{p.row.need}", "offered_by_id": None,
            "offered_at": at, "respond_by": at + dt.timedelta(hours=hours(p.cand.provider.kind)),
            "reasons": p.cand.reasons} for p in offering]  # type: ignore[union-attr]
        referral_ids = db.session.execute(
            sa.insert(Referral).returning(Referral.id, sort_by_parameter_order=True), values
        ).scalars().all()
        for plan, rid, v in zip(offering, referral_ids, values, strict=True):
            cand = plan.cand
            assert cand is not None
            plan.events.append((events.REFERRAL_OFFERED, _offered_data(
                rid, plan.row.need, cand.provider, members[cand.provider.id], plan.attempt,
                v["respond_by"], "rerouted", cand.reasons)))
    for plan in routing:
        if plan.cand is None or plan.cand.provider.id in given:
            continue
        # Its provider was taken or closed meanwhile: rank this need again, as `route` would.
        db.session.info[HELD_EVENTS] = {plan.case.id: plan.events}
        try:
            for cand in candidates(plan.case, plan.row.need, at, open_only=True).ranked:
                if take_capacity(cand.provider.id, at):
                    _offer(plan.case, plan.row, cand, None, at, "rerouted", plan.attempt)
                    break
            else:
                plan.step = "none"
        finally:
            db.session.info.pop(HELD_EVENTS, None)
    # Nobody may take these: the need waits, and the case is escalated to its officer.
    waiting = [p for p in routing if p.step == "none"]
    _claim_many([p.row for p in waiting], NeedState.OFFERED.value, NeedState.WAITING.value, at,
                waiting_since=at)
    for plan in waiting:
        _held_escalate(plan, "no_candidate")
    by_case: dict[int, list[tuple[EventType, dict[str, Any]]]] = {}
    for plan in plans:
        by_case.setdefault(plan.case.id, []).extend(plan.events)
        result.expired += 1
        if plan.step == "offer":
            result.rerouted += 1
        else:
            result.escalated_or_waiting += 1
    timeline.append_batch(db.session, by_case, None)


def _held_escalate(plan: _Plan, reason: str) -> None:
    """`escalate` the plan's need, its event added to the plan's."""
    db.session.info[HELD_EVENTS] = {plan.case.id: plan.events}
    try:
        escalate(plan.case, plan.row, reason, None)
    finally:
        db.session.info.pop(HELD_EVENTS, None)


def sweep(now: dt.datetime | None = None, batch: int = 100) -> SweepResult:
    """Expire every offer past its response deadline exactly once and re-route its need.

    Each batch is one transaction; the expiry is a conditional update, so a concurrent
    sweep or a sweep re-run after a killed worker never expires an offer twice, and an
    offer in a batch that rolled back stays open for the next run. Then offer what waits.
    """
    now = now or utcnow()
    result = SweepResult()
    skip: set[int] = set()
    while True:
        ids = list(db.session.execute(
            sa.select(Referral.id)
            .where(Referral.status == ReferralStatus.OFFERED, Referral.respond_by <= now,
                   Referral.id.not_in(skip) if skip else sa.true())
            .order_by(Referral.respond_by, Referral.id).limit(batch)).scalars())
        db.session.rollback()
        if not ids:
            break
        try:
            _expire(ids, now, result)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("sweeping a batch of %d offers failed; trying them one by one", len(ids))
            for rid in ids:
                try:
                    _expire([rid], now, result)
                    db.session.commit()
                except Exception:
                    db.session.rollback()
                    log.exception("expiring offer %s failed; the next sweep retries it", rid)
                    result.failed += 1
                    skip.add(rid)
    offer_waiting()
    return result


def on_needs_changed(case: Case, before: list[str], after: list[str], actor: User | None) -> None:
    """Hook of `mediation.cases.commands`: with MEDIATION_ROUTING_ON_INTAKE=auto, offer new
    needs at once (in the command's transaction); with `confirm`, the officer confirms."""
    if routing_mode() != "auto":
        return
    for need in after:
        if need in before:
            continue
        row = db.session.execute(sa.select(RoutingNeed).where(
            RoutingNeed.case_id == case.id, RoutingNeed.need == need)).scalar_one_or_none()
        if row is not None and row.state not in (NeedState.WAITING, NeedState.CANCELLED):
            continue
        route(case, need, actor, how="on_intake")
    for need in before:
        if need in after:
            continue
        row = db.session.execute(sa.select(RoutingNeed).where(
            RoutingNeed.case_id == case.id, RoutingNeed.need == need)).scalar_one_or_none()
        if row is not None and _claim(row, NeedState.WAITING.value, NeedState.CANCELLED.value):
            timeline.append(db.session, case.id, events.ROUTING_CANCELLED, {
                "need": need, "reason": "no longer a need of the case"},
                actor.id if actor else None)


def confirm_routing(case: Case, actor: User) -> list[tuple[str, Referral | None]]:
    """The officer confirms routing: offer each need of the case that has no live referral."""
    out: list[tuple[str, Referral | None]] = []
    for need in case_rules.effective_needs(case):
        row = db.session.execute(sa.select(RoutingNeed).where(
            RoutingNeed.case_id == case.id, RoutingNeed.need == need)).scalar_one_or_none()
        if row is not None and row.state in (NeedState.OFFERED, NeedState.ACCEPTED,
                                             NeedState.COMPLETED):
            continue
        out.append((need, route(case, need, actor, how="confirmed")))
    return out


def live_referrals_of(user: User):
    """SELECT of case ids where one of the user's providers holds a live referral."""
    return (sa.select(Referral.case_id)
            .join(ProviderMember, ProviderMember.provider_id == Referral.provider_id)
            .where(ProviderMember.user_id == user.id, Referral.status.in_(LIVE)))

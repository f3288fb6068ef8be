"""The provider directory held in the process, so ranking reads no pool from the database.

PostgreSQL only (on SQLite `routing.provider_pool` reads the pool each time). Each
provider's facts are kept: the directory's own (kind, regions, capacity, load,
availability, the last offer) and its recent answers (offers decided and accepted in the
acceptance window). A trigger stamps a provider's row with the id of the transaction that
changed it, its regions, or a referral of it (offered, moved, accepted; every other answer
gives its place back, which writes the row anyway) — see migration 0031. Each ranking
first asks, in one statement, what its snapshot says of the transactions (those from
`xmax` on had not started; those listed were running, this one among them) and for the
rows written by transactions that the previous look did not see finished:
- a row written by a transaction this snapshot sees finished is kept;
- a row written by one still running (this one: its own changes are visible to it) serves
  this ranking only, and is read again next time.
So a ranking sees exactly what a query of the pool in its transaction would see, at the
cost of one indexed look when nothing changed. The same statement reads a mark of
deletions (the table's file, new after a TRUNCATE, and a count of DELETE statements):
providers are never deleted by the application, but a test's TRUNCATE or a restore may; then,
or when transaction ids go back (another database), the whole
directory is read again. Counts of the acceptance window are kept with the window they
were counted over and the oldest offer they count: once that offer leaves the window (or
a ranking asks about an earlier time), the provider is read again.

Capacity is still taken by the conditional update: the cache only ranks, the database
decides.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from mediation.stamps import stamped_since
from referrals.models import Provider, ProviderRegion, Referral, ReferralStatus
from referrals.ranking import CaseFacts, ProviderFacts, case_prefixes


def accepted_filter(r) -> sa.ColumnElement[bool]:
    """An accepted offer (completed, or withdrawn after it was accepted, included)."""
    return sa.or_(r.status.in_((ReferralStatus.ACCEPTED, ReferralStatus.COMPLETED)),
                  sa.and_(r.status == ReferralStatus.WITHDRAWN, r.responded_at.is_not(None)))


def decided_filter(r) -> sa.ColumnElement[bool]:
    """An answered offer. One withdrawn before any answer is the officer's doing."""
    return sa.and_(r.status != ReferralStatus.OFFERED,
                   sa.or_(r.status != ReferralStatus.WITHDRAWN, r.responded_at.is_not(None)))


@functools.lru_cache(maxsize=4096)
def json_list(text: str | None) -> tuple[str, ...]:
    """Decode a JSON list column read as text. Few distinct values occur (most providers
    declare no conflict; specialities come in a few combinations), so decoding is cached:
    it would otherwise cost more than the ranking itself."""
    return tuple(json.loads(text)) if text and text != "[]" else ()


@dataclass(frozen=True)
class _Entry:
    facts: ProviderFacts
    counted_since: dt.datetime  # the window's start the counts were taken over
    oldest_counted: dt.datetime | None  # the earliest offer they count

    def counts_hold(self, since: dt.datetime) -> bool:
        return self.counted_since <= since and (
            self.oldest_counted is None or since <= self.oldest_counted)


@functools.cache
def _read_query(by_ids: bool) -> sa.Select:
    """The snapshot's horizon, the number of providers, and the providers stamped from
    `after` on or with a stamp in `pending` (or those of `ids`), with their regions and
    acceptance counts; and the case's history with the need (providers who declined it or
    let it expire: the greater of the two where both): one statement, so one snapshot."""
    r = sa.orm.aliased(Referral)
    recent = sa.and_(r.provider_id == Provider.id, r.offered_at >= sa.bindparam("since"))
    decided = sa.select(sa.func.count()).where(recent, decided_filter(r)).scalar_subquery()
    accepted = sa.select(sa.func.count()).where(recent, accepted_filter(r)).scalar_subquery()
    oldest = sa.select(sa.func.min(r.offered_at)).where(recent, decided_filter(r)).scalar_subquery()
    regions = (sa.select(sa.func.array_agg(aggregate_order_by(ProviderRegion.region_prefix,
                                                              ProviderRegion.region_prefix)))
               .where(ProviderRegion.provider_id == Provider.id).scalar_subquery())
    which = (Provider.id.in_(sa.bindparam("ids", expanding=True)) if by_ids
             else stamped_since(Provider.change_xid))
    changed = sa.select(
        Provider.id, Provider.name, Provider.kind, Provider.capacity, Provider.load,
        Provider.mediation_type, sa.cast(Provider.specialities, sa.Text).label("specialities"),
        sa.cast(Provider.conflicts, sa.Text).label("conflicts"), Provider.available,
        Provider.away_until, Provider.active, Provider.last_offered_at, Provider.change_xid,
        regions.label("regions"), decided.label("decided"), accepted.label("accepted"),
        oldest.label("oldest")).where(which).subquery()
    h = sa.orm.aliased(Referral)
    history = (sa.select(sa.func.concat(h.provider_id, ":", sa.func.max(h.status)))
               .where(h.case_id == sa.bindparam("case_id"), h.need == sa.bindparam("need"),
                      h.status.in_((ReferralStatus.DECLINED.value, ReferralStatus.EXPIRED.value)))
               .group_by(h.provider_id).scalar_subquery())
    snap = sa.select(sa.func.txid_current_snapshot().label("s")).subquery()
    horizon = sa.select(
        sa.func.txid_snapshot_xmax(snap.c.s).label("xmax"),
        sa.func.array(sa.select(sa.func.txid_snapshot_xip(snap.c.s)).scalar_subquery())
        .label("xip"),
        sa.func.txid_current_if_assigned().label("own"),
        # Deletions behind the cache: a TRUNCATE (a new file) or a DELETE (counted).
        sa.func.concat(sa.func.pg_relation_filenode("providers"), ":", sa.select(
            sa.func.concat(sa.column("last_value"), sa.column("is_called"))).select_from(
                sa.table("providers_deletions")).scalar_subquery()).label("n"),
        sa.func.array(history).label("history"),
    ).select_from(snap).subquery()
    return (sa.select(horizon.c.xmax, horizon.c.xip, horizon.c.own, horizon.c.n,
                      horizon.c.history, changed)
            .select_from(horizon.outerjoin(changed, sa.true())))


@dataclass(frozen=True)
class _Horizon:
    """What a snapshot says of the transactions: those from `xmax` on had not started,
    those in `pending` were running (this one's own among them)."""

    xmax: int
    pending: frozenset[int]

    def finished(self, stamp: int) -> bool:
        return stamp < self.xmax and stamp not in self.pending


@dataclass
class _Look:
    """What one statement read."""

    horizon: _Horizon
    deletions: str  # changes when providers are deleted
    rows: dict[int, tuple[_Entry, int]]  # {id: (entry, stamp)} of the rows asked for
    history: dict[int, str]  # the case's history with the need


class DirectoryCache:
    """One per app (its database); shared by the app's threads. Refreshes take turns (one
    short indexed statement each), so each starts from the horizon the previous one left.
    Providers are indexed by (region prefix served, kind)."""

    def __init__(self) -> None:
        self._refreshing = threading.Lock()
        self._lock = threading.Lock()  # the maps below
        self._entries: dict[int, _Entry] = {}
        self._index: dict[tuple[str, str], set[int]] = {}
        self._horizon: _Horizon | None = None
        self._deletions = ""

    def clear(self) -> None:
        with self._lock:
            self._entries, self._index, self._horizon = {}, {}, None

    @staticmethod
    def _read(conn: sa.Connection, since: dt.datetime, history_of: tuple[int, str], *,
              after: _Horizon | None = None, ids: list[int] | None = None) -> _Look:
        """The rows of `ids`, or those written by transactions that `after` did not see
        finished (all of them without `after`), and the history of (case id, need)."""
        params: dict[str, object] = {"since": since, "case_id": history_of[0],
                                     "need": history_of[1]}
        if ids is not None:
            params["ids"] = ids
        elif after is None:
            params |= {"after": -1, "pending": []}
        else:
            params |= {"after": after.xmax, "pending": sorted(after.pending)}
        rows = conn.execute(_read_query(ids is not None), params).all()
        xmax, xip, own, n, history = rows[0][:5]
        look = _Look(_Horizon(xmax, frozenset(xip or ()) | ({own} if own is not None else set())),
                     n, {}, {int(pid): status for pid, _, status in
                             (item.partition(":") for item in history or ())})
        for (_x, _p, _o, _n, _h, pid, name, kind, capacity, load, mtype, specialities,
             conflicts, available, away, active, last_offered, stamp, regions, n_decided,
             n_accepted, oldest) in rows:
            if pid is None:  # nothing changed: the horizon's row alone
                continue
            facts = ProviderFacts(
                pid, name, kind, tuple(regions or ()), capacity, load, mtype,
                json_list(specialities), json_list(conflicts), available, away, active,
                last_offered, n_decided, n_accepted)
            look.rows[pid] = (_Entry(facts, since, oldest), stamp)
        return look

    @staticmethod
    def _keep(entries: dict[int, _Entry], index: dict[tuple[str, str], set[int]], pid: int,
              entry: _Entry) -> None:
        old = entries.get(pid)
        if old is not None:
            for prefix in old.facts.region_prefixes:
                index.get((prefix, old.facts.kind), set()).discard(pid)
        entries[pid] = entry
        for prefix in entry.facts.region_prefixes:
            index.setdefault((prefix, entry.facts.kind), set()).add(pid)

    def _absorb(self, look: _Look) -> dict[int, _Entry]:
        """Keep what finished transactions wrote; return the rest, which holds for this
        transaction alone (the caller holds `_lock`). A snapshot older than the cache's
        (it cannot happen under READ COMMITTED) keeps nothing."""
        passing: dict[int, _Entry] = {}
        keep = self._horizon is None or look.horizon.xmax >= self._horizon.xmax
        for pid, (entry, stamp) in look.rows.items():
            if keep and look.horizon.finished(stamp):
                self._keep(self._entries, self._index, pid, entry)
            else:
                passing[pid] = entry
        return passing

    def _refresh(self, conn: sa.Connection, since: dt.datetime, history_of: tuple[int, str]
                 ) -> tuple[dict[int, _Entry], dict[int, str]]:
        """Bring the cache up to this statement's snapshot; return the entries that hold
        for this transaction alone, and the history of (case id, need)."""
        with self._refreshing:
            after = self._horizon
            if after is None:
                return self._refresh_all(conn, since, history_of)
            look = self._read(conn, since, history_of, after=after)
            if look.horizon.xmax < after.xmax or look.deletions != self._deletions:
                # transaction ids went back (another database) or rows were deleted behind
                # the cache: read it all again
                return self._refresh_all(conn, since, history_of)
            with self._lock:
                passing = self._absorb(look)
                self._horizon = look.horizon
            return passing, look.history

    def _refresh_all(self, conn: sa.Connection, since: dt.datetime, history_of: tuple[int, str]
                     ) -> tuple[dict[int, _Entry], dict[int, str]]:
        """Read the whole directory and put it in place at once (the caller holds
        `_refreshing`)."""
        look = self._read(conn, since, history_of)
        entries: dict[int, _Entry] = {}
        index: dict[tuple[str, str], set[int]] = {}
        passing: dict[int, _Entry] = {}
        for pid, (entry, stamp) in look.rows.items():
            if look.horizon.finished(stamp):
                self._keep(entries, index, pid, entry)
            else:
                passing[pid] = entry
        with self._lock:
            self._entries, self._index, self._horizon = entries, index, look.horizon
            self._deletions = look.deletions
        return passing, look.history

    def pool(self, conn: sa.Connection, case: CaseFacts, need: str, kinds: tuple[str, ...],
             open_only: bool, today: dt.date, since: dt.datetime
             ) -> tuple[list[ProviderFacts], dict[int, str]]:
        """What `routing.provider_pool` reads for this case, in id order: active providers
        of these kinds serving a region that covers the case, with their counts of offers
        since `since` (`open_only` also leaves out the unavailable and the full), and the
        case's history with the need among them."""
        view = self.view(conn, since, (case.case_id, need))
        pool = view.pool(case, kinds, open_only, today)
        return pool, {p.id: view.history[p.id] for p in pool if p.id in view.history}

    def view(self, conn: sa.Connection, since: dt.datetime,
             history_of: tuple[int, str] = (0, "")) -> DirectoryView:
        """The directory as this transaction sees it now, for one ranking or for a batch
        of them (which keeps track of what it changes itself: `routing.PoolCache`)."""
        passing, history = self._refresh(conn, since, history_of)
        return DirectoryView(self, conn, since, passing, history)


@dataclass
class DirectoryView:
    """The cache as one transaction sees it: the kept entries, with those that hold for
    this transaction alone over them."""

    cache: DirectoryCache
    conn: sa.Connection
    since: dt.datetime
    passing: dict[int, _Entry]
    history: dict[int, str]  # of the (case, need) the view was taken for

    def pool(self, case: CaseFacts, kinds: tuple[str, ...], open_only: bool,
             today: dt.date) -> list[ProviderFacts]:
        return self.pool_of(case_prefixes(case.region_code), kinds, open_only, today)

    def pool_of(self, prefixes: list[str] | tuple[str, ...], kinds: tuple[str, ...],
                open_only: bool, today: dt.date) -> list[ProviderFacts]:
        """The providers of these kinds serving one of these region prefixes, in id order
        (`pool` for a case: the prefixes covering its region)."""
        cache, since = self.cache, self.since
        while True:
            stale: list[int] = []
            pool: list[ProviderFacts] = []
            with cache._lock:
                ids: set[int] = set()
                for prefix in prefixes:
                    for kind in kinds:
                        ids |= cache._index.get((prefix, kind), set())
                for pid, entry in self.passing.items():
                    if entry.facts.kind in kinds and any(
                            p in prefixes for p in entry.facts.region_prefixes):
                        ids.add(pid)
                    else:
                        ids.discard(pid)
                entries = cache._entries
                for pid in sorted(ids):
                    entry = self.passing.get(pid) or entries[pid]
                    p = entry.facts
                    if not p.active or open_only and (
                            not p.available or p.load >= p.capacity
                            or (p.away_until is not None and p.away_until >= today)):
                        continue
                    if not entry.counts_hold(since):
                        stale.append(pid)
                    pool.append(p)
            if not stale:
                return pool
            # Counts that no longer hold (an offer left the window, or a ranking as of an
            # earlier time): these providers are read again, counted from `since`.
            look = cache._read(self.conn, since, (0, ""), ids=stale)
            with cache._lock:
                cache._absorb(look)
            self.passing = self.passing | {pid: entry for pid, (entry, _s) in look.rows.items()}

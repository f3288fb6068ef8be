"""The petitioners' names of each county held in the process, so the repeat check reads no
county's names from the database at each intake.

PostgreSQL only (on SQLite the repeat check reads the county's names each time). A trigger
stamps each petitioner row with the id of the transaction that last wrote it, and a case
moved to another region touches its petitioners (migration 0032). Each look at a county
asks, in one statement, for the snapshot it runs in (`xmin`: transactions below it had
finished; `xmax` and `xip`: those from `xmax` on had not started, those listed were
running, this one's own added) and for the county's rows written by a transaction the
previous look did not see finished (stamped from its `xmax` on, or by one it saw running):
- rows written by transactions the previous look saw finished were read by it already;
- every other row this snapshot sees is read now.
Rows written by this very transaction (not committed: it may still roll back) serve this
look only, and are read again by the next. A long transaction elsewhere costs no more than
its own rows. A look whose snapshot does not see
everything the previous look saw (a transaction older than the copy, under repeatable
read) gets None: the caller reads the names itself.

The copy is a superset: a petitioner deleted, moved out of the county, merged away or out
of the officer's sight stays in it. The caller therefore takes it only as a sieve: it loads
the rows it kept, with their cases, in its own statement, and decides on what that reads;
and the copy's case ids give an upper bound of the scan limit's cut-off (`Look.floor`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.dialects.postgresql import ARRAY

from mediation import driver
from mediation.cases.models import Case, Petitioner
from mediation.stamps import stamped_since


@dataclass(frozen=True)
class Snapshot:
    """What a statement's snapshot says of the transactions."""

    xmin: int
    xmax: int
    running: frozenset[int]  # the xip list, and this transaction if it has an id

    def sees_all_of(self, other: Snapshot) -> bool:
        """Whether every transaction `other` saw finished is finished for this one too."""
        return self.xmax >= other.xmax and all(
            t in other.running for t in self.running if t < other.xmax)


def may_reach(n: int, m: int, cutoff: float) -> bool:
    """Whether two different strings of lengths n and m can score `cutoff` or more by
    rapidfuzz's fuzz.ratio.

    fuzz.ratio is 100 * (1 - d / (n + m)), d the Indel distance (insertions and deletions
    only). d >= |n - m|, since each operation changes the length by one; and when n == m
    two different strings need at least one deletion and one insertion, d >= 2. So
    100 * (n + m - dmin) / (n + m) bounds the score from above. The margin (1e-6, far
    wider than a double's rounding of these small ratios and far narrower than the gap
    between two of them, at least 100 / (n + m)^2) only keeps a length whose bound sits at
    the cutoff itself."""
    total = n + m
    if total == 0:
        return False
    dmin = abs(n - m) or 2
    return 100 * (total - dmin) / total >= cutoff - 1e-6


def max_distance(n: int, m: int, cutoff: float) -> int:
    """The largest Indel distance at which strings of lengths n and m (n + m > 0) may still
    score `cutoff` by fuzz.ratio: decided by `may_reach`'s own test (and margin), so the
    two never disagree; -1 when none may."""
    total = n + m
    d = int(total * (100 - cutoff) / 100)
    while d < total and 100 * (total - (d + 1)) / total >= cutoff - 1e-6:
        d += 1
    while d >= 0 and not 100 * (total - d) / total >= cutoff - 1e-6:
        d -= 1
    return d


# The bag of a key: how many of its characters fall in each of BAG_CLASSES classes (by code
# point), one integer of BAG_BITS bits per class. An insertion or a deletion changes one
# class's count by one, so the Indel distance of two keys is at least the sum of their
# bags' differences: a key can reach the cutoff only if its bag is within max_distance of
# the query's. Eight classes leave about one pinyin key in twenty of a county's to compare
# (measured on the bench's names); a class's count never reaches 2^BAG_BITS (a name is at
# most 100 characters; its pinyin a few hundred).
BAG_CLASSES = 8
BAG_BITS = 20
# Past this many bags to look up for one length, the length's keys are all compared; and
# where a length has fewer keys than its bags to look up times this (a bag's lookup costs
# about as much as rapidfuzz comparing a few keys).
MAX_BAG_LOOKUPS = 400
BAG_LOOKUP_COST = 3


def bag(key: str) -> int:
    counts = [0] * BAG_CLASSES
    for ch in key:
        counts[ord(ch) % BAG_CLASSES] += 1
    out = 0
    for k, count in enumerate(counts):
        out |= count << (BAG_BITS * k)
    return out


@functools.lru_cache(maxsize=256)
def bag_offsets(change: int, distance: int) -> tuple[int, ...] | None:
    """What to add to a query's bag to get every bag of length len(query) + change within
    `distance` of it (None past MAX_BAG_LOOKUPS): the bags whose counts sum to `change`
    and whose counts' absolute values sum to at most `distance`. A negative count borrows
    from the next class and may name a bag no key has, or one of a count no key reaches:
    a lookup of nothing, or of keys compared for nothing; never a bag left out."""
    found: set[int] = set()
    for plus in range(max(change, 0), distance + 1):
        minus = plus - change
        if minus < 0 or plus + minus > distance:
            continue
        for up in itertools.combinations_with_replacement(range(BAG_CLASSES), plus):
            for down in itertools.combinations_with_replacement(range(BAG_CLASSES), minus):
                found.add(sum(1 << (BAG_BITS * k) for k in up) - sum(1 << (BAG_BITS * k) for k in down))
                if len(found) > MAX_BAG_LOOKUPS:
                    return None
    return tuple(sorted(found))


class KeyIndex:
    """One key space of a county's names (their normalised forms, or their pinyin): the
    petitioners by exact key, and the keys by length and by bag (see `bag`), so that
    `similar` compares a key only with the stored keys of the lengths that may reach the
    cutoff (see `may_reach`) and, within them, of the bags that may (see `bag_offsets`),
    instead of with every name of the county. A county's names are mostly of two to four
    characters, and an equal normalised name is found by its key: the normalised names of
    a three-character name's own length are never compared one by one, nor those of lengths
    two away; of the pinyin of several lengths, those of a near bag alone are."""

    def __init__(self) -> None:
        self.exact: dict[str, set[int]] = {}
        self.by_length: dict[int, tuple[list[str], list[int]]] = {}
        self.by_bag: dict[int, tuple[list[str], list[int]]] = {}

    def add(self, pid: int, key: str) -> None:
        self.exact.setdefault(key, set()).add(pid)
        for group in (self.by_length.setdefault(len(key), ([], [])),
                      self.by_bag.setdefault(bag(key), ([], []))):
            group[0].append(key)
            group[1].append(pid)

    def remove(self, pid: int, key: str) -> None:
        same = self.exact[key]
        same.discard(pid)
        if not same:
            del self.exact[key]
        for keys, ids in (self.by_length[len(key)], self.by_bag[bag(key)]):
            at = ids.index(pid)  # a rename only: rare
            keys[at], ids[at] = keys[-1], ids[-1]
            keys.pop()
            ids.pop()

    def similar(self, query: str, cutoff: float) -> set[int]:
        """The petitioners whose key scores at least `cutoff` against `query` (not empty)
        by fuzz.ratio: exactly those a scan of every key with process.extract keeps (an
        equal key scores 100; rapidfuzz scores every other candidate itself)."""
        hits = set(self.exact.get(query, ()))
        n = len(query)
        near_keys: list[str] = []
        near_ids: list[int] = []
        query_bag: int | None = None
        for m, (keys, ids) in self.by_length.items():
            if not keys or not may_reach(n, m, cutoff):
                continue
            offsets = bag_offsets(m - n, max_distance(n, m, cutoff))
            if offsets is None or len(offsets) * BAG_LOOKUP_COST > len(keys):
                near_keys += keys  # fewer keys than bags to look up: the whole length
                near_ids += ids
                continue
            if query_bag is None:
                query_bag = bag(query)
            get = self.by_bag.get
            for group in [get(query_bag + offset) for offset in offsets]:
                if group is not None:
                    near_keys += group[0]
                    near_ids += group[1]
        if near_keys:
            hits.update(near_ids[i] for _, _, i in process.extract(
                query, near_keys, scorer=fuzz.ratio, limit=None, score_cutoff=cutoff))
        return hits


@dataclass
class Names:
    """Names of petitioners, indexed for a sieve: their normalised forms and their pinyin;
    and their cases' ids, sorted (one per petitioner), for the scan limit's cut-off."""

    normalised: KeyIndex = field(default_factory=KeyIndex)
    pinyin: KeyIndex = field(default_factory=KeyIndex)
    keys: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # by petitioner id
    case_ids: list[int] = field(default_factory=list)

    def put(self, pid: int, name: str, case_id: int,
            keys: Callable[[str], tuple[str, str]]) -> None:
        normalised, pinyin = keys(name)
        old = self.keys.get(pid)
        if old == (normalised, pinyin, case_id):
            return
        self.keys[pid] = normalised, pinyin, case_id
        if old is None or old[:2] != (normalised, pinyin):
            if old is not None:
                self.normalised.remove(pid, old[0])
                self.pinyin.remove(pid, old[1])
            self.normalised.add(pid, normalised)
            self.pinyin.add(pid, pinyin)
        if old is None or old[2] != case_id:
            if old is not None:
                del self.case_ids[bisect.bisect_left(self.case_ids, old[2])]
            bisect.insort(self.case_ids, case_id)


@dataclass
class CountyNames(Names):
    """The names of one county's petitioners as of `seen` (None: not read yet)."""

    seen: Snapshot | None = None


@dataclass(frozen=True)
class Look:
    """What a look found: the petitioners the sieve kept, and `floor`: the case id of the
    `rank`-th of the names it sieved by case id, highest first (None with fewer names; a
    row this transaction wrote counted twice: once as the copy has it, once as written).

    The copy holds every row of the county this snapshot sees, with its case id, and
    maybe more: so at most rank - 1 of the county's rows, however chosen, are of cases
    above `floor`; a case at or above it is among the latest `rank` rows' cases of any
    choice of the county's rows.

    With a `Beside` statement: `rows`, what it read in the look's own statement (None
    when it was not run), given `asked`, the petitioners the sieve kept from the copy as
    it stood before the statement (a part of `ids`: the rest were read by this look)."""

    ids: set[int]
    floor: int | None
    rows: list[tuple[Any, ...]] | None = None
    asked: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Beside:
    """A statement of the caller's read in the look's own, one round trip instead of two:
    its rows come after the look's in one UNION ALL, its columns after the look's (the
    look's rows have its columns NULL, and its rows the look's). `params` gives its
    parameters for the petitioners the sieve keeps from the copy as it stands before the
    look's statement (the copy's rows read before: most of a county's), or None where it
    need not run. Its parameters must be named apart from the look's (`after`, `pending`)."""

    statement: sa.Select
    params: Callable[[set[int]], dict[str, Any] | None]


_LOOK_COLUMNS = 8  # xmin, xmax, xip, own, then a changed row's id, name, change_xid, case_id


def _query(county: str, first: bool, beside: sa.Select | None = None) -> sa.Select | sa.CompoundSelect:
    """The look's statement: the snapshot, and the county's rows written since the last look.

    The first look reads the whole county, driven by its cases. Every later one finds the
    few rows written since on the petitioners' `change_xid` index first, in a fenced CTE,
    then keeps those of the county, each row's case read by its key: a join the planner
    were free to drive from the county's cases (as it does when the statistics are stale,
    and always on a fresh database until it is analysed) would read every petitioner or
    every case of the county at each intake (tests/test_repeat_names.py counts the scans)."""
    snap = sa.select(sa.func.txid_current_snapshot().label("s")).subquery()
    horizon = sa.select(
        sa.func.txid_snapshot_xmin(snap.c.s).label("xmin"),
        sa.func.txid_snapshot_xmax(snap.c.s).label("xmax"),
        sa.func.array(sa.select(sa.func.txid_snapshot_xip(snap.c.s)).scalar_subquery(),
                      type_=ARRAY(sa.BigInteger)).label("xip"),
        sa.func.txid_current_if_assigned().label("own"),
    ).select_from(snap).subquery()
    in_county = Case.region_code.startswith(county, autoescape=True)
    if first:
        changed = (sa.select(Petitioner.id, Petitioner.name, Petitioner.change_xid,
                             Petitioner.case_id)
                   .join(Case, Case.id == Petitioner.case_id).where(in_county).subquery())
    else:
        recent = (sa.select(Petitioner.id, Petitioner.name, Petitioner.change_xid,
                            Petitioner.case_id)
                  .where(stamped_since(Petitioner.change_xid))
                  .cte("recent").prefix_with("MATERIALIZED"))
        # Each row's case by its key (a subquery per row, of which there are a few): a join
        # leaves the planner free to hash the county's every case, which it does when its
        # statistics are missing (a fresh database; autovacuum off).
        region = (sa.select(Case.region_code).where(Case.id == recent.c.case_id)
                  .scalar_subquery())
        changed = (sa.select(recent.c.id, recent.c.name, recent.c.change_xid, recent.c.case_id)
                   .where(region.startswith(county, autoescape=True)).subquery())
    look = (sa.select(horizon.c.xmin, horizon.c.xmax, horizon.c.xip, horizon.c.own,
                      changed.c.id, changed.c.name, changed.c.change_xid, changed.c.case_id)
            .select_from(horizon.outerjoin(changed, sa.true())))
    if beside is None:
        return look
    # One statement, so one snapshot for both (a look's xmin is never NULL: its rows come
    # first in the UNION's columns; the beside's rows have them NULL).
    width = len(beside.selected_columns)
    return sa.union_all(
        look.add_columns(*(sa.null().label(f"beside_{i}") for i in range(width))),
        beside.with_only_columns(*(sa.null().label(f"look_{i}") for i in range(_LOOK_COLUMNS)),
                                 *beside.selected_columns))


class NameCache:
    """One per app (its database); shared by its threads. Looks at a county take turns."""

    def __init__(self, keys: Callable[[str], tuple[str, str]]) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._counties: dict[str, CountyNames] = {}
        self._queries: dict[tuple[str, bool], driver.Prepared] = {}

    def look(self, conn: sa.Connection, county: str, sieve: Callable[[Names], set[int]],
             rank: int, beside: Beside | None = None) -> Look | None:
        """The petitioners of the county's names that `sieve` keeps, as the snapshot of one
        statement on `conn` sees them (and possibly more, see the module's note); None when
        this snapshot is older than the copy. The sieve runs under the lock, on the copy as
        this snapshot sees it: no copy of the county's names is made for it.

        With `beside`, once the copy was read (not at a county's first look): the copy's
        rows are sieved before the statement, `beside` reads what the caller needs of
        them in the same statement, and after it only the rows it read are sieved (a
        petitioner both sieves keep, renamed meanwhile, is in `ids` as either keeps it:
        a superset still, as the module's note allows)."""
        with self._lock:
            entry = self._counties.get(county)
            if entry is None:
                entry = self._counties[county] = CountyNames()
            seen = entry.seen
            asked: set[int] | None = None
            params: dict[str, Any] | None = None
            if seen is not None and beside is not None:
                asked = sieve(entry)
                params = beside.params(asked)
            with_beside = beside if params is not None else None
            key = (county, seen is None, with_beside.statement if with_beside else None)
            query = self._queries.get(key)
            if query is None:
                # Planned with its values at every execution: its right plan depends on them
                # (`after` reads the few petitioners changed since the copy last looked, by
                # index). Prepared, a long-lived connection's server settled after five
                # executions on a generic plan that guessed a third of the table for that
                # range and, with no statistics, read both tables whole (bench/intake.py with
                # a pool that kept its connections: 1.4 ms per look against 0.2).
                query = self._queries[key] = driver.Prepared(
                    _query(county, seen is None, with_beside.statement if with_beside else None),
                    conn.dialect, planned_each_time=True)
            look_params = {} if seen is None else {"after": seen.xmax, "pending": sorted(seen.running)}
            rows = driver.rows(conn, query, look_params if params is None else look_params | params)
            beside_rows = None
            if params is not None:
                beside_rows = [r[_LOOK_COLUMNS:] for r in rows if r[0] is None]
                rows = [r for r in rows if r[0] is not None]
            xmin, xmax, xip, own = rows[0][:4]
            snap = Snapshot(xmin, xmax, frozenset(xip or ()) | ({own} if own is not None else set()))
            if entry.seen is not None and not snap.sees_all_of(entry.seen):
                return None
            mine = Names()
            read = Names() if asked is not None else None  # the rows read now, sieved alone
            for row in rows:
                pid, name, change_xid, case_id = row[4:_LOOK_COLUMNS]
                if pid is None:
                    continue
                if own is not None and change_xid == own:
                    mine.put(pid, name, case_id, self._keys)
                else:
                    entry.put(pid, name, case_id, self._keys)
                    if read is not None:
                        read.put(pid, name, case_id, self._keys)
            entry.seen = snap
            case_ids = entry.case_ids
            if mine.case_ids:  # rare: this transaction wrote petitioners of the county
                case_ids = sorted(case_ids[-rank:] + mine.case_ids)
            floor = case_ids[-rank] if rank <= len(case_ids) else None
            if asked is None or read is None:
                return Look(sieve(entry) | sieve(mine), floor)
            return Look(asked | sieve(read) | sieve(mine), floor, beside_rows,
                        frozenset(asked) if beside_rows is not None else frozenset())

    def rereads(self, county: str, stamp: int) -> bool:
        """Whether the next look at the county reads a row of that stamp again."""
        entry = self._counties.get(county)
        seen = entry.seen if entry else None
        return seen is None or stamp >= seen.xmax or stamp in seen.running

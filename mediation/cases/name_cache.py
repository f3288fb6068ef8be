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
the rows it kept, with their cases, in its own statement, and decides on what that reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from mediation.cases.models import Case, Petitioner


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


@dataclass
class CountyNames:
    """The names of one county's petitioners as of `seen` (None: not read yet)."""

    seen: Snapshot | None = None
    ids: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    normalised: list[str] = field(default_factory=list)
    pinyin: list[str] = field(default_factory=list)
    position: dict[int, int] = field(default_factory=dict)

    def put(self, pid: int, name: str, keys: Callable[[str], tuple[str, str]]) -> None:
        normalised, pinyin = keys(name)
        at = self.position.get(pid)
        if at is None:
            self.position[pid] = len(self.ids)
            self.ids.append(pid)
            self.names.append(name)
            self.normalised.append(normalised)
            self.pinyin.append(pinyin)
        else:
            self.names[at], self.normalised[at], self.pinyin[at] = name, normalised, pinyin


@dataclass(frozen=True)
class Look:
    """The county's names for one statement's snapshot (copies: the shared lists move on)."""

    ids: list[int]
    normalised: list[str]
    pinyin: list[str]


def _query(county: str, first: bool) -> sa.Select:
    """The look's statement: the snapshot, and the county's rows written since the last look.

    The first look reads the whole county, driven by its cases. Every later one finds the
    few rows written since on the petitioners' `change_xid` index first, in a fenced CTE,
    then keeps those of the county: a join the planner were free to drive from the
    county's cases (as it does when the statistics are stale, and always on a fresh
    database until it is analysed) would read every petitioner of the county at each
    intake."""
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
        changed = (sa.select(Petitioner.id, Petitioner.name, Petitioner.change_xid)
                   .join(Case, Case.id == Petitioner.case_id).where(in_county).subquery())
    else:
        recent = (sa.select(Petitioner.id, Petitioner.name, Petitioner.change_xid,
                            Petitioner.case_id)
                  .where(sa.or_(Petitioner.change_xid >= sa.bindparam("after"),
                                Petitioner.change_xid == sa.any_(
                                    sa.bindparam("pending", type_=ARRAY(sa.BigInteger)))))
                  .cte("recent").prefix_with("MATERIALIZED"))
        changed = (sa.select(recent.c.id, recent.c.name, recent.c.change_xid)
                   .join(Case, Case.id == recent.c.case_id).where(in_county).subquery())
    return (sa.select(horizon.c.xmin, horizon.c.xmax, horizon.c.xip, horizon.c.own,
                      changed.c.id, changed.c.name, changed.c.change_xid)
            .select_from(horizon.outerjoin(changed, sa.true())))


class NameCache:
    """One per app (its database); shared by its threads. Looks at a county take turns."""

    def __init__(self, keys: Callable[[str], tuple[str, str]]) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._counties: dict[str, CountyNames] = {}
        self._queries: dict[tuple[str, bool], sa.Select] = {}

    def look(self, conn: sa.Connection, county: str) -> Look | None:
        """The county's names as the snapshot of one statement on `conn` sees them (and
        possibly more, see the module's note); None when this snapshot is older than the
        copy."""
        with self._lock:
            entry = self._counties.get(county)
            if entry is None:
                entry = self._counties[county] = CountyNames()
            seen = entry.seen
            key = (county, seen is None)
            query = self._queries.get(key)
            if query is None:
                query = self._queries[key] = _query(county, seen is None)
            rows = conn.execute(query, {} if seen is None else {
                "after": seen.xmax, "pending": sorted(seen.running)}).all()
            first = rows[0]
            own = first.own
            snap = Snapshot(first.xmin, first.xmax,
                            frozenset(first.xip or ()) | ({own} if own is not None else set()))
            if entry.seen is not None and not snap.sees_all_of(entry.seen):
                return None
            mine: list[tuple[int, str]] = []
            for row in rows:
                if row.id is None:
                    continue
                if own is not None and row.change_xid == own:
                    mine.append((row.id, row.name))
                else:
                    entry.put(row.id, row.name, self._keys)
            entry.seen = snap
            extra = [self._keys(name) for _, name in mine]
            return Look(entry.ids + [pid for pid, _ in mine],
                        entry.normalised + [k[0] for k in extra],
                        entry.pinyin + [k[1] for k in extra])

    def rereads(self, county: str, stamp: int) -> bool:
        """Whether the next look at the county reads a row of that stamp again."""
        entry = self._counties.get(county)
        seen = entry.seen if entry else None
        return seen is None or stamp >= seen.xmax or stamp in seen.running

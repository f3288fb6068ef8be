"""The KPI rollup: "as of D" as a SUM over a small table instead of a scan of every case.

Each case's part in the KPIs (kpis.py module docstring) is a step function of the date D:
it joins the action on the day it was created, counts as resolved from the day its status
(or timeline) says so, and so on. `kpi_case_steps` holds each case's steps, derived from
the base tables by ONE SQL query (`_steps_sql`, the definitions of kpis.py evaluated on
each day where something of the case changes, differenced with LAG); `kpi_rollup` holds
their sums per (grain, day, dim, region_code, department):

- grain `d`: the steps of that day; grain `m`: the steps of the month starting on `day`,
  so "as of D" = the `m` rows of the months before D's month + the `d` rows of D's month
  up to D (a few hundred thousand rows at most, whatever the number of cases);
- dim `case`: each case once (department ''); dim `dept`: once per entry of its JSON list
  of departments, as the live query's unnest counts it.

Kept exact in the same transaction as every write that can change a case's part, through
the ORM session (installed on every `Session`): objects flushed (Case's status, dates,
assessment, flags, region, departments; survey answers; events) and statements executed
(UPDATE of those columns of `cases`; INSERT of the timeline event types that date a
resolution, reopening, cessation or resumption; INSERT into `survey_answers`) mark their
cases; before the commit each marked case is locked (`FOR NO KEY UPDATE` on PostgreSQL, SQLite has
one writer), its steps derived again, and the difference new − old appended to
`kpi_deltas` (insert-only: writers of the same county and day no longer queue on one
rollup row). `fold` (a periodic job) adds the deltas to `kpi_rollup` and deletes them in
one transaction; the reads sum `kpi_rollup` and the deltas not yet folded in one statement
(`rollup_rows`), so the figures are exact at every instant. Writes that bypass the
session (raw SQL, a bulk load) need `mediation reports rebuild`, which derives everything
again in SQL (as the migration does for existing rows).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column

from mediation import clock
from mediation.cases import events as case_events
from mediation.cases.models import Assessment, CaseFlag, Status
from mediation.extensions import db
from mediation.sessions import events as session_events

METRICS = ("cases", "resolved", "reasonable", "reasonable_resolved", "ceased", "answers", "satisfied")
RESOLVED_STATUSES = (Status.RESOLVED.value, Status.CLOSED.value)
RESOLVED_EVENTS = (case_events.CASE_RESOLVED.name, case_events.CASE_CLOSED.name)
REOPENED_EVENT = case_events.CASE_REOPENED.name
CEASED_EVENT, RESUMED_EVENT = session_events.PETITIONING_CEASED.name, session_events.PETITIONING_RESUMED.name
# A case merged into another leaves the action on the day of the merge: the survivor
# carries the matter, and one matter is one case in every denominator.
MERGED_EVENT = case_events.CASE_MERGED.name
TIMELINE_TYPES = (*RESOLVED_EVENTS, REOPENED_EVENT, CEASED_EVENT, RESUMED_EVENT, MERGED_EVENT)
CASE_COLUMNS = frozenset({"status", "status_changed_at", "created_at", "assessment", "flags",
                          "region_code", "departments", "action_listed_on", "action_reason",
                          "category_mask"})
SATISFIED_MIN_RATING = 4  # 4 满意 and 5 非常满意 out of 1..5
REASONABLE = Assessment.REASONABLE.value
CEASED_FLAG = CaseFlag.PETITIONING_CEASED.value
CASE_DIM, DEPT_DIM = "case", "dept"
# The same counts for the action's increment only (cases listed after
# MEDIATION_ACTION_BACKLOG_UNTIL): the backlog (存量) is case − increment.
NEW_CASE_DIM, NEW_DEPT_DIM = "newc", "newd"
DAY, MONTH = "d", "m"


class _Metrics:
    """The seven counts behind the KPIs (METRICS), as steps or as their sums."""

    cases: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)
    reasonable: Mapped[int] = mapped_column(default=0)
    reasonable_resolved: Mapped[int] = mapped_column(default=0)
    ceased: Mapped[int] = mapped_column(default=0)
    answers: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)


class KpiCaseStep(_Metrics, db.Model):
    """One case's change of its KPI counts on one day (+1/−1 per metric), with the region
    and departments it was counted under (to take it back from there when they change)."""

    __tablename__ = "kpi_case_steps"

    case_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(sa.String(6))
    departments: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Listed after the backlog cut-off (增量): its steps also count in the NEW_* dims.
    increment: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class KpiRollup(_Metrics, db.Model):
    """Sums of the steps per day (grain d) or month (grain m), region and department."""

    __tablename__ = "kpi_rollup"

    grain: Mapped[str] = mapped_column(sa.String(1), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    dim: Mapped[str] = mapped_column(sa.String(4), primary_key=True)
    region_code: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    department: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


class KpiDelta(_Metrics, db.Model):
    """A write's change to one rollup row, appended insert-only in the write's transaction
    (no hot row to lock); `fold` moves them into `kpi_rollup`, and reads add the ones not
    yet folded, so the figures are exact at every instant."""

    __tablename__ = "kpi_deltas"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    grain: Mapped[str] = mapped_column(sa.String(1))
    day: Mapped[dt.date] = mapped_column()
    dim: Mapped[str] = mapped_column(sa.String(4))
    region_code: Mapped[str] = mapped_column(sa.String(6))
    department: Mapped[str] = mapped_column(sa.String(64))


KEY_COLUMNS = ("grain", "day", "dim", "region_code", "department")


def rollup_rows() -> sa.Subquery:
    """`kpi_rollup` plus the deltas not yet folded, as one relation with its columns: read
    in one statement, it sees a fold either wholly done or not at all."""
    cols = (*KEY_COLUMNS, *METRICS)
    r, d = KpiRollup.__table__, KpiDelta.__table__
    return sa.union_all(sa.select(*(r.c[c] for c in cols)),
                        sa.select(*(d.c[c] for c in cols))).subquery("kpi_rows")


def _timeline_index() -> sa.Index:
    """The few event types that date a case's state, indexed by case: the derivation's
    EXISTS probes read this small index instead of every event of the case."""
    from mediation.timeline import Event

    where = Event.__table__.c.type.in_(TIMELINE_TYPES)
    return sa.Index("ix_events_kpi_dated", Event.__table__.c.case_id, Event.__table__.c.type,
                    Event.__table__.c.seq, Event.__table__.c.at, postgresql_where=where, sqlite_where=where)


TIMELINE_INDEX = _timeline_index()


# --- the derivation: each case's steps, in SQL --------------------------------------------

def _day(dialect: str, col: str) -> str:
    """The service's day of a timestamp (MEDIATION_TIMEZONE): `x < end_of(D)` ⟺ `day(x) <= D`.
    SQLite has no time zones: there it is the `local_date` function the app registers on
    each connection (mediation.clock.sqlite_local_date)."""
    zone = clock.zone_name().replace("'", "''")
    if dialect == "postgresql":
        return f"CAST(timezone('{zone}', {col}) AS DATE)"
    return f"local_date({col}, '{zone}')"


def backlog_until() -> dt.date:
    """The action's cut-off between backlog (存量) and increment (增量): the setting, or its
    default outside an app."""
    from flask import has_app_context

    from mediation.settings import DECLARED
    from mediation.settings import get as setting

    name = "MEDIATION_ACTION_BACKLOG_UNTIL"
    return setting(name) if has_app_context() else DECLARED[name].default


def counted_listing_sql(alias: str = "c") -> str:
    """SQL: the day a case joined the action, NULL when it is not counted. A case is in the
    action by an explicit decision (`action_listed_on`, the ledger's date); one with no
    category counts only when the officer gave a reason (`action_reason`)."""
    return (f"CASE WHEN {alias}.action_listed_on IS NOT NULL AND ({alias}.category_mask <> 0 "
            f"OR COALESCE({alias}.action_reason, '') <> '') THEN {alias}.action_listed_on END")


def _month(dialect: str, col: str) -> str:
    if dialect == "postgresql":
        return f"CAST(date_trunc('month', {col}) AS DATE)"
    return f"date({col}, 'start of month')"


def _q(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _steps_sql(dialect: str, where: str) -> str:
    """SELECT case_id, day, region_code, departments, <METRICS deltas> for the cases
    matching `where` (on `cases c`). Every candidate day of a case (created, last status
    change, each dated timeline event) gets the kpis.py definitions evaluated at its end;
    LAG turns the values into steps; survey answers step on the later of their day and
    the case's creation. Rows whose steps are all zero are left out.

    "A resolution/closure event by then with no reopening after it" is the same as "the
    last resolution/closure by then comes after the last reopening by then" (by seq), and
    likewise for cessation and resumption: so each candidate day needs only the maxima of
    the case's few dated events up to it (a join and GROUP BY, no correlated subquery)."""
    d = lambda col: _day(dialect, col)  # noqa: E731
    flags = "CAST(c.flags AS TEXT)"

    def last(types: tuple[str, ...]) -> str:
        return f"MAX(CASE WHEN v.type IN ({_q(types)}) THEN v.seq END)"

    return f"""
WITH cs AS (
  SELECT c.id, c.region_code, c.departments, c.status, {counted_listing_sql()} AS listed_day,
    (c.action_listed_on > '{backlog_until().isoformat()}') AS increment,
    {d('c.status_changed_at')} AS changed_day,
    CASE WHEN c.assessment = '{REASONABLE}' THEN 1 ELSE 0 END AS reasonable,
    CASE WHEN {flags} LIKE '%"{CEASED_FLAG}"%' THEN 1 ELSE 0 END AS flag_ceased
  FROM cases c WHERE ({where}) AND {counted_listing_sql()} IS NOT NULL
),
ev AS (
  SELECT e.case_id, e.seq, e.type, {d('e.at')} AS day
  FROM events e JOIN cases c ON c.id = e.case_id
  WHERE {where} AND e.type IN ({_q(TIMELINE_TYPES)})
),
dated AS (
  SELECT case_id FROM ev WHERE type IN ('{CEASED_EVENT}', '{RESUMED_EVENT}') GROUP BY case_id
),
cand AS (
  SELECT id AS case_id, listed_day AS day FROM cs
  UNION SELECT id, changed_day FROM cs
  UNION SELECT case_id, day FROM ev
),
hist AS (
  SELECT k.case_id, k.day,
    {last(RESOLVED_EVENTS)} AS done_seq, {last((REOPENED_EVENT,))} AS reopen_seq,
    {last((CEASED_EVENT,))} AS ceased_seq, {last((RESUMED_EVENT,))} AS resumed_seq,
    {last((MERGED_EVENT,))} AS merged_seq
  FROM cand k LEFT JOIN ev v ON v.case_id = k.case_id AND v.day <= k.day
  GROUP BY k.case_id, k.day
),
val AS (
  SELECT h.case_id, h.day, c.reasonable,
    CASE WHEN c.listed_day <= h.day AND h.merged_seq IS NULL THEN 1 ELSE 0 END AS in_action,
    CASE WHEN c.listed_day > h.day OR h.merged_seq IS NOT NULL THEN 0
         WHEN c.changed_day <= h.day THEN
           CASE WHEN c.status IN ({_q(RESOLVED_STATUSES)}) THEN 1 ELSE 0 END
         WHEN h.done_seq > COALESCE(h.reopen_seq, 0) THEN 1 ELSE 0 END AS resolved,
    CASE WHEN c.listed_day > h.day OR h.merged_seq IS NOT NULL THEN 0
         WHEN dated.case_id IS NULL THEN c.flag_ceased
         WHEN h.ceased_seq > COALESCE(h.resumed_seq, 0) THEN 1 ELSE 0 END AS ceased
  FROM hist h JOIN cs c ON c.id = h.case_id LEFT JOIN dated ON dated.case_id = h.case_id
),
stepped AS (
  SELECT case_id, day,
    in_action - LAG(in_action, 1, 0) OVER w AS cases,
    resolved - LAG(resolved, 1, 0) OVER w AS resolved,
    in_action * reasonable - LAG(in_action * reasonable, 1, 0) OVER w AS reasonable,
    resolved * reasonable - LAG(resolved * reasonable, 1, 0) OVER w AS reasonable_resolved,
    ceased - LAG(ceased, 1, 0) OVER w AS ceased,
    0 AS answers, 0 AS satisfied
  FROM val WINDOW w AS (PARTITION BY case_id ORDER BY day)
),
answered AS (
  SELECT a.case_id,
    CASE WHEN {d('a.answered_at')} > c.listed_day THEN {d('a.answered_at')} ELSE c.listed_day END AS day,
    0 AS cases, 0 AS resolved, 0 AS reasonable, 0 AS reasonable_resolved, 0 AS ceased,
    1 AS answers, CASE WHEN a.rating >= {SATISFIED_MIN_RATING} THEN 1 ELSE 0 END AS satisfied
  FROM survey_answers a JOIN cs c ON c.id = a.case_id
),
summed AS (
  SELECT case_id, day, {", ".join(f"SUM({m}) AS {m}" for m in METRICS)}
  FROM (SELECT * FROM stepped UNION ALL SELECT * FROM answered) u
  GROUP BY case_id, day
)
SELECT s.case_id, s.day, c.region_code, c.departments, c.increment,
  {", ".join(f"s.{m}" for m in METRICS)}
FROM summed s JOIN cs c ON c.id = s.case_id
WHERE {" OR ".join(f"s.{m} <> 0" for m in METRICS)}
"""


# --- bulk: everything again (CLI, migration, bench) ----------------------------------------

def _dept_from(dialect: str) -> str:
    if dialect == "postgresql":
        return "json_array_elements_text(s.departments) AS dept(value)"
    return "json_each(s.departments) AS dept"


def rebuild(conn: sa.Connection, chunk: int = 1_000_000) -> dict[str, int]:
    """Derive every case's steps and the rollup from the base tables, in SQL, in the
    caller's transaction. Readers of the old rollup wait for the commit on PostgreSQL
    (the tables are locked), so no report ever sees it half built."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(sa.text("LOCK TABLE kpi_case_steps, kpi_rollup, kpi_deltas IN ACCESS EXCLUSIVE MODE"))
        conn.execute(sa.text("SET LOCAL jit = off"))
    conn.execute(sa.text("DELETE FROM kpi_deltas"))
    conn.execute(sa.text("DELETE FROM kpi_rollup"))
    conn.execute(sa.text("DELETE FROM kpi_case_steps"))
    cols = ", ".join(METRICS)
    top = conn.execute(sa.text("SELECT max(id) FROM cases")).scalar() or 0
    for lo in range(0, top + 1, chunk):  # chunks of case ids: bounded memory per statement
        conn.execute(sa.text(
            f"INSERT INTO kpi_case_steps (case_id, day, region_code, departments, increment, {cols}) "
            + _steps_sql(dialect, "c.id >= :lo AND c.id < :hi")), {"lo": lo, "hi": lo + chunk})
    sums = ", ".join(f"SUM(s.{m})" for m in METRICS)
    conn.execute(sa.text(f"""
        INSERT INTO kpi_rollup (grain, day, dim, region_code, department, {cols})
        SELECT '{DAY}', s.day, '{CASE_DIM}', s.region_code, '', {sums}
        FROM kpi_case_steps s GROUP BY s.day, s.region_code
        UNION ALL
        SELECT '{DAY}', s.day, '{DEPT_DIM}', s.region_code, dept.value, {sums}
        FROM kpi_case_steps s, {_dept_from(dialect)} GROUP BY s.day, s.region_code, dept.value
        UNION ALL
        SELECT '{DAY}', s.day, '{NEW_CASE_DIM}', s.region_code, '', {sums}
        FROM kpi_case_steps s WHERE s.increment GROUP BY s.day, s.region_code
        UNION ALL
        SELECT '{DAY}', s.day, '{NEW_DEPT_DIM}', s.region_code, dept.value, {sums}
        FROM kpi_case_steps s, {_dept_from(dialect)} WHERE s.increment
        GROUP BY s.day, s.region_code, dept.value"""))
    msums = ", ".join(f"SUM({m})" for m in METRICS)
    conn.execute(sa.text(f"""
        INSERT INTO kpi_rollup (grain, day, dim, region_code, department, {cols})
        SELECT '{MONTH}', {_month(dialect, 'day')}, dim, region_code, department, {msums}
        FROM kpi_rollup WHERE grain = '{DAY}'
        GROUP BY {_month(dialect, 'day')}, dim, region_code, department"""))
    steps = conn.execute(sa.text("SELECT count(*) FROM kpi_case_steps")).scalar_one()
    rows = conn.execute(sa.text("SELECT count(*) FROM kpi_rollup")).scalar_one()
    if dialect == "postgresql":
        conn.execute(sa.text("ANALYZE kpi_case_steps"))
        conn.execute(sa.text("ANALYZE kpi_rollup"))
    return {"steps": int(steps), "rollup_rows": int(rows)}


# --- the fold: deltas into the rollup, in the background -----------------------------------

FOLD_LOCK = 0x6B70695F666F6C64  # "kpi_fold": one folder at a time (pg_advisory_xact_lock)


def fold(conn: sa.Connection, batch: int = 50_000) -> int:
    """Move up to `batch` deltas into `kpi_rollup`, in the caller's transaction; returns
    how many. The deltas are deleted in the same transaction as they are added, so a
    crash before the commit leaves them to the next fold (the reads still count them)
    and a second fold finds nothing to add twice."""
    cols = ", ".join(METRICS)
    keys = ", ".join(KEY_COLUMNS)
    sums = ", ".join(f"SUM({m})" for m in METRICS)
    add = ", ".join(f"{m} = kpi_rollup.{m} + excluded.{m}" for m in METRICS)
    if conn.dialect.name == "postgresql":
        if not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": FOLD_LOCK}).scalar():
            return 0  # another process is folding
        # One statement, one snapshot: exactly the rows it deletes are the rows it adds (a
        # writer committing meanwhile leaves its rows to the next fold).
        return conn.execute(sa.text(f"""
            WITH gone AS (
              DELETE FROM kpi_deltas WHERE id IN (SELECT id FROM kpi_deltas ORDER BY id LIMIT :n)
              RETURNING {keys}, {cols}
            ), added AS (
              INSERT INTO kpi_rollup ({keys}, {cols})
              SELECT {keys}, {sums} FROM gone GROUP BY {keys} ORDER BY {keys}
              ON CONFLICT ({keys}) DO UPDATE SET {add}
              RETURNING 1
            )
            SELECT (SELECT count(*) FROM gone)"""), {"n": batch}).scalar_one()
    # SQLite has one writer: the rows up to the highest id read are the rows folded.
    top = conn.execute(sa.text("SELECT max(id) FROM (SELECT id FROM kpi_deltas ORDER BY id LIMIT :n)"),
                       {"n": batch}).scalar()
    if top is None:
        return 0
    conn.execute(sa.text(f"""
        INSERT INTO kpi_rollup ({keys}, {cols})
        SELECT {keys}, {sums} FROM kpi_deltas WHERE id <= :top GROUP BY {keys}
        ON CONFLICT ({keys}) DO UPDATE SET {add}"""), {"top": top})
    return conn.execute(sa.text("DELETE FROM kpi_deltas WHERE id <= :top"), {"top": top}).rowcount


def fold_pending() -> int:
    """The periodic job (embedded loop and beat): fold every pending delta, batch by batch,
    each batch its own transaction."""
    total = 0
    while True:
        with db.engine.begin() as conn:
            done = fold(conn)
        total += done
        if done == 0:
            return total


FOLD_TASK = "supervision.fold_kpi_deltas"


# --- incremental: the cases a transaction touched ------------------------------------------

def _as_list(value: Any) -> list:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _keys(day: dt.date, region: str, departments: list,
          increment: bool = False) -> list[tuple[str, dt.date, str, str, str]]:
    out = []
    dims = ((CASE_DIM, DEPT_DIM), (NEW_CASE_DIM, NEW_DEPT_DIM)) if increment else ((CASE_DIM, DEPT_DIM),)
    for grain, when in ((DAY, day), (MONTH, day.replace(day=1))):
        for case_dim, dept_dim in dims:
            out.append((grain, when, case_dim, region, ""))
            out += [(grain, when, dept_dim, region, str(dept)) for dept in departments]
    return out


def refresh(session: Session, case_ids: Iterable[int]) -> int:
    """Derive the cases' steps again and append (new − old) to the deltas, in the session's
    transaction. Returns the number of rollup rows changed."""
    ids = sorted({int(i) for i in case_ids})
    born = session.info.get(_BORN, set())
    # A case inserted by this transaction has no steps yet and no other transaction can see
    # it: nothing to lock, read or delete; and one not counted in the action has none to add.
    ids = [i for i in ids if i not in born or not _surely_uncounted(session, i)]
    if not ids:
        return 0
    conn = session.connection()
    dialect = conn.dialect.name
    param = sa.bindparam("ids", expanding=True)
    stored = [i for i in ids if i not in born]  # the cases that may have steps stored
    old: list = []
    if stored:
        if dialect == "postgresql":  # one refresher of a case at a time; the later one reads
            # the earlier's committed steps (READ COMMITTED: each statement sees the latest
            # commits). NO KEY UPDATE, the lock an UPDATE of the row takes: FOR UPDATE would
            # also wait for the KEY SHARE locks of foreign-key checks (a survey answer or an
            # event being inserted for the case), which wait for us in turn: a deadlock.
            conn.execute(sa.text("SELECT id FROM cases WHERE id IN :ids ORDER BY id FOR NO KEY UPDATE")
                         .bindparams(param), {"ids": stored})
        cols = ("case_id", "day", "region_code", "departments", "increment", *METRICS)
        old = conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM kpi_case_steps WHERE case_id IN :ids")
                           .bindparams(param), {"ids": stored}).all()
    return _apply(conn, old, _derive(conn, dialect, ids), stored)


def _derive(conn: sa.Connection, dialect: str, ids: list[int]) -> list:
    """The cases' steps as the definitions give them now (one statement)."""
    return conn.execute(sa.text(_steps_sql(dialect, "c.id IN :ids"))
                        .bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids}).all()


def _apply(conn: sa.Connection, old: list, new: list, stored: list[int]) -> int:
    """Append (new − old) to the deltas and replace the steps stored for `stored` (the
    cases whose old steps were read) and the new cases by `new`."""
    delta: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(METRICS))
    for rows, sign in ((old, -1), (new, 1)):
        for r in rows:
            for key in _keys(_as_date(r.day), r.region_code, _as_list(r.departments), bool(r.increment)):
                acc = delta[key]
                for i, m in enumerate(METRICS):
                    acc[i] += sign * int(getattr(r, m))
    changes = [{"grain": k[0], "day": k[1], "dim": k[2], "region_code": k[3], "department": k[4],
                **dict(zip(METRICS, v, strict=True))} for k, v in sorted(delta.items()) if any(v)]
    if changes:  # appended, never updated: writers of one county and day do not queue
        conn.execute(KpiDelta.__table__.insert(), changes)
    if stored:
        conn.execute(sa.text("DELETE FROM kpi_case_steps WHERE case_id IN :ids")
                     .bindparams(sa.bindparam("ids", expanding=True)), {"ids": stored})
    if new:
        conn.execute(KpiCaseStep.__table__.insert(), [
            {"case_id": r.case_id, "day": _as_date(r.day), "region_code": r.region_code,
             "departments": _as_list(r.departments), "increment": bool(r.increment),
             **{m: int(getattr(r, m)) for m in METRICS}}
            for r in new])
    return len(changes)


# --- the session hooks ---------------------------------------------------------------------

_DIRTY = "kpi_rollup_dirty"
_BORN = "kpi_rollup_born"  # cases inserted by the transaction
_RAW = "kpi_rollup_raw"  # cases an UPDATE statement changed (their objects may not show it)


def _surely_uncounted(session: Session, case_id: int) -> bool:
    """True when the case, inserted by this transaction, is certainly not counted in the
    action (counted_listing_sql is NULL), by its object in the session: no steps at all.
    False when unsure (no loaded object, or a statement changed the row behind it)."""
    from mediation.cases.models import Case

    if case_id in session.info.get(_RAW, ()):
        return False
    case = session.identity_map.get(sa.inspect(Case).identity_key_from_primary_key((case_id,)))
    if case is None or "action_listed_on" in sa.inspect(case).unloaded:
        return False
    return case.action_listed_on is None


def inserted(session: Session, case_ids: list[int]) -> None:
    """Say that these cases were inserted by the session's transaction (by its flush, or by
    a statement of its own): their KPI parts are new."""
    if case_ids:
        session.info.setdefault(_BORN, set()).update(case_ids)
        mark(session, case_ids)


def mark(session: Session, case_ids: Iterable[int | None]) -> None:
    """Say that these cases' KPI parts may have changed in the session's transaction."""
    ids = {int(i) for i in case_ids if i is not None}
    if ids:
        session.info.setdefault(_DIRTY, set()).update(ids)


def _names(stmt) -> set[str] | None:
    values = getattr(stmt, "_values", None) or dict(getattr(stmt, "_ordered_values", None) or ())
    if not values:
        return None
    return {getattr(k, "key", None) or getattr(k, "name", None) or str(k) for k in values}


def _params(state) -> list[dict]:
    p = state.parameters
    if isinstance(p, dict):
        return [p]
    return list(p or [])


def _on_execute(state) -> None:
    """Statements executed through the session: which cases do they touch?"""
    if not (state.is_update or state.is_insert):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table == "cases" and state.is_update:
        names = _names(state.statement)
        if names is None:
            names = {k for p in _params(state) for k in p}
        if names & CASE_COLUMNS:
            from mediation.cases.models import Case

            where = state.statement.whereclause
            q = sa.select(Case.id)
            ids = list(state.session.execute(q.where(where) if where is not None else q).scalars())
            state.session.info.setdefault(_RAW, set()).update(ids)
            mark(state.session, ids)
    elif table == "survey_answers" and state.is_insert:
        rows = _params(state) + [_values_dict(state.statement)]
        mark(state.session, [r.get("case_id") for r in rows])


def on_append(session: Session, events: list) -> None:
    """The timeline's append hook: events that date a case's state change its steps (the
    timeline writes events with Core statements that no statement hook inspects)."""
    mark(session, [e.case_id for e in events if e.type in TIMELINE_TYPES])


def _values_dict(stmt) -> dict:
    out = {}
    for k, v in (getattr(stmt, "_values", None) or {}).items():
        name = getattr(k, "key", None) or str(k)
        out[name] = getattr(v, "value", None)
    return out


def _after_flush(session: Session, _ctx) -> None:
    from mediation.cases.models import Case
    from mediation.supervision.models import SurveyAnswer
    from mediation.timeline import Event

    ids: list[int | None] = []
    inserted(session, [obj.id for obj in session.new if isinstance(obj, Case)])
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, Case):
            ids.append(obj.id)
        elif isinstance(obj, SurveyAnswer) or (isinstance(obj, Event) and obj.type in TIMELINE_TYPES):
            ids.append(obj.case_id)
    for obj in session.dirty:
        if isinstance(obj, Case):
            attrs = sa.inspect(obj).attrs
            if any(attrs[name].history.has_changes() for name in CASE_COLUMNS):
                ids.append(obj.id)
        elif isinstance(obj, SurveyAnswer | Event):
            ids.append(obj.case_id)
    mark(session, ids)


def _before_commit(session: Session) -> None:
    session.flush()  # the final flush comes after this hook: its changes must count too
    ids = session.info.pop(_DIRTY, None)
    if ids:
        refresh(session, ids)
    _forget(session)


def _forget(session: Session, *_args) -> None:
    for key in (_DIRTY, _BORN, _RAW):
        session.info.pop(key, None)


def install(target: Any = Session) -> None:
    """Keep the rollup in step with writes through every ORM session (once)."""
    if getattr(install, "_done", False):
        return
    sa_event.listen(target, "do_orm_execute", _on_execute)
    sa_event.listen(target, "after_flush", _after_flush)
    sa_event.listen(target, "before_commit", _before_commit)
    sa_event.listen(target, "after_rollback", _forget)
    install._done = True  # type: ignore[attr-defined]


install()

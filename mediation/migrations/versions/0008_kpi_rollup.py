"""kpi rollup: each case's KPI steps and their sums per day, month, region and department,
an index on the events that date a case's state, and the rollup built for existing rows

Revision ID: 0008_kpi_rollup
Revises: 0007_reminders
Create Date: 2026-11-29 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from collections.abc import Iterable


# revision identifiers, used by Alembic.
revision = '0008_kpi_rollup'
down_revision = '0007_reminders'
branch_labels = None
depends_on = None

METRICS = ("cases", "resolved", "reasonable", "reasonable_resolved", "ceased", "answers", "satisfied")
# The derivation as it was when this revision was written (mediation/supervision/rollup.py),
# frozen here: a migration must not import live application code, which moves on.
RESOLVED_STATUSES = ("resolved", "closed")
RESOLVED_EVENTS = ("case.resolved", "case.closed")
REOPENED_EVENT = "case.reopened"
CEASED_EVENT, RESUMED_EVENT = "case.petitioning_ceased", "case.petitioning_resumed"
TIMELINE_TYPES = (*RESOLVED_EVENTS, REOPENED_EVENT, CEASED_EVENT, RESUMED_EVENT)
SATISFIED_MIN_RATING = 4
REASONABLE = "reasonable"
CEASED_FLAG = "petitioning_ceased"
CASE_DIM, DEPT_DIM = "case", "dept"
DAY, MONTH = "d", "m"


def _metrics():
    return [sa.Column(m, sa.Integer(), nullable=False) for m in METRICS]


def _day(dialect: str, col: str) -> str:
    """The UTC calendar day of a timestamp: `x < end_of(D)` ⟺ `day(x) <= D`."""
    if dialect == "postgresql":
        return f"CAST(timezone('UTC', {col}) AS DATE)"
    return f"date({col})"


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
  SELECT c.id, c.region_code, c.departments, c.status, {d('c.created_at')} AS created_day,
    {d('c.status_changed_at')} AS changed_day,
    CASE WHEN c.assessment = '{REASONABLE}' THEN 1 ELSE 0 END AS reasonable,
    CASE WHEN {flags} LIKE '%"{CEASED_FLAG}"%' THEN 1 ELSE 0 END AS flag_ceased
  FROM cases c WHERE {where}
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
  SELECT id AS case_id, created_day AS day FROM cs
  UNION SELECT id, changed_day FROM cs
  UNION SELECT case_id, day FROM ev
),
hist AS (
  SELECT k.case_id, k.day,
    {last(RESOLVED_EVENTS)} AS done_seq, {last((REOPENED_EVENT,))} AS reopen_seq,
    {last((CEASED_EVENT,))} AS ceased_seq, {last((RESUMED_EVENT,))} AS resumed_seq
  FROM cand k LEFT JOIN ev v ON v.case_id = k.case_id AND v.day <= k.day
  GROUP BY k.case_id, k.day
),
val AS (
  SELECT h.case_id, h.day, c.reasonable,
    CASE WHEN c.created_day <= h.day THEN 1 ELSE 0 END AS in_action,
    CASE WHEN c.created_day > h.day THEN 0
         WHEN c.changed_day <= h.day THEN
           CASE WHEN c.status IN ({_q(RESOLVED_STATUSES)}) THEN 1 ELSE 0 END
         WHEN h.done_seq > COALESCE(h.reopen_seq, 0) THEN 1 ELSE 0 END AS resolved,
    CASE WHEN c.created_day > h.day THEN 0
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
    CASE WHEN {d('a.answered_at')} > c.created_day THEN {d('a.answered_at')} ELSE c.created_day END AS day,
    0 AS cases, 0 AS resolved, 0 AS reasonable, 0 AS reasonable_resolved, 0 AS ceased,
    1 AS answers, CASE WHEN a.rating >= {SATISFIED_MIN_RATING} THEN 1 ELSE 0 END AS satisfied
  FROM survey_answers a JOIN cs c ON c.id = a.case_id
),
summed AS (
  SELECT case_id, day, {", ".join(f"SUM({m}) AS {m}" for m in METRICS)}
  FROM (SELECT * FROM stepped UNION ALL SELECT * FROM answered) u
  GROUP BY case_id, day
)
SELECT s.case_id, s.day, c.region_code, c.departments, {", ".join(f"s.{m}" for m in METRICS)}
FROM summed s JOIN cs c ON c.id = s.case_id
WHERE {" OR ".join(f"s.{m} <> 0" for m in METRICS)}
"""


def _dept_from(dialect: str) -> str:
    if dialect == "postgresql":
        return "json_array_elements_text(s.departments) AS dept(value)"
    return "json_each(s.departments) AS dept"


def _rebuild(conn, chunk=1_000_000):
    """Derive every case's steps and the rollup from the base tables, in SQL, in the
    caller's transaction. Readers of the old rollup wait for the commit on PostgreSQL
    (the tables are locked), so no report ever sees it half built."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(sa.text("LOCK TABLE kpi_case_steps, kpi_rollup IN ACCESS EXCLUSIVE MODE"))
        conn.execute(sa.text("SET LOCAL jit = off"))
    conn.execute(sa.text("DELETE FROM kpi_rollup"))
    conn.execute(sa.text("DELETE FROM kpi_case_steps"))
    cols = ", ".join(METRICS)
    top = conn.execute(sa.text("SELECT max(id) FROM cases")).scalar() or 0
    for lo in range(0, top + 1, chunk):  # chunks of case ids: bounded memory per statement
        conn.execute(sa.text(
            f"INSERT INTO kpi_case_steps (case_id, day, region_code, departments, {cols}) "
            + _steps_sql(dialect, "c.id >= :lo AND c.id < :hi")), {"lo": lo, "hi": lo + chunk})
    sums = ", ".join(f"SUM(s.{m})" for m in METRICS)
    conn.execute(sa.text(f"""
        INSERT INTO kpi_rollup (grain, day, dim, region_code, department, {cols})
        SELECT '{DAY}', s.day, '{CASE_DIM}', s.region_code, '', {sums}
        FROM kpi_case_steps s GROUP BY s.day, s.region_code
        UNION ALL
        SELECT '{DAY}', s.day, '{DEPT_DIM}', s.region_code, dept.value, {sums}
        FROM kpi_case_steps s, {_dept_from(dialect)} GROUP BY s.day, s.region_code, dept.value"""))
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


def upgrade():
    op.create_table('kpi_case_steps',
    sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    *_metrics(),
    sa.PrimaryKeyConstraint('case_id', 'day', name=op.f('pk_kpi_case_steps'))
    )
    op.create_table('kpi_rollup',
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('dim', sa.String(length=4), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    *_metrics(),
    sa.PrimaryKeyConstraint('grain', 'day', 'dim', 'region_code', 'department', name=op.f('pk_kpi_rollup'))
    )
    where = sa.column('type').in_(TIMELINE_TYPES)
    op.create_index('ix_events_kpi_dated', 'events', ['case_id', 'type', 'seq', 'at'], unique=False,
                    postgresql_where=where, sqlite_where=where)
    # Existing rows: the same SQL derivation as `mediation reports rebuild` (at this revision).
    _rebuild(op.get_bind())


def downgrade():
    op.drop_index('ix_events_kpi_dated', table_name='events')
    op.drop_table('kpi_rollup')
    op.drop_table('kpi_case_steps')

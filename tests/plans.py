"""What a hot statement reads on PostgreSQL, whatever plan the server makes of it.

This machine's PostgreSQL runs without autovacuum, so its tables never get statistics, and
psycopg prepares a statement after a few executions, after which the server may keep a
generic plan (made without the parameters' values). A statement on a hot path must take
its indexes either way: the tests of such statements run them under `forced_plan`, on a
table of some 20,000 rows, and compare the reads it reports with what the statement needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Sequential scans and rows fetched by index, per table (its name first).
TABLE_READS = ("SELECT relname, seq_scan, coalesce(idx_tup_fetch, 0) "
               "FROM pg_stat_xact_user_tables WHERE relname = ANY(%(tables)s)")


@contextmanager
def forced_plan(plan: str, tables: tuple[str, ...] = (), counts: str = TABLE_READS
                ) -> Iterator[dict[str, tuple[int, ...]]]:
    """In the session's transaction: every statement planned as `plan` ("force_custom_plan"
    or "force_generic_plan"), prepared at its first execution, no plan kept from before
    (made while the tables were small). Yields a dict that, on leaving, holds what the
    statements inside read: each row of `counts` (a name, then numbers; by default each of
    `tables`' sequential scans and rows fetched by index) as the difference around the block
    (PostgreSQL 15 may still hold a backend's unflushed counts of earlier transactions).
    Rolls the transaction back."""
    from mediation.extensions import db

    conn = db.session.connection()
    conn.exec_driver_sql(f"SET LOCAL plan_cache_mode = {plan}")
    conn.exec_driver_sql("DISCARD PLANS")
    raw = conn.connection.driver_connection
    threshold, raw.prepare_threshold = raw.prepare_threshold, 0

    def read() -> dict[str, tuple[int, ...]]:
        return {row[0]: tuple(row[1:]) for row in
                conn.exec_driver_sql(counts, {"tables": list(tables)})}

    reads: dict[str, tuple[int, ...]] = {}
    try:
        before = read()
        yield reads
        after = read()
    finally:
        raw.prepare_threshold = threshold
        db.session.rollback()
    for name, numbers in after.items():
        was = before.get(name, (0,) * len(numbers))
        reads[name] = tuple(n - w for n, w in zip(numbers, was, strict=True))


def copy_events(conn, case_id: int, times: int) -> None:
    """`times` more copies of a case's events on `conn` (each copy's seqs above the last: the
    case's events must number fewer than 10), for a timeline of many rows without the cost of
    appending them one by one. Their chain is not a chain: for plans, not for verification."""
    from sqlalchemy import text

    conn.execute(text(
        "INSERT INTO events (case_id, seq, type, actor_id, at, data, prev_hash, hash) "
        "SELECT case_id, seq + 10 * g, type, actor_id, at, data, prev_hash, hash "
        "FROM events, generate_series(1, :times) g WHERE case_id = :c"), {"c": case_id, "times": times})

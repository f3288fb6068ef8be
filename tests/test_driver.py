"""Statements run on the driver's cursor (mediation.driver): the same rows as SQLAlchemy's
execution gives, SQLAlchemy's exceptions for the driver's errors, and SQLAlchemy's path
itself while anyone listens to the statements."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres


def _matches_both_ways(conn: sa.Connection, params: dict) -> tuple[list, list]:
    from mediation import driver
    from mediation.cases import petitions

    prepared = petitions._matches_prepared(conn.dialect)
    raw = driver.rows(conn, prepared, params, named=True)
    via_sa = conn.execute(prepared.statement, params).all()
    return raw, via_sa


def test_the_driver_gives_the_rows_sqlalchemy_gives(pg):
    from mediation import driver
    from mediation.cases import name_cache, petitions
    from mediation.extensions import db
    from mediation.pii import cipher
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    case = make_case(officer, departments=["区住建局"], livelihood_fields=["education"],
                     petitioners=[{"name": "王建国", "id_number": "510104198001011234",
                                   "phone": "13900000001"}, {"name": "赵四"}])
    db.session.commit()
    conn = db.session.connection()
    c = cipher()
    ids = [p.id for p in case.petitioners]
    for params in ({"id_number": c.blind_indexes("id_number", "510104198001011234"), "phone": [],
                    "ids": []},
                   {"id_number": [], "phone": c.blind_indexes("phone", "13900000001"), "ids": ids},
                   {"id_number": [], "phone": [], "ids": ids[:1]}):
        raw, via_sa = _matches_both_ways(conn, params)
        assert raw and not isinstance(raw[0], sa.Row)  # the driver's rows
        assert [tuple(r) for r in raw] == [tuple(r) for r in via_sa]
        assert [r._fields for r in raw[:1]] == [tuple(r._fields) for r in via_sa[:1]]
    raw, _ = _matches_both_ways(conn, {"id_number": [], "phone": [], "ids": ids})
    assert [(r.name, r.departments, r.livelihood_fields) for r in raw] == [
        ("王建国", ["区住建局"], ["education"]), ("赵四", ["区住建局"], ["education"])]

    for first in (True, False):  # the name copy's look, either form
        prepared = driver.Prepared(name_cache._query("510104", first), conn.dialect)
        params = {} if first else {"after": 1, "pending": [2, 3]}
        raw = driver.rows(conn, prepared, params)
        assert not isinstance(raw[0], sa.Row)
        via_sa = conn.execute(prepared.statement, params).all()
        assert [tuple(r)[4:] for r in raw] == [tuple(r)[4:] for r in via_sa]
        assert {r[4] for r in raw} == set(ids)
        # the snapshot (other transactions of the cluster may finish between the two)
        assert all(isinstance(v, int) for v in raw[0][:2]) and raw[0][1] <= via_sa[0][1]
        assert isinstance(raw[0][2], list) and raw[0][3] is None
    # the look with the matches read beside it (one UNION ALL: the matches' rows after)
    beside = petitions._matches_beside(conn.dialect.name)
    prepared = driver.Prepared(name_cache._query("510104", False, beside), conn.dialect)
    params = {"after": 1, "pending": [2, 3], "id_number": [], "phone": [], "ids": ids}
    raw = driver.rows(conn, prepared, params)
    via_sa = conn.execute(prepared.statement, params).all()
    width = name_cache._LOOK_COLUMNS
    assert sorted(tuple(r)[width:] for r in raw if r[0] is None) == sorted(
        tuple(r)[width:] for r in via_sa if r[0] is None) == [
        tuple(r) for r in _matches_both_ways(conn, {"id_number": [], "phone": [], "ids": ids})[0]]
    assert {r[4] for r in raw if r[0] is not None} == set(ids)
    db.session.rollback()


def test_a_driver_error_is_sqlalchemys_and_the_transaction_fails_as_it_would(pg):
    from mediation import driver
    from mediation.extensions import db

    conn = db.session.connection()
    prepared = driver.Prepared(sa.select(sa.cast(sa.bindparam("v", type_=sa.String), sa.Integer)),
                               conn.dialect)
    assert [tuple(r) for r in driver.rows(conn, prepared, {"v": "7"})] == [(7,)]
    with pytest.raises(sa.exc.DataError) as caught:  # wrapped, as Connection.execute does
        driver.rows(conn, prepared, {"v": "seven"})
    assert "seven" in str(caught.value.orig) or caught.value.statement == prepared.sql
    with pytest.raises(sa.exc.InternalError):  # the transaction is aborted, as it would be
        conn.execute(sa.select(1))
    db.session.rollback()
    assert db.session.execute(sa.select(1)).scalar_one() == 1


def test_a_driver_connection_keeps_its_cursors_and_a_new_one_gets_its_own(pg):
    """driver._cursor: one cursor per driver connection and kind of row, reused by every
    statement; made again once closed (SQLAlchemy closes it on an error) and for the driver
    connection a reconnected pool record holds."""
    from mediation import driver
    from mediation.extensions import db

    conn = db.session.connection()
    prepared = driver.Prepared(sa.select(sa.cast(sa.bindparam("v", type_=sa.String), sa.Integer)
                                         .label("n")), conn.dialect)
    tuples, named = driver._cursor(conn, False), driver._cursor(conn, True)
    for v in ("1", "2"):
        assert driver.rows(conn, prepared, {"v": v}) == [(int(v),)]
        assert [r.n for r in driver.rows(conn, prepared, {"v": v}, named=True)] == [int(v)]
        assert driver.sql_rows(conn, "SELECT %s::int + 1", (int(v),)) == [(int(v) + 1,)]
    assert driver._cursor(conn, False) is tuples and driver._cursor(conn, True) is named
    assert tuples is not named
    with pytest.raises(sa.exc.DataError):
        driver.rows(conn, prepared, {"v": "seven"})
    db.session.rollback()
    conn = db.session.connection()
    assert driver.rows(conn, prepared, {"v": "3"}) == [(3,)]
    if tuples.closed:  # closed by SQLAlchemy's handling of the error: made again
        assert driver._cursor(conn, False) is not tuples
    raw = conn.connection.driver_connection
    conn.invalidate()
    db.session.rollback()
    conn = db.session.connection()
    assert conn.connection.driver_connection is not raw
    assert driver._cursor(conn, False).connection is conn.connection.driver_connection
    assert driver.rows(conn, prepared, {"v": "4"}) == [(4,)]
    db.session.rollback()


def test_listeners_see_the_statement(pg):
    """While anyone listens to the engine's statements, they go through SQLAlchemy."""
    from mediation import driver
    from mediation.extensions import db

    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    conn = db.session.connection()
    prepared = driver.Prepared(sa.select(sa.literal_column("41") + sa.bindparam("v", type_=sa.Integer)),
                               conn.dialect)
    assert [tuple(r) for r in driver.rows(conn, prepared, {"v": 1})] == [(42,)]
    assert seen == []
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert [tuple(r) for r in driver.rows(conn, prepared, {"v": 2})] == [(43,)]
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert seen == [prepared.sql]
    # none listens any more (the engine's flag stays set): the driver's path again
    again = driver.rows(conn, prepared, {"v": 3})
    assert [tuple(r) for r in again] == [(44,)] and not isinstance(again[0], sa.Row)
    assert seen == [prepared.sql]
    db.session.rollback()


def test_a_statement_is_compiled_once_per_dialect_and_driver(pg):
    from mediation import driver
    from mediation.extensions import db
    from mediation.timeline import _TAKE

    first = driver.prepared(_TAKE, db.engine.dialect)
    assert driver.prepared(_TAKE, db.engine.dialect) is first
    assert first.sql == _TAKE.compile(dialect=db.engine.dialect).string
    other = sa.select(sa.literal(1))
    assert driver.prepared(other, db.engine.dialect) is not first


def test_plain_sql_on_the_driver_gives_what_exec_driver_sql_gives(pg):
    """driver.sql_rows (the events' statement at every write): the same tuples as
    exec_driver_sql, SQLAlchemy's exception for a constraint (the intake reads its name),
    and the transaction aborted as it would be."""
    from mediation import driver
    from mediation.extensions import db

    conn = db.session.connection()
    sql = "SELECT %s::int + 1, %s::text, ARRAY[%s::int]"
    raw = driver.sql_rows(conn, sql, (41, "七", 3))
    assert raw == [tuple(r) for r in conn.exec_driver_sql(sql, (41, "七", 3))] == [(42, "七", [3])]
    assert type(raw[0]) is tuple
    conn.exec_driver_sql("CREATE TEMP TABLE t_driver (k int CONSTRAINT uq_t_driver UNIQUE)")
    assert driver.sql_rows(conn, "INSERT INTO t_driver VALUES (%s) RETURNING k", (1,)) == [(1,)]
    with pytest.raises(sa.exc.IntegrityError) as caught:
        driver.sql_rows(conn, "INSERT INTO t_driver VALUES (%s) RETURNING k", (1,))
    assert caught.value.orig.diag.constraint_name == "uq_t_driver"
    with pytest.raises(sa.exc.InternalError):
        conn.exec_driver_sql("SELECT 1")
    db.session.rollback()


def test_get_loads_what_the_sessions_get_loads(pg, monkeypatch):
    """driver.get (every case's page and write asks for its case through require_case): the
    object the session's get would give — every column, the identity, nothing to flush, its
    relationships loaded lazily, changes written back — or None."""
    from mediation import driver
    from mediation.cases.models import Case
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    case = make_case(officer, departments=["区住建局"], livelihood_fields=["education"],
                     petitioners=[{"name": "王建国"}, {"name": "赵四"}])
    db.session.commit()
    case_id = case.id
    db.session.close()
    expected = db.session.get(Case, case_id)
    columns = {p.key: getattr(expected, p.key) for p in sa.inspect(Case).column_attrs}
    names = sorted(p.name for p in expected.petitioners)
    db.session.close()

    session = db.session()
    seen: list[str] = []

    def not_here(*_args, **_kwargs):
        raise AssertionError("the session's get: not the driver's path")

    monkeypatch.setattr(session, "get", not_here)
    got = driver.get(session, Case, case_id)
    monkeypatch.undo()
    assert {p.key: getattr(got, p.key) for p in sa.inspect(Case).column_attrs} == columns
    assert got.created_at.utcoffset() is not None  # the column's result processing ran
    state = sa.inspect(got)
    assert state.persistent and not state.modified and not session.dirty and not state.expired_attributes
    assert driver.get(session, Case, case_id) is got  # the session holds it now
    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert sorted(p.name for p in got.petitioners) == names  # loaded on access
        assert driver.get(session, Case, case_id + 1000) is None  # (through SQLAlchemy: listened)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)  # only this test's listener
    assert len(seen) == 2
    got.title = "改过的标题"
    db.session.commit()
    db.session.close()
    assert db.session.get(Case, case_id).title == "改过的标题"
    assert driver.get(db.session(), Case, case_id + 1000) is None  # on the driver's cursor


def test_get_flushes_first_when_the_session_has_changes(pg):
    """With changes pending, driver.get is the session's get, which writes them first."""
    from mediation import driver
    from mediation.cases.models import Case, Petitioner
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    one, two = make_case(officer), make_case(officer)
    db.session.commit()
    one.title = "待写入"
    assert db.session.dirty
    assert driver.get(db.session(), Case, two.id) is two  # held: the identity map's
    db.session.expunge(two)
    fetched = driver.get(db.session(), Case, two.id)
    assert fetched.id == two.id and not sa.inspect(one).modified  # flushed, as get does
    db.session.rollback()
    # a class whose load is more than its row (a deferred column) takes the session's get
    assert driver._loader(Petitioner, db.engine.dialect) is None
    db.session.close()
    kid = db.session.execute(sa.select(Petitioner.id)).scalars().first()
    assert driver.get(db.session(), Petitioner, kid).id == kid
    db.session.rollback()


def test_a_statement_planned_each_time_is_never_prepared(pg, monkeypatch):
    """`planned_each_time`: psycopg never prepares the statement, so the server plans it
    with its values at every execution, however long the connection lives; without it,
    psycopg prepares it after its threshold (5) and the server may settle on a generic plan.
    The repeat check's look and its matches by number run so (their right plan depends on
    the values), every other statement on the driver's cursor as before."""
    import psycopg

    from mediation import driver
    from mediation.cases import commands
    from mediation.extensions import db
    from mediation.users import User
    from tests.factories import make_user
    from tests.test_intake_statement import _body

    conn = db.session.connection()
    each = driver.Prepared(sa.select(sa.literal_column("41") + sa.bindparam("n")), conn.dialect,
                           planned_each_time=True)
    kept = driver.Prepared(sa.select(sa.literal_column("42") + sa.bindparam("n")), conn.dialect)
    for n in range(8):
        assert driver.rows(conn, each, {"n": n}) == [(41 + n,)]
        assert driver.rows(conn, kept, {"n": n}) == [(42 + n,)]
    prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
    assert any("42" in s for s in prepared) and not any("41" in s for s in prepared)
    db.session.rollback()

    asked: list[tuple[str, object]] = []
    execute = psycopg.Cursor.execute

    def spy(self, query, params=None, *, prepare=None, binary=None):
        asked.append((str(query), prepare))
        return execute(self, query, params, prepare=prepare, binary=binary)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    officer = make_user("case_officer", "510104")
    commands.intake(db.session.get(User, officer.id), _body())
    db.session.remove()
    # the look (the name copy's snapshot and names, and matches by number) and the rest
    def repeat_check(sql: str) -> bool:
        return "txid_current_snapshot" in sql or sql.lstrip().startswith("WITH matched")

    assert [prepare for sql, prepare in asked if "txid_current_snapshot" in sql] == [False], asked
    assert {prepare for sql, prepare in asked if repeat_check(sql)} == {False}, asked
    rest = [prepare for sql, prepare in asked if not repeat_check(sql)]
    assert len(rest) >= 3 and set(rest) == {None}, asked

"""On PostgreSQL an intake takes its ids from the sequences, then writes the case, its
petitioners, its first petition and its first events in one statement (cases/commands.py,
`_ids_taken` and `_first_events`). What it writes must be what the ORM's flush writes
(the path SQLite takes), and a reference taken by a concurrent intake must still be a 422
that leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from mediation import timeline
from mediation.cases import commands
from mediation.cases.models import Case
from mediation.errors import Invalid
from mediation.extensions import db
from mediation.users import User
from tests.factories import make_user
from tests.test_pg_concurrency import run_together

# Columns that differ between two intakes of the same data by design: keys, the moment
# written, the numbers' ciphertexts (a fresh IV each), the reference (from the id).
_DIFFER = {"id", "case_id", "reference", "created_at", "updated_at", "status_changed_at",
           "recorded_at", "id_number_enc", "phone_enc", "change_xid"}


def _body(reference: str | None = None, **extra) -> dict:
    body = {"title": "同一诉求", "region_code": "510104", "received_on": dt.date(2025, 3, 1),
            "livelihood_fields": ["land_demolition"], "departments": ["区自然资源局"],
            "summary": "征地补偿款未足额发放", "assessment": "reasonable",
            "new_case_reason": "两次登记，比较写入的行",
            "petitioners": [{"name": "王五", "id_number": "510104198001011234",
                             "phone": "13900000001", "groups": ["worker"]},
                            {"name": "赵六", "phone": "13900000002"}], **extra}
    if reference:
        body["reference"] = reference
    return body


def _rows(conn: sa.Connection, table: str, case_id: int) -> list[dict]:
    """Each column as text and whether it is SQL NULL (JSON null is not)."""
    cols = [c for c in sa.inspect(conn).get_columns(table) if c["name"] not in _DIFFER]
    key = "id" if table == "cases" else "case_id"
    names = [c["name"] for c in cols]
    sql = (f"SELECT {', '.join(f'{n} IS NULL, {n}::text' for n in names)} "
           f"FROM {table} WHERE {key} = :id ORDER BY id")
    return [{c["name"]: (row[2 * k], row[2 * k + 1]) for k, c in enumerate(cols)}
            for row in conn.execute(sa.text(sql), {"id": case_id})]


def _events(conn: sa.Connection, case_id: int) -> list[tuple]:
    out = []
    for seq, type_, data in conn.execute(sa.text(
            "SELECT seq, type, data FROM events WHERE case_id = :id ORDER BY seq"), {"id": case_id}):
        data = json.loads(data)
        data.pop("reference", None)
        for p in data.get("petitioners", []):
            p.pop("id")
        data.get("petition", {}).pop("id", None)
        out.append((seq, type_, data))
    return out


@pytest.mark.parametrize("listed", [False, True], ids=["plain", "listed in the action"])
def test_the_one_statement_intake_writes_what_the_orm_writes(pg, monkeypatch, listed):
    officer = make_user("case_officer", "510104")
    extra = {"action_listed_on": dt.date(2025, 4, 1), "action_reason": "台账"} if listed else {}
    made = commands.intake(officer, _body(**extra))
    fast, kept = made.id, {c.key: getattr(made, c.key) for c in Case.__table__.columns}
    db.session.remove()
    # what the command's object holds is what was written (timestamps and dates included)
    assert {c.key: getattr(db.session.get(Case, fast), c.key) for c in Case.__table__.columns} == kept
    db.session.remove()
    monkeypatch.setattr(commands, "_one_statement", lambda: False)  # the ORM's flush, as on SQLite
    slow = commands.intake(db.session.get(User, officer.id), _body(**extra)).id
    db.session.remove()
    with db.engine.connect() as conn:
        for table in ("cases", "petitioners", "petitions"):
            assert _rows(conn, table, fast) == _rows(conn, table, slow), table
        assert len(_rows(conn, "petitioners", fast)) == 2
        # the cross-references to the first case aside, the events are the same
        linked = [e for e in _events(conn, slow) if e[1] == "case.linked"]
        assert _events(conn, fast)[:len(_events(conn, slow)) - len(linked)] == [
            e for e in _events(conn, slow) if e[1] != "case.linked"]
        seqs = conn.execute(sa.text("SELECT id, last_seq FROM cases ORDER BY id")).all()
        counts = dict(conn.execute(sa.text("SELECT case_id, max(seq) FROM events GROUP BY case_id")).all())
    assert all(last == counts[case_id] for case_id, last in seqs)  # no UPDATE was needed for it
    assert timeline.verify() == (2, [])
    # the KPI rollup heard of the case inserted by a statement (listed: it counts)
    checked = pg.test_cli_runner().invoke(args=["reports", "check"])
    assert checked.exit_code == 0, checked.output


def test_a_reference_taken_by_a_concurrent_intake_is_a_422_and_leaves_nothing(pg):
    officer = make_user("case_officer", "510104")

    def take(user: User, i: int) -> int:
        people = [{"name": f"并发{i}号", "phone": f"1390000{i:04d}"}]
        return commands.intake(user, _body(reference="TZ-2025-0042", petitioners=people)).id

    results = run_together(pg, 8, take, officer.id)
    won = [r for r in results if isinstance(r, int)]
    lost = [r for r in results if not isinstance(r, int)]
    assert len(won) == 1, results
    assert all(isinstance(r, Invalid) and r.extra["errors"] == {"reference": ["already used by another case"]}
               for r in lost), lost
    db.session.remove()
    counts = {t: db.session.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
              for t in ("cases", "petitioners", "petitions", "events", "event_outbox")}
    assert counts["cases"] == 1 and counts["petitioners"] == 1 and counts["petitions"] == 1
    assert counts["events"] == 2  # the winner's created and classified, nothing of the others
    assert timeline.verify() == (1, [])


def test_an_append_hook_that_loads_and_appends_to_the_new_case_finds_it_written(pg):
    # a hardship assessment makes the departments' append hook load the new case and suggest
    # a hand-over on it (more events, in the same transaction): the case must be the
    # session's object by then, and its last_seq counts those events too
    from tests.factories import make_department

    make_department("civil_affairs", "510100", name="成都市民政局")
    officer = make_user("case_officer", "510104")
    case_id = commands.intake(officer, _body(assessment="unreasonable_hardship")).id
    db.session.remove()
    types = db.session.execute(sa.text("SELECT type FROM events WHERE case_id = :id ORDER BY seq"),
                               {"id": case_id}).scalars().all()
    assert types[:2] == ["case.created", "case.classified"] and len(types) > 2, types
    assert db.session.get(Case, case_id).last_seq == len(types)
    assert timeline.verify() == (1, [])
    # the next write numbers its event after them
    commands.update(db.session.get(User, officer.id), case_id, {"title": "改了标题"})
    db.session.remove()
    assert db.session.get(Case, case_id).last_seq == len(types) + 1


def test_the_intake_statement_is_parsed_once_then_taken_from_psycopg_cache(pg, monkeypatch):
    # The intake's one statement has more parameters than psycopg caches the parsing of by
    # default (50); the app raises the limit (app.cache_long_statements), so a second intake
    # of the same shape parses nothing. psycopg's uncached entry point is called only for
    # what its cache refuses.
    from psycopg import _queries

    refused: list[int] = []
    parse = _queries._query2pg_nocache

    def uncached(query: bytes, encoding: str):
        refused.append(len(query))
        return parse(query, encoding)

    monkeypatch.setattr(_queries, "_query2pg_nocache", uncached)
    officer = make_user("case_officer", "510104")
    written: list[int] = []

    def seen(_conn, _cursor, statement, params, *_) -> None:
        if "INSERT INTO cases" in statement:
            written.append(len(params or ()))

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        for i in range(2):
            people = [{"name": f"缓存{i}号", "phone": f"1390001{i:04d}"}]
            commands.intake(db.session.get(User, officer.id), _body(petitioners=people))
            db.session.remove()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert len(written) == 2 and min(written) > 50  # the shape the default would refuse
    assert refused == []


def test_the_one_statement_intake_leaves_its_objects_loaded_and_linked(pg):
    # the case's parties go on it as loaded (not through the collection's events) and the
    # statement writes them: in the session, clean, each naming its case
    officer = make_user("case_officer", "510104")
    made = commands.intake(officer, _body())
    session = db.session()
    assert not session.new and not session.dirty
    assert len(made.petitioners) == 2
    for p in made.petitioners:
        assert sa.inspect(p).persistent and p.case_id == made.id and p.case is made
    assert (made.investigations, made.category_overrides, made.contacts) == ([], [], [])
    db.session.commit()
    db.session.remove()
    stored = db.session.get(Case, made.id)
    assert [p.name for p in stored.petitioners] == [p["name"] for p in _body()["petitioners"]]


def test_the_ids_statement_is_planned_once_per_count_of_petitioners(pg):
    # The ids statement names its sequences and its count as constants (one text per count):
    # once psycopg has prepared it, the server runs the plan it made, never a new custom plan
    # per execution (what a count as a parameter led to). And it gives the sequences' values.
    officer = make_user("case_officer", "510104")
    made = [commands.intake(db.session.get(User, officer.id), _body(petitioners=[
        {"name": f"序列{i}号{k}", "phone": f"13900{i:03d}{k:03d}"} for k in range(3)]))
        for i in range(2)]
    db.session.remove()
    ids = [[p.id for p in sorted(db.session.get(Case, c.id).petitioners, key=lambda p: p.id)]
           for c in made]
    assert [len(x) for x in ids] == [3, 3]
    assert ids[1] == list(range(ids[0][0] + 3, ids[0][0] + 6))  # consecutive values of one sequence
    db.session.remove()
    conn = db.session.connection()
    sql = commands._take_ids_sql(conn, 3)
    assert "%s" not in sql and "generate_series(1, 3)" in sql
    sequences = conn.exec_driver_sql(commands._SEQUENCES).one()
    assert all(f"nextval('{name}')" in sql for name in sequences)
    from mediation import driver

    for _ in range(8):  # past psycopg's prepare threshold (5)
        case_id, petition_id, taken = driver.sql_rows(conn, sql, ())[0]
        assert len(taken) == 3 and case_id > made[-1].id
    plans = conn.exec_driver_sql(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE '%%generate_series(1, 3)%%'").all()
    assert len(plans) == 1 and plans[0][0] >= 2 and plans[0][1] == 0
    db.session.rollback()

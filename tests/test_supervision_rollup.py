"""The KPI rollup (mediation/supervision/rollup.py) against the definitions computed from the
base tables (kpis.counts_many_live): a history written through the commands and the timeline
on past dates, direct ORM writes, bulk ORM updates, rollbacks, the rebuild (CLI and SQL), and
concurrent writers on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from mediation import clock as service_clock
from mediation import timeline
from mediation.cases import commands
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.supervision import commands as sup_commands
from mediation.supervision import kpis, rollup
from mediation.supervision.scope import Scope
from mediation.users import User
from tests.factories import at, make_user, seq, survey_answer
from tests.test_pg_concurrency import run_together

LOCAL = ZoneInfo(service_clock.DEFAULT_TIMEZONE)
DATES = [dt.date(2025, 1, 9), dt.date(2025, 1, 10), dt.date(2025, 2, 28), dt.date(2025, 3, 1),
         dt.date(2025, 3, 15), dt.date(2025, 3, 31), dt.date(2025, 4, 1), dt.date(2025, 4, 2),
         dt.date(2025, 5, 31), dt.date(2025, 6, 30), dt.date(2025, 7, 1), dt.date(2026, 1, 1)]
SCOPES = [Scope(""), Scope("51"), Scope("5101"), Scope("510104"), Scope("44")]


def local_at(day: str, hour: int = 12) -> dt.datetime:
    """`hour` on `day` in the service's time zone (the days the figures count in)."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=LOCAL)


@pytest.fixture
def clock():
    """The moment the whole service sees (history built as it happened): `hour` of the
    service's day."""
    service_clock.freeze(local_at("2025-01-10"))

    def set_(day: str, hour: int = 12) -> None:
        service_clock.freeze(local_at(day, hour))

    yield set_
    service_clock.unfreeze()


def listed() -> dict:
    """Intake fields that list the case in the action today (纳入专项行动), with the reason
    an uncategorised case needs to count."""
    return {"action_listed_on": service_clock.today(), "action_reason": "纳入专项行动"}


def assert_rollup_matches_definitions(dates=DATES) -> None:
    """Every scope, grouping and date: the rollup's counts equal the base tables'."""
    db.session.rollback()
    for scope in SCOPES:
        for grouping in (None, *kpis.GROUPINGS):
            for segment in (None, *kpis.SEGMENTS):
                fast = kpis.counts_many(scope, dates, grouping, segment)
                live = kpis.counts_many_live(scope, dates, grouping, segment)
                for day, f, v in zip(dates, fast, live, strict=True):
                    assert f == v, (scope.prefix, grouping, segment, day)
    db.session.rollback()


def nonzero_rollup() -> list[tuple]:
    """The rollup's rows once every pending delta is folded into it."""
    rollup.fold(db.session.connection())
    db.session.commit()
    t = rollup.KpiRollup.__table__
    rows = db.session.execute(sa.select(t).order_by(*t.primary_key.columns)).all()
    return [tuple(r) for r in rows if any(getattr(r, m) for m in rollup.METRICS)]


def steps() -> list[tuple]:
    t = rollup.KpiCaseStep.__table__
    return [tuple(r) for r in db.session.execute(sa.select(t).order_by(t.c.case_id, t.c.day))]


def rebuilt_equals_incremental() -> None:
    """The SQL rebuild from the base tables gives exactly the rollup kept by the writes."""
    before_rollup, before_steps = nonzero_rollup(), steps()
    assert before_rollup, "the history should have left figures in the rollup"
    rollup.rebuild(db.session.connection())
    db.session.commit()
    assert nonzero_rollup() == before_rollup
    assert steps() == before_steps


def test_a_history_on_past_dates_gives_the_definitions_figures(ctx, clock):
    admin = make_user("admin", None)

    def intake(region: str, **fields) -> int:
        case_id = commands.intake(admin, {
            "title": "t", "region_code": region, "reference": f"R-{seq():05d}",
            "action_listed_on": service_clock.today(), "action_reason": "纳入", **fields}).id
        # the row's created_at default is the real clock: date it as the history says
        db.session.execute(sa.update(Case).where(Case.id == case_id).values(created_at=timeline.utcnow()))
        db.session.commit()
        return case_id

    def move(case_id: int, day: str, *targets: str, hour: int = 12) -> None:
        clock(day, hour)
        for to in targets:
            commands.transition(db.session.get(User, admin.id), case_id, to, "test")

    def event(case_id: int, type_: str, day: str, hour: int = 12) -> None:
        clock(day, hour)
        timeline.append(db.session, case_id, type_, {"basis": "test"}, None)
        db.session.commit()

    clock("2025-01-10")
    a = intake("510104", departments=["民政局", "住建局"], assessment="reasonable")
    b = intake("510105", departments=["住建局"], flags=["petitioning_ceased"])
    c = intake("440103", departments=["人社局"], assessment="reasonable")
    clock("2025-03-01", 23)  # the last hour of the day (15:00 UTC): still 03-01
    d = intake("510703", departments=[], assessment="partly_reasonable")
    # a: resolved 03-01, reopened 04-01, resolved again 06-30 at 23:59, then closed
    move(a, "2025-02-01", "in_progress")
    move(a, "2025-03-01", "resolved", hour=0)
    move(a, "2025-04-01", "reopened")
    move(a, "2025-04-02", "in_progress")
    clock("2025-06-30", 23)
    commands.transition(db.session.get(User, admin.id), a, "resolved", "test")
    move(a, "2025-07-01", "closed", hour=0)
    # b: flagged by hand, then its cessation is dated by the timeline (and undone, and again)
    event(b, "case.petitioning_resumed", "2025-03-15")
    event(b, "case.petitioning_ceased", "2025-04-01")
    event(b, "case.petitioning_ceased", "2025-05-31")
    event(b, "case.petitioning_resumed", "2025-05-31", hour=13)
    # c: resolved in another province; its answers
    move(c, "2025-01-10", "in_progress", "resolved")
    survey_answer(c, 5, "2025-02-28")
    survey_answer(c, 2, "2025-07-01", hour=0)
    # d: an answer dated before the case joined the action counts from the day it did
    survey_answer(d, 4, "2025-01-09")
    move(d, "2025-03-31", "in_progress", "resolved")
    # edits that regroup the whole history: departments, region, assessment, flags
    clock("2025-06-30")
    commands.update(db.session.get(User, admin.id), b, {"departments": ["住建局", "信访局", "住建局"]})
    commands.update(db.session.get(User, admin.id), d, {"region_code": "510104", "assessment": "reasonable"})
    commands.update(db.session.get(User, admin.id), c, {"flags": ["petitioning_ceased"]})
    # a row written directly (the ledger as it stood), and a bulk ORM update of its date
    e = Case(reference=f"R-{seq():05d}", title="t", region_code="510104", status="resolved",
             status_changed_at=at("2025-05-31"), created_at=at("2025-03-01"), assessment="reasonable",
             flags=[], departments=["民政局"], last_seq=0, category_mask=1,
             action_listed_on=dt.date(2025, 3, 1))
    db.session.add(e)
    db.session.commit()
    db.session.execute(sa.update(Case).where(Case.id == e.id).values(
        created_at=at("2025-01-09", 0), action_listed_on=dt.date(2025, 1, 9)))
    db.session.commit()

    assert_rollup_matches_definitions()
    # Hand-checked points of the same history, read from the rollup.
    as_of = {day: figs for day, figs in zip(DATES, kpis.counts_many(Scope("51"), DATES), strict=True)}
    # 03-15: a b d e in the action (c is in 44); resolved only a (its 03-01 resolution, not yet
    # reopened; e's status dates from 05-31 and no event says so before); b resumed that day.
    assert [as_of[dt.date(2025, 3, 15)]["all"][k] for k in ("cases", "resolved", "ceased")] == [4, 1, 0]
    # 04-01: a reopened that day, d resolved 03-31; b ceased that day.
    assert [as_of[dt.date(2025, 4, 1)]["all"][k] for k in ("resolved", "ceased")] == [1, 1]
    # 05-31: b ceased and resumed again the same day (the resumption is later by seq); e resolved.
    assert [as_of[dt.date(2025, 5, 31)]["all"][k] for k in ("resolved", "ceased")] == [2, 0]
    # 06-30: a resolved at 23:00 that day; b's departments now 住建局 twice and 信访局.
    assert as_of[dt.date(2025, 6, 30)]["all"]["resolved"] == 3
    depts = kpis.counts_many(Scope("51"), [dt.date(2025, 6, 30)], "department")[0]
    assert {k: v["cases"] for k, v in depts.items()} == {"民政局": 2, "住建局": 3, "信访局": 1}
    rebuilt_equals_incremental()


def test_a_rolled_back_change_leaves_the_rollup_as_it_was(ctx, clock):
    officer = make_user("case_officer", "510104")
    case_id = commands.intake(officer, {"title": "t", "region_code": "510104", "departments": ["民政局"]}).id
    before = nonzero_rollup()
    case = db.session.get(Case, case_id)
    case.assessment = "reasonable"
    case.departments = ["住建局"]
    db.session.flush()
    timeline.append(db.session, case_id, "case.petitioning_ceased", {}, None)
    db.session.rollback()
    assert nonzero_rollup() == before
    assert_rollup_matches_definitions([dt.date(2025, 1, 10), service_clock.today()])


def test_writes_that_bypass_the_session_are_repaired_by_the_rebuild_command(app, ctx, clock):
    officer = make_user("case_officer", "510104")
    case_id = commands.intake(officer, {"title": "t", "region_code": "510104", "departments": ["民政局"],
                                        "assessment": "reasonable", "action_listed_on": service_clock.today(),
                                        "action_reason": "纳入"}).id
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["reports", "check"])
    assert ok.exit_code == 0, ok.output
    with db.engine.begin() as conn:  # raw SQL: no session, no hook
        conn.execute(sa.text("UPDATE cases SET status = 'resolved' WHERE id = :id"), {"id": case_id})
    db.session.remove()
    stale = runner.invoke(args=["reports", "check"])
    assert stale.exit_code == 1 and "rebuild" in stale.output
    rebuilt = runner.invoke(args=["reports", "rebuild"])
    assert rebuilt.exit_code == 0 and "rebuilt the KPI rollup" in rebuilt.output
    again = runner.invoke(args=["reports", "check"])
    assert again.exit_code == 0, again.output
    db.session.remove()
    assert kpis.counts(Scope(""), service_clock.today())["all"]["resolved"] == 1


def test_concurrent_writers_in_one_county_and_department_add_up(pg):
    """Writers of different cases in the same county and department hit the same rollup rows
    at once: the additive upserts must neither lose a count nor deadlock."""
    officer = make_user("case_officer", "510104")
    admin = make_user("admin", None)
    n = 12
    ids = [commands.intake(officer, {"title": "t", "region_code": "510104", "departments": ["民政局"],
                                     "assessment": "reasonable", **listed()}).id for _ in range(n)]
    tokens = []
    for case_id in ids[::2]:
        token, _ = sup_commands.send_survey(db.session.get(User, admin.id), case_id)
        tokens.append(token)
    db.session.remove()

    def write(user: User, i: int):
        case_id = ids[i % n]
        if i < n:  # every case moves: intake -> in_progress -> resolved
            commands.transition(user, case_id, "in_progress", f"w{i}")
            return commands.transition(user, case_id, "resolved", f"w{i}").status
        if i < n + len(tokens):
            return sup_commands.answer_survey(tokens[i - n], 5, "").rating
        return commands.intake(user, {"title": "new", "region_code": "510104",
                                      "departments": ["民政局", "住建局"], **listed()}).id

    folders = 3  # folds running among the writers: a delta is folded once or left for later

    def write_or_fold(user: User, i: int):
        return rollup.fold_pending() if i >= n + len(tokens) + 6 else write(user, i)

    results = run_together(pg, n + len(tokens) + 6 + folders, write_or_fold, admin.id)
    assert not [r for r in results if isinstance(r, Exception)], results
    db.session.remove()
    today = service_clock.today()
    [figures] = kpis.counts_many(Scope("51"), [today])
    assert figures["all"]["cases"] == n + 6
    assert figures["all"]["resolved"] == n
    assert figures["all"]["answers"] == len(tokens) and figures["all"]["satisfied"] == len(tokens)
    assert_rollup_matches_definitions([today])
    rebuilt_equals_incremental()


def pending_deltas() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(rollup.KpiDelta)).scalar_one()


def test_figures_are_exact_before_during_and_after_the_fold(ctx, clock):
    """The writes only append deltas: the reads add the ones not folded yet, at every instant;
    a fold that dies before its commit leaves them all; folding twice adds nothing twice."""
    officer = make_user("case_officer", "510104")
    admin = make_user("admin", None)
    today = [service_clock.today()]
    ids = [commands.intake(officer, {"title": "t", "region_code": "510104", "departments": ["民政局"],
                                     "assessment": "reasonable", **listed()}).id for _ in range(3)]
    assert pending_deltas() > 0  # nothing folded yet, and the figures already count them
    assert kpis.counts(Scope("51"), today[0])["all"]["cases"] == 3
    assert_rollup_matches_definitions(today)

    rollup.fold(db.session.connection(), batch=2)  # a part folded, the rest pending
    db.session.commit()
    assert pending_deltas() > 0
    assert_rollup_matches_definitions(today)

    commands.transition(db.session.get(User, admin.id), ids[0], "in_progress", "t")
    commands.transition(db.session.get(User, admin.id), ids[0], "resolved", "t")
    pending = pending_deltas()
    conn = db.session.connection()  # the folder dies between its work and its commit
    assert rollup.fold(conn) == pending
    db.session.rollback()
    assert pending_deltas() == pending
    assert kpis.counts(Scope("51"), today[0])["all"]["resolved"] == 1
    assert_rollup_matches_definitions(today)

    db.session.remove()
    assert rollup.fold_pending() == pending
    assert rollup.fold_pending() == 0  # twice: nothing left to count again
    assert pending_deltas() == 0
    assert kpis.counts(Scope("51"), today[0])["all"] == {
        "cases": 3, "resolved": 1, "reasonable": 3, "reasonable_resolved": 1, "ceased": 0,
        "answers": 0, "satisfied": 0}
    assert_rollup_matches_definitions(today)
    rebuilt_equals_incremental()


def test_a_case_born_in_the_transaction_is_derived_without_reading_old_steps(ctx, clock):
    """A case inserted by the transaction has no steps to lock, read or delete, and one not
    listed in the action has none to add; but a statement that lists it behind its object's
    back, in the same transaction, still counts it."""
    officer = make_user("case_officer", "510104")
    seen: list[str] = []

    def record(conn, cursor, statement, *_args) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        commands.intake(officer, {"title": "unlisted", "region_code": "510104"})
        assert not any("kpi_case_steps" in s or "kpi_deltas" in s for s in seen), seen
        assert not any(s.lstrip().startswith("WITH cs AS") for s in seen), "derived: " + str(seen)
        seen.clear()
        listed_id = commands.intake(officer, {"title": "listed", "region_code": "510104", **listed()}).id
        assert not any(s.lstrip().upper().startswith(("DELETE FROM KPI_CASE_STEPS", "SELECT CASE_ID, DAY"))
                       for s in seen), seen
        assert any("INSERT INTO kpi_case_steps" in s for s in seen)

        # Born unlisted, then listed by a statement in the same transaction: counted.
        case = Case(title="raw", region_code="510104", reference=f"R-{seq():05d}", status="intake",
                    created_by_id=officer.id, last_seq=0)
        db.session.add(case)
        db.session.flush()
        db.session.execute(sa.update(Case).where(Case.id == case.id).values(
            action_listed_on=service_clock.today(), action_reason="纳入专项行动"))
        db.session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    counted = {r[0] for r in steps()}
    assert listed_id in counted and case.id in counted
    assert kpis.counts(Scope("510104"), service_clock.today())["all"]["cases"] == 2
    assert_rollup_matches_definitions([service_clock.today()])
    rebuilt_equals_incremental()

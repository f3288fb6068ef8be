"""KPIs and league tables on a hand-built set whose right answers are worked out by hand
below; the "as of a date" rule read from the timeline; the weekly report and its signals."""

from __future__ import annotations

import datetime as dt

import pytest

from mediation import clock as service_clock
from mediation.cases.models import Case
from mediation.extensions import db
from tests.factories import at, case_row, survey_answer

UTC = dt.UTC


def mk(region, status="in_progress", changed="2025-01-10", created="2025-01-10", answers=(),
       **columns) -> int:
    """A case row as the ledger holds it, with survey answers as (rating, answered on)."""
    case_id = case_row(region, status, changed, created, **columns)
    for rating, day in answers:
        survey_answer(case_id, rating, day)
    return case_id


@pytest.fixture
def hand_set(app):
    """Measured on D = 2025-06-30 within province 51 (the worked answers are in the tests).

    A1..A3 county 510104, B1..B2 county 510105 (both city 5101), C1..C2 county 510703 (city
    5107), G1 in Guangdong (outside 51), L1 created after D."""
    with app.app_context():
        mk("510104", "resolved", "2025-05-01", assessment="reasonable", flags=["petitioning_ceased"],
           departments=["民政局"], answers=[(5, "2025-05-10")])                       # A1
        mk("510104", "closed", "2025-05-02", assessment="reasonable",
           departments=["民政局", "住建局"])                                            # A2
        mk("510104", assessment="reasonable", departments=["住建局"])                    # A3
        mk("510105", "resolved", "2025-06-01", assessment="partly_reasonable",
           flags=["petitioning_ceased"], departments=["住建局"], answers=[(3, "2025-06-05")])  # B1
        mk("510105")                                                                    # B2
        mk("510703", "resolved", "2025-06-10", assessment="reasonable",
           flags=["petitioning_ceased", "high_attention"], departments=["人社局"],
           answers=[(4, "2025-06-20"), (1, "2025-07-02")])                              # C1
        # Resolved only after D, and no timeline saying otherwise: not resolved at D.
        mk("510703", "resolved", "2025-07-15", assessment="reasonable", departments=["人社局"])  # C2
        mk("440103", "resolved", "2025-03-01", flags=["petitioning_ceased"],
           departments=["民政局"])                                                       # G1
        mk("510104", "resolved", "2025-07-06", created="2025-07-05")                    # L1
        db.session.remove()


def kpi(body, key):
    k = body["kpis"][key]
    return k["numerator"], k["denominator"], k["value"]


def test_kpis_for_a_province_supervisor_match_the_hand_count(api, hand_set):
    sup = api.user("supervisor", "51")
    r = api.get("/api/reports/kpis?date=2025-06-30", sup)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    # In the action by D: A1 A2 A3 B1 B2 C1 C2 = 7 (G1 is outside 51, L1 came later).
    assert body["cases"] == 7 and body["region"] == "510000" and body["as_of"] == "2025-06-30"
    # Resolved or closed at D: A1 A2 B1 C1 (C2 only on 07-15).
    assert kpi(body, "resolution_rate") == (4, 7, 0.5714)
    # Assessed reasonable: A1 A2 A3 C1 C2; of them resolved at D: A1 A2 C1.
    assert kpi(body, "reasonable_demand_resolution_rate") == (3, 5, 0.6)
    # Flagged petitioning_ceased: A1 B1 C1.
    assert kpi(body, "ceased_petitioning_rate") == (3, 7, 0.4286)
    # Answers by D: A1 5, B1 3, C1 4 (C1's 1 came on 07-02); rating >= 4: two of three.
    assert kpi(body, "satisfaction_rate") == (2, 3, 0.6667)
    targets = {k: v["target"] for k, v in body["kpis"].items()}
    assert targets == {"resolution_rate": 0.98, "reasonable_demand_resolution_rate": 1.0,
                       "ceased_petitioning_rate": 0.95, "satisfaction_rate": None}
    assert body["kpis"]["resolution_rate"]["met"] is False
    definitions = {d["key"]: d for d in body["definitions"]}
    assert set(definitions) == set(targets)
    assert all(d["numerator"] and d["denominator"] and d["measured_on"] for d in definitions.values())


def test_kpis_by_city_county_and_department(api, hand_set):
    sup = api.user("supervisor", "51")

    def groups(level):
        body = api.get(f"/api/reports/kpis?date=2025-06-30&level={level}", sup).get_json()
        return {g["key"]: kpi(g, "resolution_rate") for g in body["groups"]}

    assert groups("city") == {"5101": (3, 5, 0.6), "5107": (1, 2, 0.5)}
    assert groups("county") == {"510104": (2, 3, 0.6667), "510105": (1, 2, 0.5), "510703": (1, 2, 0.5)}
    # A case counts once in each of its departments: 民政局 A1 A2; 住建局 A2 A3 B1; 人社局 C1 C2.
    assert groups("department") == {"民政局": (2, 2, 1.0), "住建局": (2, 3, 0.6667),
                                     "人社局": (1, 2, 0.5)}
    assert groups("province") == {"51": (4, 7, 0.5714)}


def test_national_supervisor_and_admin_see_everything_city_supervisor_its_city(api, hand_set):
    national = api.user("supervisor")
    admin = api.user("admin")
    city = api.user("supervisor", "5101")
    for user in (national, admin):
        body = api.get("/api/reports/kpis?date=2025-06-30", user).get_json()
        assert body["region"] is None and kpi(body, "resolution_rate") == (5, 8, 0.625)
    body = api.get("/api/reports/kpis?date=2025-06-30", city).get_json()
    assert kpi(body, "resolution_rate") == (3, 5, 0.6)
    body = api.get("/api/reports/kpis?date=2025-06-30&region=510105", city).get_json()
    assert kpi(body, "resolution_rate") == (1, 2, 0.5)
    assert api.get("/api/reports/kpis?region=5107", city).status_code == 403
    assert api.get("/api/reports/kpis?region=44", national).status_code == 200


def test_monthly_league_tables_rank_and_change(api, hand_set):
    sup = api.user("supervisor", "51")
    r = api.get("/api/reports/monthly?month=2025-06&level=county", sup)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["as_of"] == "2025-06-30" and body["previous_as_of"] == "2025-05-31"
    regions = {row["key"]: row for row in body["regions"]}
    # June: 510104 2/3; 510105 1/2; 510703 1/2 -> ranks 1, 2, 2 (ties share a rank).
    # May: 510104 A1 A2 of 3 (0.6667); 510105 and 510703 none resolved yet (B1 06-01, C1 06-10).
    assert [(r_["key"], r_["rank"]) for r_ in body["regions"]] == [
        ("510104", 1), ("510105", 2), ("510703", 2)]
    jinjiang = regions["510104"]
    assert (jinjiang["cases"], jinjiang["resolved"], jinjiang["rate"]) == (3, 2, 0.6667)
    assert regions["510104"]["rate_change"] == 0.0 and regions["510104"]["rank_change"] == 0
    assert regions["510105"]["previous_rate"] == 0.0 and regions["510105"]["rate_change"] == 0.5
    assert regions["510703"]["previous_rank"] == 2 and regions["510703"]["rank_change"] == 0
    # Satisfaction by June's end: 510104 A1 5 -> 1.0; 510105 B1 3 -> 0.0; 510703 C1 4 -> 1.0.
    assert {k: v["satisfaction"] for k, v in regions.items()} == {
        "510104": 1.0, "510105": 0.0, "510703": 1.0}
    depts = [(row["key"], row["rank"], row["rate"]) for row in body["departments"]]
    assert depts == [("民政局", 1, 1.0), ("住建局", 2, 0.6667), ("人社局", 3, 0.5)]


def test_monthly_bulletin_as_xlsx(api, hand_set):
    import io

    from openpyxl import load_workbook

    sup = api.user("supervisor", "51")
    r = api.get("/api/reports/monthly?month=2025-06&format=xlsx", sup)
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(r.data))
    rows = list(wb["按地区"].iter_rows(values_only=True))
    assert rows[1][:5] == (1, "510104", 3, 2, 0.6667)
    assert "说明" in wb.sheetnames


def test_reports_are_for_supervisors_admins_and_case_officers(api, hand_set):
    assert api.get("/api/reports/kpis").status_code == 401
    for role in ("lead_official", "mediator", "evaluator"):
        user = api.user(role, "510104" if role == "lead_official" else None)
        for path in ("kpis", "weekly", "monthly", "quarterly"):
            assert api.get(f"/api/reports/{path}", user).status_code == 403, (role, path)
    sup = api.user("supervisor")
    officer = api.user("case_officer", "510104")  # their own jurisdiction (tests/test_oversight.py)
    for path in ("kpis", "weekly", "monthly", "quarterly"):
        assert api.get(f"/api/reports/{path}", sup).status_code == 200, path
        assert api.get(f"/api/reports/{path}", officer).status_code == 200, path
        assert api.get(f"/api/reports/{path}?region=5107", officer).status_code == 403, path
    assert api.get("/api/reports/monthly?month=2025-13", sup).status_code == 422
    assert api.get("/api/reports/kpis?level=street", sup).status_code == 422


@pytest.fixture
def clock():
    """Sets the moment the whole service sees (history built as it happened); unset at the
    end. Tokens are minted while it runs free: a frozen past would have them expire."""

    def set_(day: str | None) -> None:
        service_clock.freeze(at(day)) if day else service_clock.unfreeze()

    yield set_
    service_clock.unfreeze()


def test_as_of_a_date_the_timeline_decides_for_cases_changed_since(api, app, clock):
    from mediation.cases import commands
    from mediation.users import User

    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    with app.app_context():
        clock("2025-01-10")
        actor = db.session.get(User, officer.id)
        # listed in the action on intake, with the reason an uncategorised case needs
        case = commands.intake(actor, {"title": "x", "region_code": "510104", "reference": "AS-OF-1",
                                       "action_listed_on": dt.date(2025, 1, 10), "action_reason": "上级交办"})
        case_id = case.id
        db.session.execute(db.update(Case).where(Case.id == case_id).values(created_at=at("2025-01-10")))
        db.session.commit()
        for day, to in (("2025-02-01", "in_progress"), ("2025-03-01", "resolved"),
                        ("2025-04-01", "reopened"), ("2025-04-02", "in_progress")):
            clock(day)
            commands.transition(db.session.get(User, officer.id), case_id, to, "test")
        db.session.remove()
    clock(None)

    def resolved_on(day):
        body = api.get(f"/api/reports/kpis?date={day}", sup).get_json()
        return kpi(body, "resolution_rate")[:2]

    assert resolved_on("2025-02-15") == (0, 1)
    assert resolved_on("2025-03-15") == (1, 1)  # case.resolved on 03-01, not yet reopened
    assert resolved_on("2025-04-01") == (0, 1)  # case.reopened that day
    assert resolved_on("2025-04-10") == (0, 1)  # the status itself, changed 04-02

    weekly = api.get("/api/reports/weekly?week=2025-W14", sup).get_json()
    assert weekly["from"] == "2025-03-31" and weekly["to"] == "2025-04-06"
    progress = {p["case_id"]: p for p in weekly["progress"]}
    assert progress[case_id]["events"] == 2
    assert progress[case_id]["types"] == {"case.reopened": 1, "case.status_changed": 1}
    signal = weekly["signals"]["reopened_after_resolution"]
    assert [(s["case_id"], s["days_between"]) for s in signal] == [(case_id, 31)]
    # Outside the window (MEDIATION_REOPEN_WINDOW_DAYS): no signal.
    app.config["MEDIATION_REOPEN_WINDOW_DAYS"] = 30
    try:
        weekly = api.get("/api/reports/weekly?week=2025-W14", sup).get_json()
        assert weekly["signals"]["reopened_after_resolution"] == []
    finally:
        del app.config["MEDIATION_REOPEN_WINDOW_DAYS"]


def test_weekly_stalled_and_overdue(api, app):
    sup = api.user("supervisor", "51")
    today = service_clock.today()
    old = (today - dt.timedelta(days=60)).isoformat()
    with app.app_context():
        stalled = mk("510104", created=old, changed=old)
        done = mk("510104", "resolved", created=old, changed=old)  # resolved cases never stall
        late = mk("510104", created=old, changed=old)
        db.session.execute(db.update(Case).where(Case.id == late).values(
            next_deadline_on=today - dt.timedelta(days=3), accepted_on=today - dt.timedelta(days=70)))
        db.session.commit()
        db.session.remove()
    body = api.get("/api/reports/weekly", sup).get_json()
    stalled_ids = {c["case_id"] for c in body["stalled"]["cases"]}
    assert stalled in stalled_ids and late in stalled_ids and done not in stalled_ids
    assert body["stalled"]["total"] == 2
    assert body["signals"]["no_meaningful_progress"] == body["stalled"]["cases"]
    assert body["overdue"]["total"] == 1
    [overdue] = body["overdue"]["cases"]
    assert overdue["case_id"] == late and [c["name"] for c in overdue["overdue"]] == ["handling"]

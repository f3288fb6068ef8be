"""Repeat petitions: the returning petitioner found at intake, the officer's decision
(link, new case, later merge), petition records (件次, 人次, 越级访) and the case search."""

from __future__ import annotations

import pytest

from mediation import timeline
from mediation.extensions import db
from tests.factories import case_payload

ID = "510104196502023456"
PHONE = "13912345678"


@pytest.fixture(autouse=True)
def refuse(app, monkeypatch):
    monkeypatch.setitem(app.config, "MEDIATION_REPEAT_INTAKE", "refuse")


@pytest.fixture
def officer(api):
    return api.user("case_officer", "510104")


def person(name="王建国", **kw):
    return {"name": name, **kw}


def first_case(api, officer, **overrides):
    body = case_payload(petitioners=[person(id_number=ID, phone=PHONE)], **overrides)
    r = api.post("/api/cases", officer, body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_returning_petitioner_by_id_number_is_refused_with_masked_candidates(api, officer):
    first = first_case(api, officer)
    r = api.post("/api/cases", officer, case_payload(
        title="另一件", summary="其他事项", departments=["区教育局"], livelihood_fields=[],
        petitioners=[person("王某", id_number=ID)]))
    assert r.status_code == 409, r.get_json()
    body = r.get_json()
    [c] = body["candidates"]
    assert c["case_id"] == first["id"] and c["strength"] == "strong" and c["score"] == 1.0
    assert c["reasons"][0]["kind"] == "id_number"
    assert c["petitioner"]["id_number"] == "****************56"
    assert ID not in r.get_data(as_text=True) and PHONE not in r.get_data(as_text=True)
    assert api.get("/api/cases", officer).get_json()["total"] == 1  # nothing written


def test_returning_petitioner_by_phone(api, officer):
    first = first_case(api, officer)
    r = api.post("/api/cases", officer, case_payload(
        title="另一件", summary="x", departments=[], livelihood_fields=[],
        petitioners=[person("李四", phone="+8613912345678")]))
    assert r.status_code == 409
    [c] = r.get_json()["candidates"]
    assert c["case_id"] == first["id"] and c["reasons"][0]["kind"] == "phone"
    assert c["petitioner"]["phone"] == "*******5678"


def test_near_identical_name_in_the_same_county_on_the_same_matter(api, officer):
    first = api.case(officer, petitioners=[person("张建国")])
    # 囯 for 国: the same sound, a different character; full-width space typed in between
    r = api.post("/api/cases", officer, case_payload(petitioners=[person("张　建囯")]))
    assert r.status_code == 409, r.get_json()
    [c] = r.get_json()["candidates"]
    assert c["case_id"] == first["id"]
    kinds = [x["kind"] for x in c["reasons"]]
    assert kinds[0] == "same_pinyin" and "same_unit" in kinds and "summary_overlap" in kinds


def test_same_name_in_another_county_is_not_matched(api):
    a = api.user("case_officer", "510100")  # the city: sees both counties
    api.case(a, region_code="510104", petitioners=[person("张建国")])
    r = api.post("/api/cases", a, case_payload(region_code="510105", petitioners=[person("张建国")]))
    assert r.status_code == 201, r.get_json()
    r = api.post("/api/cases/candidates", a, {"region_code": "510105",
                                               "petitioners": [person("张建国")]})
    assert r.status_code == 200
    assert [c["region_code"] for c in r.get_json()] == ["510105"]


def test_candidates_by_number_leave_out_cases_merged_away_or_out_of_sight(api, officer):
    """A match by number is found on the petitioners' index wherever it is, then kept only
    where the officer may see its case and the case was not merged into another."""
    kept = first_case(api, officer)
    absorbed = api.post("/api/cases", officer, case_payload(
        petitioners=[person(id_number=ID)], new_case_reason="另一事项")).get_json()
    assert _merge(api, officer, absorbed["id"], kept["id"]).status_code == 200
    neighbour = api.user("case_officer", "510105")
    api.case(neighbour, region_code="510105", petitioners=[person("李四", id_number=ID)])
    r = api.post("/api/cases/candidates", officer, {"region_code": "510104",
                                                     "petitioners": [person("陈七", id_number=ID)]})
    assert r.status_code == 200
    assert [c["case_id"] for c in r.get_json()] == [kept["id"]]
    city = api.user("case_officer", "510100")  # sees both counties: both live cases
    r = api.post("/api/cases/candidates", city, {"region_code": "510104",
                                                  "petitioners": [person("陈七", id_number=ID)]})
    assert sorted(c["region_code"] for c in r.get_json()) == ["510104", "510105"]


def test_same_name_alone_is_possible_not_strong(api, officer):
    api.case(officer, petitioners=[person("赵六")])
    body = {"region_code": "510104", "petitioners": [person("赵六")], "summary": "完全无关",
            "departments": ["区卫健委"], "livelihood_fields": ["healthcare"]}
    r = api.post("/api/cases/candidates", officer, body)
    [c] = r.get_json()
    assert c["strength"] == "possible" and c["reasons"][0]["kind"] == "same_name"
    assert api.post("/api/cases", officer, case_payload(**body)).status_code == 201


def test_link_adds_a_repeat_petition_and_reopens_a_closed_case(api, officer):
    first = first_case(api, officer)
    for to in ("in_progress", "resolved", "closed"):
        assert api.post(f"/api/cases/{first['id']}/status", officer,
                        {"status": to, "reason": "办理"}).status_code == 200
    r = api.post("/api/cases", officer, case_payload(
        petitioners=[person(id_number=ID)], repeat_of=first["id"],
        petition={"channel": "visit", "level": "city", "head_count": 6,
                  "received_on": "2025-04-01"}))
    assert r.status_code == 200, r.get_json()
    case = r.get_json()
    assert case["id"] == first["id"] and case["status"] == "reopened"
    assert (case["petition_count"], case["person_count"]) == (2, 7)
    second = case["petitions"][-1]
    assert second["repeat"] and second["skip_level"] and second["group_visit"]
    assert not case["petitions"][0]["repeat"] and not case["petitions"][0]["skip_level"]
    assert api.get("/api/cases", officer).get_json()["total"] == 1
    types = [e["type"] for e in api.get(f"/api/cases/{first['id']}/timeline", officer)
             .get_json()["events"]]
    assert types[-3:] == ["case.reopened", "petition.received", "case.classified"] or \
        "petition.received" in types[-3:]


def test_new_case_with_a_reason_is_cross_referenced_both_ways(api, officer):
    first = first_case(api, officer)
    r = api.post("/api/cases", officer, case_payload(
        title="工伤认定", petitioners=[person(id_number=ID)], new_case_reason="同一人的另一件事"))
    assert r.status_code == 201, r.get_json()
    second = r.get_json()
    assert second["links"][0]["case_id"] == first["id"]
    again = api.get(f"/api/cases/{first['id']}", officer).get_json()
    assert again["links"] == [{"case_id": second["id"], "kind": "related",
                               "reason": "同一人的另一件事", "at": again["links"][0]["at"]}]
    # The intake's answer shows its petitions and links without reading them back: the
    # same as a later read of the case gives.
    reread = api.get(f"/api/cases/{second['id']}", officer).get_json()
    assert second["petitions"] == reread["petitions"] and len(reread["petitions"]) == 1
    assert second["links"] == reread["links"] and len(reread["links"]) == 1
    # A repeat petition later moves the timeline on: the view reads its petitions again.
    linked = api.post("/api/cases", officer, case_payload(
        repeat_of=second["id"], petition={"channel": "visit", "head_count": 3}))
    assert linked.status_code == 200, linked.get_json()
    assert [p["repeat"] for p in linked.get_json()["petitions"]] == [False, True]


def test_linking_to_an_invisible_case_is_404(api, officer):
    other = api.user("case_officer", "510105")
    theirs = api.case(other, region_code="510105")
    r = api.post("/api/cases", officer, case_payload(repeat_of=theirs["id"]))
    assert r.status_code == 404


def test_repeat_of_and_new_case_reason_together_is_422(api, officer):
    r = api.post("/api/cases", officer, case_payload(repeat_of=1, new_case_reason="两者"))
    assert r.status_code == 422


def _merge(api, user, a, b, reason="同一事项"):
    return api.post(f"/api/cases/{a}/merge", user, {"into": b, "reason": reason})


def test_merge_closes_the_absorbed_case_and_both_chains_verify(app, api, officer):
    a = first_case(api, officer)
    b = api.post("/api/cases", officer, case_payload(
        title="重复登记", petitioners=[person(id_number=ID)], new_case_reason="先分开")).get_json()
    r = _merge(api, officer, b["id"], a["id"])
    assert r.status_code == 200, r.get_json()
    survivor = r.get_json()
    assert survivor["id"] == a["id"] and survivor["petition_count"] == 2
    absorbed = api.get(f"/api/cases/{b['id']}", officer).get_json()
    assert absorbed["status"] == "closed" and absorbed["merged_into"] == a["id"]
    b_events = api.get(f"/api/cases/{b['id']}/timeline", officer).get_json()["events"]
    a_events = api.get(f"/api/cases/{a['id']}/timeline", officer).get_json()["events"]
    assert b_events[-1]["type"] == "case.merged"
    absorbed_event = next(e for e in a_events if e["type"] == "case.absorbed")
    with app.app_context():
        from mediation.timeline import Event
        last = db.session.query(Event).filter_by(case_id=b["id"]).order_by(Event.seq.desc()).first()
        assert absorbed_event["data"]["absorbed_last_hash"] == last.hash
        assert timeline.verify(a["id"]) == (1, []) and timeline.verify(b["id"]) == (1, [])
    result = app.test_cli_runner().invoke(args=["timeline", "verify"])
    assert result.exit_code == 0, result.output
    # merged away: not a candidate any more, and not linkable
    r = api.post("/api/cases", officer, case_payload(petitioners=[person(id_number=ID)],
                                                     repeat_of=b["id"]))
    assert r.status_code == 409 and r.get_json()["current_state"]["merged_into"] == a["id"]


def test_merge_into_itself_or_into_a_merged_case_is_409(api, officer):
    a = first_case(api, officer)
    b = api.case(officer, petitioners=[person("钱七")])
    c = api.case(officer, petitioners=[person("孙八")])
    r = _merge(api, officer, a["id"], a["id"])
    assert r.status_code == 409 and r.get_json()["current_state"]["merged_into"] is None
    assert _merge(api, officer, b["id"], a["id"]).status_code == 200
    r = _merge(api, officer, c["id"], b["id"])
    assert r.status_code == 409
    assert r.get_json()["current_state"] == {"case_id": b["id"], "status": "closed",
                                             "merged_into": a["id"]}


def test_merge_across_jurisdictions_is_404(api, officer):
    other = api.user("case_officer", "510105")
    theirs = api.case(other, region_code="510105", petitioners=[person("周九")])
    mine = api.case(officer, petitioners=[person("吴十")])
    assert _merge(api, officer, mine["id"], theirs["id"]).status_code == 404
    assert _merge(api, officer, theirs["id"], mine["id"]).status_code == 404


def test_search_by_petitioner_name_reference_and_unit(api, officer):
    c = api.case(officer, title="无名", summary="无", petitioners=[person("欧阳修")],
                 departments=["市住建局"])
    other = api.case(officer, title="别的", summary="别的", petitioners=[person("李白")],
                     departments=["区教育局"])
    for q in ("欧阳", c["reference"], "住建"):
        items = api.get(f"/api/cases?q={q}", officer).get_json()["items"]
        assert [i["id"] for i in items] == [c["id"]], q
    assert other["id"] not in [i["id"] for i in api.get("/api/cases?q=欧阳", officer)
                               .get_json()["items"]]


def test_search_by_number_only_for_roles_that_may(api, officer):
    c = first_case(api, officer)
    items = api.get(f"/api/cases?q={ID}", officer).get_json()["items"]
    assert [i["id"] for i in items] == [c["id"]]
    supervisor = api.user("supervisor", "510104")
    assert api.get(f"/api/cases?q={ID}", supervisor).get_json()["items"] == []
    with api.app.app_context():
        from mediation.audit import PiiSearch

        rows = db.session.query(PiiSearch).all()
        assert [(r.user_id, r.kind, r.results) for r in rows] == [(officer.id, "id_number", 1)]
        db.session.remove()


def test_two_officers_merging_the_same_pair_at_once_exactly_one_wins(pg):
    import datetime as dt

    from mediation.cases import commands, merge
    from mediation.cases.models import Case
    from mediation.errors import Conflict
    from tests.factories import make_user
    from tests.test_pg_concurrency import run_together

    officer = make_user("case_officer", "510104")
    ids = [commands.intake(officer, {
        "title": f"案件{i}", "region_code": "510104", "received_on": dt.date(2025, 3, 1),
        "petitioners": [{"name": name}]}).id for i, name in enumerate(("甲某", "乙某"))]
    absorbed, survivor = ids

    def work(user, i):
        return merge.merge(user, absorbed, survivor, f"第{i}位").id

    results = run_together(pg, 2, work, officer.id)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "int"], results
    lost = next(r for r in results if isinstance(r, Conflict))
    assert lost.status == 409
    db.session.remove()
    assert db.session.get(Case, absorbed).merged_into_id == survivor
    types = [e.type for e in timeline.events_after(survivor)]
    assert types.count("case.absorbed") == 1
    assert timeline.verify(absorbed) == (1, []) and timeline.verify(survivor) == (1, [])


def test_a_merged_case_leaves_the_kpi_denominator_from_the_merge_on(app, ctx):
    import datetime as dt

    from mediation import clock
    from mediation.cases import commands, merge
    from mediation.supervision import kpis
    from mediation.supervision.scope import Scope
    from tests.factories import make_user
    from tests.test_supervision_rollup import (
        assert_rollup_matches_definitions,
        local_at,
        rebuilt_equals_incremental,
    )

    try:
        clock.freeze(local_at("2025-03-01"))
        officer = make_user("case_officer", "510104")
        a, b = (commands.intake(officer, {
            "title": f"案件{n}", "region_code": "510104", "departments": ["区住建局"],
            "assessment": "reasonable", "petitioners": [{"name": n}],
            "action_listed_on": dt.date(2025, 3, 1), "action_reason": "纳入"}).id for n in ("冯一", "陈二"))
        clock.freeze(local_at("2025-03-15"))
        merge.merge(officer, b, a, "同一人同一事项")
    finally:
        clock.unfreeze()
    days = [dt.date(2025, 3, 1), dt.date(2025, 3, 14), dt.date(2025, 3, 15), dt.date(2025, 4, 1)]
    counts = [c["all"] for c in kpis.counts_many(Scope(""), days)]
    assert [c["cases"] for c in counts] == [2, 2, 1, 1]
    assert [c["resolved"] for c in counts] == [0, 0, 0, 0]  # closed as merged is no resolution
    assert [c["reasonable"] for c in counts] == [2, 2, 1, 1]
    assert_rollup_matches_definitions(days)
    rebuilt_equals_incremental()
    result = app.test_cli_runner().invoke(args=["reports", "check"])
    assert result.exit_code == 0, result.output


def test_weekly_and_monthly_reports_count_repeats_and_skip_level_petitions(api, officer):
    first = first_case(api, officer)  # its first petition: 2025-03-01, county level
    for day, level, heads in (("2025-03-04", "province", 6), ("2025-03-05", "county", 1)):
        r = api.post("/api/cases", officer, case_payload(
            petitioners=[person(id_number=ID)], repeat_of=first["id"], petition={
                "received_on": day, "level": level, "channel": "visit", "head_count": heads}))
        assert r.status_code == 200, r.get_json()
    other = api.user("case_officer", "510105")
    api.case(other, region_code="510105", departments=["区教育局"], received_on="2025-03-06",
             petitioners=[person("郑某")], petition={"level": "city", "channel": "online"})
    supervisor = api.user("supervisor", "510100")
    week = api.get("/api/reports/weekly?week=2025-W10", supervisor).get_json()["petitions"]
    assert week["total"] == {"petitions": 3, "persons": 8, "repeat": 2, "skip_level": 2,
                             "group_visits": 1}
    by_region = {r["key"]: r for r in week["by_region"]}
    assert (by_region["510104"]["repeat"], by_region["510104"]["skip_level"]) == (2, 1)
    assert (by_region["510105"]["repeat"], by_region["510105"]["skip_level"]) == (0, 1)
    by_dept = {r["key"]: r for r in week["by_department"]}
    assert by_dept["区自然资源局"]["repeat"] == 2 and by_dept["区教育局"]["skip_level"] == 1
    month = api.get("/api/reports/monthly?month=2025-03", supervisor).get_json()["petitions"]
    assert month["total"]["petitions"] == 4 and month["total"]["repeat"] == 2
    assert month["total"]["persons"] == 9
    assert {r["key"]: r["petitions"] for r in month["by_region"]} == {"510104": 3, "510105": 1}
    xlsx = api.get("/api/reports/monthly?month=2025-03&format=xlsx", supervisor)
    assert xlsx.status_code == 200


def test_ledger_import_with_repeats(app, tmp_path):
    from tests.factories import make_user
    from tests.test_supervision_ledger import counts, write

    with app.app_context():
        make_user("case_officer", "510104", name="rep_importer")
        db.session.remove()
    first = {"reference": "RP-001", "title": "征地补偿", "region_code": "510104",
             "departments": "区自然资源局", "received_on": "2025-03-01",
             "summary": "补偿款未足额发放", "petitioner_name": "韩建国",
             "petitioner_id_number": ID}
    repeat = {"reference": "RP-002", "title": "征地补偿（再次来访）", "region_code": "510104",
              "departments": "区自然资源局", "received_on": "2025-03-20", "summary": "补偿款仍未发放",
              "petitioner_name": "韩建囯", "petition_channel": "visit", "petition_level": "city",
              "petition_head_count": 5}
    runner = app.test_cli_runner()
    # Row 3 repeats row 2 (a near-identical name, the same unit and matter) and says nothing:
    # refused, naming the case, and nothing imported.
    path = write(tmp_path / "undecided.xlsx", [first, repeat])
    before = counts(app)
    r = runner.invoke(args=["ledger", "import", str(path), "--as", "rep_importer"])
    assert r.exit_code == 1
    assert "row 3, column 重复件关联编号 repeat_of_reference: the petitioner may have a case " \
           "already (RP-001)" in r.output
    assert counts(app) == before
    # Said: row 3 is a repeat petition of RP-001, and row 4 a new case of the same person.
    other = {"reference": "RP-003", "title": "工伤认定", "region_code": "510104",
             "departments": "区人社局", "petitioner_name": "韩建国", "petitioner_id_number": ID,
             "new_case_reason": "同一人的另一件事"}
    path = write(tmp_path / "decided.xlsx", [first, repeat | {"repeat_of_reference": "RP-001"}, other])
    r = runner.invoke(args=["ledger", "import", str(path), "--as", "rep_importer"])
    assert r.exit_code == 0, r.output
    assert "imported 2 case(s)" in r.output and "1 repeat petition(s)" in r.output
    after = counts(app)
    assert after["cases"] == before["cases"] + 2
    with app.app_context():
        import sqlalchemy as sa

        from mediation.cases.models import Case

        case = db.session.execute(sa.select(Case).where(Case.reference == "RP-001")).scalar_one()
        assert (case.petition_count, case.person_count) == (2, 6)
        db.session.remove()
    # Again: every row is already in the ledger, the repeat petition included.
    r = runner.invoke(args=["ledger", "import", str(path), "--as", "rep_importer"])
    assert r.exit_code == 0 and "imported 0 case(s); 3 already in the ledger" in r.output
    assert counts(app) == after


def test_intake_page_shows_candidates_before_saving_then_links(app, ctx, csrf_on):
    import sqlalchemy as sa

    from mediation.cases.models import Case
    from tests.factories import make_case, make_user
    from tests.page_client import PageClient

    officer = make_user("case_officer", "510104")
    first = make_case(officer, petitioners=[{"name": "张建国", "id_number": ID}])
    ref, first_id = first.reference, first.id
    db.session.remove()
    web = PageClient(app).sign_in(officer)
    form = {"title": "再次反映补偿款", "region_code": "510104", "departments": "区自然资源局",
            "summary": "村民反映征地补偿款未足额发放", "petitioners-0-name": "张建囯",
            "petition-channel": "visit", "petition-level": "city", "petition-head_count": "2"}
    r = web.post("/cases/new", form | {"check": "1"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'id="repeat-candidates"' in html and ref in html and "同县姓名同音" in html
    assert ID not in html
    # saving without a decision is refused, the candidates still shown, nothing written
    r = web.post("/cases/new", form)
    assert r.status_code == 409 and ref in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    r = web.post("/cases/new", form | {"repeat_of": str(first_id)})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{first_id}")
    db.session.expire_all()
    case = db.session.get(Case, first_id)
    assert (case.petition_count, case.person_count) == (2, 3)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_the_new_petition_command_records_the_petition_too(api, officer):
    case = api.case(officer, petitioners=[person("褚某")])
    for to in ("in_progress", "resolved"):
        assert api.post(f"/api/cases/{case['id']}/status", officer,
                        {"status": to, "reason": "办理"}).status_code == 200
    r = api.post(f"/api/cases/{case['id']}/petitions", officer, {
        "received_on": "2025-04-01", "summary": "又到省里反映", "channel": "visit",
        "level": "province", "head_count": 5})
    assert r.status_code == 200, r.get_json()
    again = api.get(f"/api/cases/{case['id']}", officer).get_json()
    assert again["status"] == "reopened" and (again["petition_count"], again["person_count"]) == (2, 6)
    last = again["petitions"][-1]
    assert last["repeat"] and last["skip_level"] and last["group_visit"]
    assert last["received_on"] == "2025-04-01"


def test_case_page_shows_petitions_links_and_merges(app, ctx, csrf_on):
    from mediation.cases.models import Case
    from tests.factories import make_case, make_user
    from tests.page_client import PageClient

    officer = make_user("case_officer", "510104")
    a = make_case(officer, petitioners=[{"name": "蒋某"}], petition={"channel": "visit", "level": "city",
                                                                  "head_count": 5})
    b = make_case(officer, title="另一登记", petitioners=[{"name": "沈某"}])
    a_id, a_ref, b_id = a.id, a.reference, b.id
    db.session.remove()
    web = PageClient(app).sign_in(officer)
    html = web.text(f"/cases/{a_id}")
    assert 'id="h-case_petitions"' in html or "case_petitions" in html
    assert "越级访" in html and "集体访" in html and 'data-petition-count>1<' in html
    r = web.post(f"/cases/{b_id}/do/merge", {"into": str(a_id), "reason": "同一事项重复登记"},
                 token_from=f"/cases/{b_id}")
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, b_id).merged_into_id == a_id
    html = web.text(f"/cases/{b_id}")
    assert f'data-merged-into="{a_id}"' in html and a_ref in html
    assert "并入另一案件（同一人同一事项）" not in html  # merged: no second merge offered
    assert f'data-link="{b_id}"' in web.text(f"/cases/{a_id}")


def test_weekly_and_bulletin_pages_show_the_petition_counts(app, api, officer, csrf_on):
    from tests.factories import make_user
    from tests.page_client import PageClient

    first = first_case(api, officer)
    api.post("/api/cases", officer, case_payload(
        petitioners=[person(id_number=ID)], repeat_of=first["id"],
        petition={"received_on": "2025-03-04", "level": "province"}))
    with app.app_context():
        supervisor = make_user("supervisor", "510100")
        db.session.remove()
    web = PageClient(app).sign_in(supervisor)
    week = web.text("/supervision/weekly?week=2025-W10")
    assert 'id="petitions"' in week and "data-repeat>1<" in week and "data-skip-level>1<" in week
    bulletin = web.text("/supervision/bulletin?month=2025-03")
    assert "data-petitions>2<" in bulletin and "data-repeat>1<" in bulletin
    assert "合并与重复信访" in bulletin


def test_a_case_object_kept_across_commands_shows_what_came_after_its_intake(ctx):
    from mediation.cases import commands
    from mediation.cases.present import case_view
    from tests.factories import make_user

    officer = make_user("case_officer", "510104")
    case = commands.intake(officer, {"title": "t", "region_code": "510104",
                                     "petitioners": [{"name": "王建国"}]})
    assert len(case_view(case)["petitions"]) == 1
    same = commands.link_petition(officer, case.id, {"channel": "letter"}, "再次来信")
    db.session.commit()
    assert same is case  # one session, one object: what intake remembered no longer holds
    assert [p["repeat"] for p in case_view(case)["petitions"]] == [False, True]


def test_an_intake_whose_petition_is_refused_leaves_no_case_and_no_event(app, api, officer):
    from mediation.cases.models import Case, Petition

    def counts() -> tuple[int, int, int]:
        with app.app_context():
            return (db.session.query(Case).count(), db.session.query(Petition).count(),
                    db.session.query(timeline.Event).count())

    before = counts()
    r = api.post("/api/cases", officer, case_payload(
        petitioners=[person()], petition={"channel": "letter", "head_count": 3}))
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["errors"] == {"petition": {"head_count": ["only a visit has a head count"]}}
    assert counts() == before

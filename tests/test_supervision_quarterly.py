"""The quarterly evaluation: inspections with the four checks, deductions, rectifications
tracked to done, and the score per region and department worked out by hand."""

from __future__ import annotations

from mediation import timeline


def test_quarterly_records_and_scores(api):
    officer = api.user("case_officer", "51")
    sup = api.user("supervisor", "51")
    a = api.case(officer, region_code="510104", departments=["民政局"])
    b = api.case(officer, region_code="510703", departments=["人社局"])
    outside = api.case(api.user("case_officer", "44"), region_code="440103")

    r = api.post("/api/reports/inspections", sup, {
        "case_id": a["id"], "inspected_on": "2025-05-10", "responsibility_in_place": True,
        "truly_resolved": False, "procedure_regular": True, "file_complete": False,
        "findings": "台账与实际不符"})
    assert r.status_code == 201, r.get_json()
    insp = r.get_json()
    assert insp["passed"] is False
    r = api.post("/api/reports/deductions", sup, {
        "case_id": a["id"], "inspection_id": insp["id"], "kind": "fake_resolution", "points": 3,
        "reason": "虚假化解", "decided_on": "2025-05-12", "rectify_by": "2025-06-10"})
    assert r.status_code == 201, r.get_json()
    rect_a = r.get_json()["rectification"]
    assert rect_a["state"] == "overdue"  # 2025-06-10 is long past and it is not done
    r = api.post("/api/reports/rectifications", sup, {
        "case_id": b["id"], "requirement": "补充档案", "due_on": "2025-06-20"})
    assert r.status_code == 201
    rect_b = r.get_json()
    r = api.post(f"/api/reports/rectifications/{rect_b['id']}/done", sup,
                 {"done_on": "2025-06-15", "note": "已补齐"})
    assert r.status_code == 200 and r.get_json()["state"] == "done"
    again = api.post(f"/api/reports/rectifications/{rect_b['id']}/done", sup, {})
    assert again.status_code == 409
    # Outside the supervisor's jurisdiction: as if it did not exist.
    assert api.post("/api/reports/rectifications", sup, {
        "case_id": outside["id"], "requirement": "x", "due_on": "2025-06-20"}).status_code == 404
    assert api.post("/api/reports/inspections", officer, {
        "case_id": a["id"], "inspected_on": "2025-05-10", "responsibility_in_place": True,
        "truly_resolved": True, "procedure_regular": True, "file_complete": True}).status_code == 403

    body = api.get("/api/reports/quarterly?quarter=2025-Q2&level=county", sup).get_json()
    assert body["from"] == "2025-04-01" and body["to"] == "2025-06-30"
    assert [i["findings"] for i in body["inspections"]] == ["台账与实际不符"]
    assert [(d["kind"], d["points"]) for d in body["deductions"]] == [("fake_resolution", 3.0)]
    assert sorted((r_["case_id"], r_["state"]) for r_ in body["rectifications"]) == sorted(
        [(a["id"], "overdue"), (b["id"], "done")])
    scores = {s["key"]: (s["score"], s["rank"]) for s in body["scores"]["regions"]}
    # 510104: 100 - 3 points - 2 failed checks x 1 - 1 late rectification x 2 = 93.
    # 510703: its rectification was done in time: 100.
    assert scores == {"510703": (100.0, 1), "510104": (93.0, 2)}
    depts = {s["key"]: s["score"] for s in body["scores"]["departments"]}
    assert depts == {"人社局": 100.0, "民政局": 93.0}
    assert api.get("/api/reports/quarterly?quarter=2025-Q3", sup).get_json()["inspections"] == []

    timeline.drain()
    types = [e["type"] for e in api.get(f"/api/cases/{a['id']}/timeline", officer).get_json()["events"]]
    assert "supervision.inspected" in types and "supervision.deducted" in types

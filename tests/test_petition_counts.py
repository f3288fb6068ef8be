"""The bulletin's petition counts (reports.petition_counts) summed from one scan: each
department of a case's list counts the case's petitions once, regions at the level asked,
the total once per petition, petitions outside the period or the scope left out."""

from __future__ import annotations

from tests.factories import case_payload


def test_petitions_by_region_department_and_total(api):
    a = api.user("case_officer", "510104")
    b = api.user("case_officer", "510105")
    far = api.user("case_officer", "440103")
    for officer, region, departments, day, channel, heads, name in (
            (a, "510104", ["区教育局", "区人社局"], "2025-03-03", "visit", 6, "甲某"),
            (a, "510104", ["区教育局"], "2025-03-10", "letter", 1, "乙某"),
            (b, "510105", ["区人社局", "区教育局"], "2025-03-31", "online", 1, "丙某"),
            (b, "510105", ["区教育局"], "2025-04-01", "visit", 9, "丁某"),  # next month
            (far, "440103", ["区教育局"], "2025-03-05", "visit", 7, "戊某")):  # another province
        petition = {"received_on": day, "channel": channel, "level": "county",
                    **({"head_count": heads} if channel == "visit" else {})}
        r = api.post("/api/cases", officer, case_payload(
            region_code=region, departments=departments, received_on=day, accepted_on=day,
            petitioners=[{"name": name}], petition=petition))
        assert r.status_code in (200, 201), r.get_json()
    supervisor = api.user("supervisor", "510000")
    got = api.get("/api/reports/monthly?month=2025-03&level=city", supervisor).get_json()["petitions"]
    assert got["total"] == {"petitions": 3, "persons": 8, "repeat": 0, "skip_level": 0, "group_visits": 1}
    assert [(r["key"], r["region_code"], r["petitions"], r["persons"]) for r in got["by_region"]] == [
        ("5101", "510100", 3, 8)]
    depts = {r["key"]: (r["petitions"], r["persons"], r["group_visits"]) for r in got["by_department"]}
    assert depts == {"区教育局": (3, 8, 1), "区人社局": (2, 7, 1)}
    county = api.get("/api/reports/monthly?month=2025-03", supervisor).get_json()["petitions"]
    assert [(r["key"], r["petitions"]) for r in county["by_region"]] == [("510104", 2), ("510105", 1)]
    empty = api.get("/api/reports/monthly?month=2024-01", supervisor).get_json()["petitions"]
    assert empty["total"]["petitions"] == 0 and empty["by_region"] == [] and empty["by_department"] == []

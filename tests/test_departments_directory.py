"""The department directory (责任单位 per region) through the API: who reads, who changes,
what is refused with which field, and what a department user sees of it."""

from __future__ import annotations

import pytest

from tests.factories import World


@pytest.fixture
def d(api):
    return World({"admin": api.user("admin"), "sup": api.user("supervisor", "510100"),
                  "sup_gz": api.user("supervisor", "520000"),
                  "officer": api.user("case_officer", "510104"), "mediator": api.user("mediator"),
                  "evaluator": api.user("evaluator"),
                  "dept": api.user("department", "510100"), "dept2": api.user("department", "510104")})


def add(api, who, **body):
    return api.post("/api/departments", who, {"name": "成都市民政局", "kind": "civil_affairs",
                                              "region_code": "510100", **body})


def test_supervisor_adds_a_department_of_their_region_with_its_users(api, d):
    r = add(api, d.sup, user_ids=[d.dept.id], contact="028-1")
    assert r.status_code == 201, r.get_json()
    got = r.get_json()
    assert got["level"] == "city" and got["region_code"] == "510100"
    assert got["user_ids"] == [d.dept.id] and got["active"] is True
    # a province's code in short form is normalised
    r = add(api, d.admin, name="四川省高级人民法院", kind="court", region_code="51")
    assert r.status_code == 201 and r.get_json()["region_code"] == "510000"
    assert r.get_json()["level"] == "province"


def test_refusals_name_the_field(api, d):
    assert add(api, d.sup, region_code="520102").get_json()["errors"] == {
        "region_code": ["outside your jurisdiction 510100"]}
    assert "region_code" in add(api, d.sup, region_code="5x").get_json()["errors"]
    assert "kind" in add(api, d.sup, kind="police").get_json()["errors"]
    assert add(api, d.sup, user_ids=[d.mediator.id]).status_code == 422
    assert add(api, d.sup, user_ids=[d.dept.id]).status_code == 201
    dup = add(api, d.sup)
    assert dup.status_code == 422 and "name" in dup.get_json()["errors"]
    # one user acts for one department
    r = add(api, d.sup, name="成都市人社局", kind="human_resources", user_ids=[d.dept.id])
    assert r.status_code == 422 and "another department" in r.get_json()["errors"]["user_ids"][0]
    for who in (d.officer, d.mediator, d.evaluator, d.dept):
        assert add(api, who, name="x").status_code == 403


def test_the_directory_by_region_lists_the_region_and_those_above(api, d):
    for name, kind, region in (
            ("四川省民政厅", "civil_affairs", "510000"), ("成都市民政局", "civil_affairs", "510100"),
            ("锦江区民政局", "civil_affairs", "510104"), ("武侯区民政局", "civil_affairs", "510107"),
            ("成都市中级人民法院", "court", "510100")):
        assert add(api, d.admin, name=name, kind=kind, region_code=region).status_code == 201
    names = [x["name"] for x in api.get("/api/departments?region=510104", d.officer).get_json()]
    assert names == ["四川省民政厅", "成都市中级人民法院", "成都市民政局", "锦江区民政局"]
    names = [x["name"] for x in api.get("/api/departments?region=510104&kind=court", d.officer).get_json()]
    assert names == ["成都市中级人民法院"]
    assert api.get("/api/departments", d.mediator).status_code == 403
    assert api.get("/api/departments", d.evaluator).status_code == 403


def test_a_department_user_reads_their_own_department_only(api, d):
    mine = add(api, d.sup, user_ids=[d.dept.id]).get_json()
    other = add(api, d.admin, name="锦江区人社局", kind="human_resources", region_code="510104",
                user_ids=[d.dept2.id]).get_json()
    assert [x["id"] for x in api.get("/api/departments", d.dept).get_json()] == [mine["id"]]
    assert api.get(f"/api/departments/{mine['id']}", d.dept).status_code == 200
    assert api.get(f"/api/departments/{other['id']}", d.dept).status_code == 404
    assert api.get(f"/api/departments/{other['id']}", d.mediator).status_code == 404
    # and may not change it
    assert api.patch(f"/api/departments/{mine['id']}", d.dept, {"contact": "x"}).status_code == 403


def test_changes_and_membership(api, d):
    mine = add(api, d.sup, user_ids=[d.dept.id]).get_json()
    url = f"/api/departments/{mine['id']}"
    r = api.patch(url, d.sup, {"user_ids": [d.dept2.id], "contact": "028-2", "active": False})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["user_ids"] == [d.dept2.id] and r.get_json()["active"] is False
    assert api.get(url, d.dept).status_code == 404  # no longer theirs
    assert api.get(url, d.dept2).status_code == 200
    # the supervisor of another province sees the directory but may not change this one
    assert api.patch(url, d.sup_gz, {"contact": "x"}).status_code == 403
    assert api.patch(url, d.sup, {"region_code": "520102"}).status_code == 422
    assert api.get("/api/departments?active=false", d.officer).get_json()[0]["id"] == mine["id"]


def test_a_department_user_sees_no_case(api, d):
    case = api.case(d.officer)
    add(api, d.sup, user_ids=[d.dept.id])
    assert api.get(f"/api/cases/{case['id']}", d.dept).status_code == 404
    assert api.get("/api/cases", d.dept).get_json()["items"] == []

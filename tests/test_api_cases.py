"""The cases API end to end on the suite's database: every endpoint, its events, its
validation, and that a failed request leaves nothing behind."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from mediation import clock
from mediation.extensions import db
from tests.factories import case_payload, days_ago

TABLES = ("cases", "petitioners", "events", "event_outbox", "investigations", "owner_contacts",
          "category_overrides")


def row_counts(app) -> dict[str, int]:
    from mediation import timeline as tl

    assert tl.drain()  # the outbox settles once the publisher thread has caught up
    with app.app_context():
        counts = {t: db.session.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                  for t in TABLES}
        db.session.remove()
        return counts


def timeline(api, user, case_id, after=0):
    r = api.get(f"/api/cases/{case_id}/timeline?after={after}", user)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["events"]


def last_event(api, user, case_id):
    return timeline(api, user, case_id)[-1]


def in_days(n: int) -> str:
    return (clock.today() + dt.timedelta(days=n)).isoformat()


@pytest.fixture
def officer(api):
    return api.user("case_officer", "510104")


@pytest.fixture
def case(api, officer):
    return api.case(officer)


# --- intake -----------------------------------------------------------------------------------

def test_intake_returns_the_case_with_categories_needs_and_clocks(api, officer):
    r = api.post("/api/cases", officer, case_payload(
        flags=["historical_legacy"], background="2019年征地", focal_conflict="补偿标准",
        assessment="partly_reasonable"))
    assert r.status_code == 201
    case = r.get_json()
    assert case["reference"] == f"XF-2025-{case['id']:06d}"
    assert case["status"] == "intake" and case["region_code"] == "510104"
    assert [c["category"] for c in case["categories"]] == [2, 5]
    assert case["strategy"]["code"] == "resolve_reasonable_part"
    assert case["needs"] == ["economic_compensation", "legal_opinion", "group_support"]
    assert case["needs_source"] == "derived"
    assert case["dossier"]["background"] == "2019年征地"
    clocks = {c["name"]: c for c in case["clocks"]}
    assert clocks["acceptance_decision"]["state"] == "done"
    assert clocks["handling"]["due_on"] == "2025-05-07"
    assert case["overdue"] is True  # handling was due in May 2025 and no reply is recorded
    assert case["owner"]["suggested_level"] == "county"
    assert case["last_seq"] == 2


def test_intake_with_a_given_reference_and_a_duplicate(api, officer):
    assert api.case(officer, reference="JJ-2024-007")["reference"] == "JJ-2024-007"
    before = row_counts(api.app)
    r = api.post("/api/cases", officer, case_payload(reference="JJ-2024-007"))
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"reference": ["already used by another case"]}
    assert row_counts(api.app) == before


def test_intake_within_jurisdiction_only(api, officer):
    r = api.post("/api/cases", officer, case_payload(region_code="510105"))
    assert r.status_code == 422 and "region_code" in r.get_json()["errors"]
    city = api.user("case_officer", "510100")
    assert api.case(city, region_code="510105")["region_code"] == "510105"
    admin = api.user("admin")
    assert api.case(admin, region_code="440305")["region_code"] == "440305"
    assert row_counts(api.app)["cases"] == 2


@pytest.mark.parametrize("role", ["supervisor", "lead_official", "mediator", "lawyer",
                                  "counsellor", "mass_org", "evaluator"])
def test_only_officers_and_admins_take_cases_in(api, role):
    user = api.user(role, "510104" if role in ("supervisor", "lead_official") else None)
    r = api.post("/api/cases", user, case_payload())
    assert r.status_code == 403, r.get_json()
    assert r.is_json
    assert row_counts(api.app)["cases"] == 0


def matches(got, expected) -> bool:
    """`got` has exactly the expected keys; `...` stands for any messages."""
    if expected is ...:
        return bool(got)
    if isinstance(expected, dict):
        return (isinstance(got, dict) and set(got) == set(expected)
                and all(matches(got[k], v) for k, v in expected.items()))
    return got == expected


@pytest.mark.parametrize("body,errors", [
    (case_payload(colour="red"), {"colour": ["Unknown field."]}),
    (case_payload(region_code="999"), {"region_code": ...}),
    (case_payload(region_code="001234"), {"region_code": ...}),
    (case_payload(region_code="510004"), {"region_code": ...}),
    (case_payload(region_code="５１０１０４"), {"region_code": ...}),  # full-width digits
    (case_payload(title=""), {"title": ...}),
    ({"region_code": "510104"}, {"title": ["Missing data for required field."]}),
    (case_payload(petitioners=[{"name": "张三", "id_number": "51010419800101123"}]),
     {"petitioners": {"0": {"id_number": ["an 18-character resident identity number"]}}}),
    (case_payload(petitioners=[{"name": "张三", "phone": "12345"}]),
     {"petitioners": {"0": {"phone": ...}}}),
    (case_payload(petitioners=[{"name": "张三", "phone": "１３８００１３８０００"}]),
     {"petitioners": {"0": {"phone": ...}}}),
    (case_payload(petitioners=[{"name": "张三", "id_number": "５１０１０４１９８００１０１１２３４"}]),
     {"petitioners": {"0": {"id_number": ...}}}),
    (case_payload(petitioners=[{"name": "张三", "groups": ["martian"]}]),
     {"petitioners": {"0": {"groups": ...}}}),
    (case_payload(received_on="2025-03-08", accepted_on="2025-03-01"),
     {"accepted_on": ["cannot be before received_on"]}),
    (case_payload(received_on=in_days(5), accepted_on=None), {"received_on": ["cannot be in the future"]}),
    (case_payload(livelihood_fields=["fishing"]), {"livelihood_fields": ...}),
    (case_payload(flags=["escalated"]), {"flags": ...}),  # set by the system only
    (case_payload(times_handled=-1), {"times_handled": ...}),
    (case_payload(assessment="maybe"), {"assessment": ...}),
])
def test_invalid_intake_is_422_with_field_messages_and_leaves_nothing(api, officer, body, errors):
    r = api.post("/api/cases", officer, body)
    assert r.status_code == 422
    assert matches(r.get_json()["errors"], errors)
    assert row_counts(api.app) == dict.fromkeys(TABLES, 0)


def test_dates_out_of_order_across_a_gap_are_refused(api, officer):
    r = api.post("/api/cases", officer, case_payload(
        received_on="2025-03-01", accepted_on=None, replied_on="2025-02-01"))
    assert r.status_code == 422
    assert "replied_on" in r.get_json()["errors"]
    assert row_counts(api.app)["cases"] == 0


def test_malformed_json_is_a_json_400(api, officer):
    r = api.client.post("/api/cases", data="{not json", content_type="application/json",
                        headers={"Authorization": f"Bearer {api.tokens[officer.id]}"})
    assert r.status_code == 400 and r.is_json


def test_oversized_body_is_413_and_json(api, officer):
    r = api.post("/api/cases", officer, case_payload(summary="长" * 600_000))
    assert r.status_code == 413
    assert r.is_json and r.get_json()["code"] == 413
    assert row_counts(api.app)["cases"] == 0


# --- get and list -----------------------------------------------------------------------------

def test_get_one_case(api, officer, case):
    r = api.get(f"/api/cases/{case['id']}", officer)
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] == case["id"] and body["title"] == "征地拆迁补偿纠纷"
    assert set(body["dossier"]) == {"background", "demand_basis", "focal_conflict",
                                    "investigations", "contacts"}


def test_unknown_case_is_a_json_404(api, officer):
    r = api.get("/api/cases/424242", officer)
    assert r.status_code == 404 and r.get_json()["message"] == "case not found"


def test_list_filters_and_pagination(api, officer):
    lead = api.user("lead_official", "510104")
    other_lead = api.user("lead_official", "510104")
    a = api.case(officer, title="补偿100%到位的承诺", flags=["leader_instruction"])
    b = api.case(officer, title="补偿1000元", summary="物业费争议", livelihood_fields=["property_management"],
                 received_on=days_ago(3), accepted_on=None, region_code="510104")
    c = api.case(officer, title="学校搬迁", livelihood_fields=["education"], received_on=None,
                 accepted_on=None)
    assert api.post(f"/api/cases/{c['id']}/status", officer,
                    {"status": "in_progress", "reason": "开始办理"}).status_code == 200
    assert api.put(f"/api/cases/{b['id']}/owner", officer,
                   {"lead_official_id": lead.id}).status_code == 200
    admin = api.user("admin")
    api.case(admin, title="外省案件", region_code="440305")  # invisible to the officer

    def ids(query, user=officer):
        r = api.get(f"/api/cases{query}", user)
        assert r.status_code == 200, r.get_json()
        return [x["id"] for x in r.get_json()["items"]]

    assert ids("") == [c["id"], b["id"], a["id"]]  # newest first, visible ones only
    assert ids("?status=in_progress") == [c["id"]]
    assert ids("?status=intake") == [b["id"], a["id"]]
    assert ids("?category=6") == [a["id"]]
    assert ids("?category=2") == [c["id"], b["id"], a["id"]]
    assert ids("?region=510104") == [c["id"], b["id"], a["id"]]
    assert ids("?region=4403", admin)[0] != a["id"]
    assert len(ids("?region=44", admin)) == 1
    assert ids("?region=510105") == []
    assert ids(f"?owner={lead.id}") == [b["id"]]
    assert ids(f"?owner={other_lead.id}") == []
    assert ids("?overdue=true") == [a["id"]]  # handling due 2025-05-07
    assert ids("?overdue=false") == [c["id"], b["id"]]
    assert ids("?q=100%25") == [a["id"]]  # a literal %, not a wildcard
    assert ids("?q=物业") == [b["id"]]
    r = api.get("/api/cases?page=2&page_size=2", officer)
    page = r.get_json()
    assert (page["total"], page["page"], page["page_size"]) == (3, 2, 2)
    assert [x["id"] for x in page["items"]] == [a["id"]]
    assert api.get("/api/cases?page=3&page_size=2", officer).get_json()["items"] == []
    item = api.get("/api/cases", officer).get_json()["items"][0]
    assert "dossier" not in item  # the list is the summary view


@pytest.mark.parametrize("query,field", [
    ("?status=pending", "status"), ("?category=7", "category"), ("?region=9", "region"),
    ("?overdue=perhaps", "overdue"), ("?page=0", "page"), ("?page_size=500", "page_size"),
    ("?owner=me", "owner"), ("?sort=password", "sort"), ("?sort=--id", "sort"),
])
def test_bad_list_filters_are_422(api, officer, query, field):
    r = api.get(f"/api/cases{query}", officer)
    assert r.status_code == 422 and field in r.get_json()["errors"]


# --- patch ------------------------------------------------------------------------------------

def test_patch_records_old_and_new_values(api, officer, case):
    r = api.patch(f"/api/cases/{case['id']}", officer, {
        "title": "征地补偿款纠纷", "times_handled": 3, "demand_basis": "《土地管理法》",
        "assessment": "reasonable"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["title"] == "征地补偿款纠纷" and body["dossier"]["demand_basis"] == "《土地管理法》"
    assert body["strategy"]["code"] == "resolve_in_time_limit"
    ev = last_event(api, officer, case["id"])
    assert ev["type"] == "case.updated" and ev["actor"] == officer.id
    changes = ev["data"]["changes"]
    assert changes["title"] == {"from": "征地拆迁补偿纠纷", "to": "征地补偿款纠纷"}
    assert changes["times_handled"] == {"from": 1, "to": 3}
    assert changes["assessment"] == {"from": None, "to": "reasonable"}
    assert changes["strategy"]["to"]["code"] == "resolve_in_time_limit"


def test_patch_that_changes_categories_records_a_classification(api, officer, case):
    r = api.patch(f"/api/cases/{case['id']}", officer, {"flags": ["high_attention"]})
    assert [c["category"] for c in r.get_json()["categories"]] == [2, 6]
    types = [e["type"] for e in timeline(api, officer, case["id"], after=2)]
    assert types == ["case.updated", "case.classified"]
    assert [c["category"] for c in last_event(api, officer, case["id"])["data"]["categories"]] == [2, 6]


def test_patch_without_change_appends_nothing(api, officer, case):
    r = api.patch(f"/api/cases/{case['id']}", officer, {"title": case["title"]})
    assert r.status_code == 200 and r.get_json()["last_seq"] == 2


def test_needs_set_by_hand_and_back_to_derived(api, officer, case):
    r = api.patch(f"/api/cases/{case['id']}", officer, {"needs": ["legal_opinion", "legal_opinion"]})
    assert (r.get_json()["needs"], r.get_json()["needs_source"]) == (["legal_opinion"], "officer")
    ev = last_event(api, officer, case["id"])
    assert ev["data"]["changes"]["needs"] == {"from": ["group_support"], "to": ["legal_opinion"]}
    r = api.patch(f"/api/cases/{case['id']}", officer, {"needs": None})
    assert (r.get_json()["needs"], r.get_json()["needs_source"]) == (["group_support"], "derived")


def test_patch_dates_out_of_order_with_the_stored_ones_is_422(api, officer, case):
    # the case was received on 2025-03-01: accepting it before that is impossible
    r = api.patch(f"/api/cases/{case['id']}", officer, {"accepted_on": "2025-02-01"})
    assert r.status_code == 422
    assert "accepted_on" in r.get_json()["errors"]
    assert api.get(f"/api/cases/{case['id']}", officer).get_json()["accepted_on"] == "2025-03-08"
    assert len(timeline(api, officer, case["id"])) == 2


def test_patch_future_date_and_unknown_field_are_422(api, officer, case):
    r = api.patch(f"/api/cases/{case['id']}", officer, {"replied_on": in_days(3)})
    assert r.status_code == 422 and r.get_json()["errors"] == {"replied_on": ["cannot be in the future"]}
    r = api.patch(f"/api/cases/{case['id']}", officer, {"status": "closed"})
    assert r.status_code == 422 and r.get_json()["errors"] == {"status": ["Unknown field."]}
    r = api.patch(f"/api/cases/{case['id']}", officer, {"region_code": "510105"})
    assert r.status_code == 422  # a case does not move region by an edit


def test_patch_keeps_the_flags_the_system_set(api, officer, case):
    url = f"/api/cases/{case['id']}"
    for to in ("in_progress", "resolved", "reopened"):
        assert api.post(f"{url}/status", officer, {"status": to, "reason": "x"}).status_code == 200
    assert "reopened_after_resolution" in api.get(url, officer).get_json()["flags"]
    r = api.patch(url, officer, {"flags": ["policy_change"]})
    assert r.status_code == 200
    assert r.get_json()["flags"] == ["policy_change", "reopened_after_resolution"]


# --- status ---------------------------------------------------------------------------------

def test_status_transitions_legal_path_and_events(api, officer, case):
    url = f"/api/cases/{case['id']}/status"
    path = ["in_progress", "agreement_reached", "in_progress", "agreement_reached", "resolved",
            "closed", "reopened", "in_progress", "resolved"]
    for to in path:
        r = api.post(url, officer, {"status": to, "reason": f"to {to}"})
        assert r.status_code == 200, (to, r.get_json())
        assert r.get_json()["status"] == to
    events = timeline(api, officer, case["id"], after=2)
    transitions = [(e["type"], e["data"].get("from"), e["data"].get("to"))
                   for e in events if e["type"] != "case.classified"]
    assert transitions[0] == ("case.status_changed", "intake", "in_progress")
    assert ("case.closed", "resolved", "closed") in transitions
    assert ("case.reopened", "closed", "reopened") in transitions
    assert transitions[-1] == ("case.resolved", "in_progress", "resolved")
    assert events[0]["data"]["reason"] == "to in_progress"


@pytest.mark.parametrize("prefix,to,current", [
    ([], "resolved", "intake"),
    ([], "closed", "intake"),
    (["in_progress"], "intake", "in_progress"),
    (["in_progress", "resolved", "closed"], "in_progress", "closed"),
    (["in_progress"], "in_progress", "in_progress"),
])
def test_illegal_transition_is_409_with_the_current_state(api, officer, case, prefix, to, current):
    url = f"/api/cases/{case['id']}/status"
    for step in prefix:
        assert api.post(url, officer, {"status": step, "reason": "x"}).status_code == 200
    seq = api.get(f"/api/cases/{case['id']}", officer).get_json()["last_seq"]
    r = api.post(url, officer, {"status": to, "reason": "不合法"})
    assert r.status_code == 409
    assert r.get_json()["current_state"] == current
    assert api.get(f"/api/cases/{case['id']}", officer).get_json()["last_seq"] == seq


def test_transition_needs_a_known_status_and_a_reason(api, officer, case):
    url = f"/api/cases/{case['id']}/status"
    r = api.post(url, officer, {"status": "done", "reason": "x"})
    assert r.status_code == 422 and "status" in r.get_json()["errors"]
    r = api.post(url, officer, {"status": "in_progress"})
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]


# --- categories -------------------------------------------------------------------------------

def test_officer_adds_and_removes_categories_with_reasons(api, officer, case):
    url = f"/api/cases/{case['id']}/categories"
    r = api.post(url, officer, {"category": 6, "action": "add", "reason": "市委书记批示"})
    assert r.status_code == 200
    found = {c["category"]: c for c in r.get_json()["categories"]}
    assert found[6]["source"] == "officer" and found[6]["reason"] == "市委书记批示"
    ev = last_event(api, officer, case["id"])
    assert ev["type"] == "case.classified"
    assert {"category": 6, "source": "officer", "reason": "市委书记批示",
            "name": "上级交办、领导批示、社会高度关注"} in ev["data"]["categories"]
    r = api.post(url, officer, {"category": 2, "action": "remove", "reason": "已不属于民生领域"})
    assert [c["category"] for c in r.get_json()["categories"]] == [6]
    lst = api.get("/api/cases?category=2", officer).get_json()
    assert lst["total"] == 0
    assert api.get("/api/cases?category=6", officer).get_json()["total"] == 1


def test_category_override_conflicts_and_validation(api, officer, case):
    url = f"/api/cases/{case['id']}/categories"
    r = api.post(url, officer, {"category": 2, "action": "add", "reason": "x"})
    assert r.status_code == 409 and r.get_json()["current_state"] == [2]
    r = api.post(url, officer, {"category": 4, "action": "remove", "reason": "x"})
    assert r.status_code == 409
    for body, field in (({"category": 7, "action": "add", "reason": "x"}, "category"),
                        ({"category": 1, "action": "toggle", "reason": "x"}, "action"),
                        ({"category": 1, "action": "add"}, "reason")):
        r = api.post(url, officer, body)
        assert r.status_code == 422 and field in r.get_json()["errors"]
    assert row_counts(api.app)["category_overrides"] == 0


# --- owner and contacts ---------------------------------------------------------------------

def test_the_owner_is_named_when_set_by_id_or_by_the_relationship(api, officer, case):
    """case_view skips the lead official's relationship only when it has neither."""
    from mediation.cases.models import Case
    from mediation.cases.present import case_view
    from mediation.extensions import db
    from mediation.users import User

    lead = api.user("lead_official", "510104")
    with api.app.app_context():
        c = db.session.get(Case, case["id"])
        assert case_view(c, detail=False)["owner"]["name"] is None
        with db.session.no_autoflush:
            c.lead_official = db.session.get(User, lead.id)
            assert c.lead_official_id is None  # not flushed: known by the relationship only
            assert case_view(c, detail=False)["owner"]["name"] == lead.display_name
        db.session.rollback()
    r = api.put(f"/api/cases/{case['id']}/owner", officer, {"lead_official_id": lead.id})
    assert r.status_code == 200 and r.get_json()["owner"]["name"] == lead.display_name


def test_assign_owner_at_the_suggested_level(api, officer, case):
    lead = api.user("lead_official", "510104")
    r = api.put(f"/api/cases/{case['id']}/owner", officer, {"lead_official_id": lead.id})
    assert r.status_code == 200
    owner = r.get_json()["owner"]
    assert (owner["lead_official_id"], owner["level"], owner["assigned_on"]) == (
        lead.id, "county", clock.today().isoformat())
    duties = {d["name"]: d for d in owner["duties"]}
    assert duties["progress_hearing"]["due_on"] == in_days(30)
    assert duties["petitioner_meeting"]["due_on"] == in_days(15)
    ev = last_event(api, officer, case["id"])
    assert ev["type"] == "case.owner_assigned"
    assert ev["data"]["suggested_level"] == "county" and ev["data"]["level"] == "county"
    # the owner now sees the case; another lead official still does not
    assert api.get(f"/api/cases/{case['id']}", lead).status_code == 200
    other = api.user("lead_official", "510104")
    assert api.get(f"/api/cases/{case['id']}", other).status_code == 404


def test_assign_owner_at_a_higher_level(api, officer):
    case = api.case(officer, flags=["cross_region"])
    assert case["owner"]["suggested_level"] == "province"
    province = api.user("lead_official", "51")
    r = api.put(f"/api/cases/{case['id']}/owner", officer, {"lead_official_id": province.id})
    assert r.status_code == 200 and r.get_json()["owner"]["level"] == "province"


def test_assign_owner_refusals(api, officer, case):
    url = f"/api/cases/{case['id']}/owner"
    county = api.user("lead_official", "510104")
    elsewhere = api.user("lead_official", "510105")
    mediator = api.user("mediator")
    for body, field in (({"lead_official_id": county.id, "level": "city"}, "level"),
                        ({"lead_official_id": elsewhere.id}, "lead_official_id"),
                        ({"lead_official_id": mediator.id}, "lead_official_id"),
                        ({"lead_official_id": 99999}, "lead_official_id"),
                        ({"lead_official_id": county.id, "level": "village"}, "level"),
                        ({"lead_official_id": county.id, "assigned_on": in_days(4)}, "assigned_on")):
        r = api.put(url, officer, body)
        assert r.status_code == 422, body
        assert field in r.get_json()["errors"]
    assert api.get(f"/api/cases/{case['id']}", officer).get_json()["last_seq"] == 2


def test_contacts_move_the_due_dates_and_clear_overdue(api, officer):
    case = api.case(officer, received_on=None, accepted_on=None)
    url = f"/api/cases/{case['id']}"
    r = api.post(f"{url}/contacts", officer, {"kind": "petitioner_meeting", "held_on": days_ago(1)})
    assert r.status_code == 409  # no owner yet
    lead = api.user("lead_official", "510104")
    r = api.put(f"{url}/owner", officer, {"lead_official_id": lead.id, "assigned_on": days_ago(40)})
    body = r.get_json()
    assert body["overdue"] is True
    assert {d["name"]: d["state"] for d in body["owner"]["duties"]} == {
        "progress_hearing": "overdue", "petitioner_meeting": "overdue"}
    assert api.get("/api/cases?overdue=true", officer).get_json()["total"] == 1
    # the owner records their own meeting; the officer records the hearing
    r = api.post(f"{url}/contacts", lead, {"kind": "petitioner_meeting", "held_on": days_ago(2),
                                           "note": "到村里约谈"})
    assert r.status_code == 201
    duties = {d["name"]: d for d in r.get_json()["owner"]["duties"]}
    assert (duties["petitioner_meeting"]["due_on"], duties["petitioner_meeting"]["state"]) == (
        in_days(13), "running")
    assert r.get_json()["overdue"] is True
    r = api.post(f"{url}/contacts", officer, {"kind": "progress_hearing", "held_on": days_ago(0)})
    assert r.status_code == 201
    assert r.get_json()["overdue"] is False
    assert [c["kind"] for c in r.get_json()["dossier"]["contacts"]] == [
        "petitioner_meeting", "progress_hearing"]
    assert api.get("/api/cases?overdue=true", officer).get_json()["total"] == 0
    assert api.get("/api/cases?overdue=false", officer).get_json()["total"] == 1
    ev = last_event(api, officer, case["id"])
    assert ev["type"] == "owner.contact_recorded" and ev["data"]["owner_id"] == lead.id


def test_contact_validation(api, officer, case):
    lead = api.user("lead_official", "510104")
    url = f"/api/cases/{case['id']}"
    api.put(f"{url}/owner", officer, {"lead_official_id": lead.id})
    for body, field in (({"kind": "petitioner_meeting", "held_on": in_days(3)}, "held_on"),
                        ({"kind": "dinner", "held_on": days_ago(1)}, "kind"),
                        ({"kind": "progress_hearing"}, "held_on")):
        r = api.post(f"{url}/contacts", officer, body)
        assert r.status_code == 422 and field in r.get_json()["errors"], body
    assert row_counts(api.app)["owner_contacts"] == 0


# --- extension of the handling clock -------------------------------------------------------

def test_extension_once_with_approver_and_reason(api, officer):
    case = api.case(officer, received_on=days_ago(20), accepted_on=days_ago(15))
    url = f"/api/cases/{case['id']}/extension"
    handling = {c["name"]: c for c in case["clocks"]}["handling"]
    assert handling["due_on"] == in_days(45)
    r = api.post(url, officer, {"days": 31, "approver": "区信访局 局长", "reason": "需补充调查"})
    assert r.status_code == 422 and r.get_json()["errors"] == {"days": ["between 1 and 30"]}
    r = api.post(url, officer, {"days": 0, "approver": "区信访局 局长", "reason": "需补充调查"})
    assert r.status_code == 422
    r = api.post(url, officer, {"days": 30, "approver": "区信访局 局长", "reason": "需补充调查"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["extension"] == {"days": 30, "approver": "区信访局 局长", "reason": "需补充调查"}
    handling = {c["name"]: c for c in body["clocks"]}["handling"]
    assert (handling["due_on"], handling["days_left"]) == (in_days(75), 75)
    ev = last_event(api, officer, case["id"])
    assert ev["type"] == "clock.extended"
    assert ev["data"] == {"clock": "handling", "days": 30, "approver": "区信访局 局长",
                          "reason": "需补充调查"}
    r = api.post(url, officer, {"days": 5, "approver": "市信访局", "reason": "再延"})
    assert r.status_code == 409
    assert r.get_json()["current_state"] == {"extension_days": 30}
    assert api.get(f"/api/cases/{case['id']}", officer).get_json()["extension"]["days"] == 30


def test_extension_needs_a_running_handling_clock(api, officer):
    case = api.case(officer, received_on=days_ago(3), accepted_on=None)
    r = api.post(f"/api/cases/{case['id']}/extension", officer,
                 {"days": 10, "approver": "局长", "reason": "x"})
    assert r.status_code == 409
    r = api.post(f"/api/cases/{case['id']}/extension", officer, {"days": 10})
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"approver", "reason"}


# --- investigations and petitioners ---------------------------------------------------------

def test_add_investigation_record(api, officer, case):
    url = f"/api/cases/{case['id']}/investigations"
    r = api.post(url, officer, {"method": "on_site_check", "conducted_on": days_ago(2),
                                "investigators": "王干部、李干部", "findings": "实地核查地上附着物"})
    assert r.status_code == 201
    [record] = r.get_json()["dossier"]["investigations"]
    assert (record["method"], record["findings"]) == ("on_site_check", "实地核查地上附着物")
    ev = last_event(api, officer, case["id"])
    assert ev["type"] == "dossier.investigation_added"
    assert ev["data"]["investigation_id"] == record["id"]
    for body, field in (({"method": "guesswork", "conducted_on": days_ago(1), "findings": "x"}, "method"),
                        ({"method": "face_to_face", "conducted_on": in_days(2), "findings": "x"},
                         "conducted_on"),
                        ({"method": "face_to_face", "conducted_on": days_ago(1)}, "findings")):
        r = api.post(url, officer, body)
        assert r.status_code == 422 and field in r.get_json()["errors"], body
    assert row_counts(api.app)["investigations"] == 1


def test_add_petitioner_updates_needs(api, officer, case):
    r = api.post(f"/api/cases/{case['id']}/petitioners", officer, {
        "name": "李四", "id_number": "51010419900202567x", "phone": "028-85551234",
        "groups": ["disabled", "emotional"]})
    assert r.status_code == 201
    p = r.get_json()
    assert (p["id_number"], p["phone"]) == ("****************7X", "*******1234")
    ev = last_event(api, officer, case["id"])
    assert ev["type"] == "petitioner.added" and ev["data"]["id_number"] == "****************7X"
    body = api.get(f"/api/cases/{case['id']}", officer).get_json()
    assert body["needs"] == ["counselling", "group_support"]
    assert [x["name"] for x in body["petitioners"]] == ["张三", "李四"]
    r = api.post(f"/api/cases/{case['id']}/petitioners", officer, {"name": "王五", "phone": "110"})
    assert r.status_code == 422 and "phone" in r.get_json()["errors"]


# --- timeline ----------------------------------------------------------------------------------

def test_timeline_after_a_sequence_number(api, officer, case):
    for i in range(3):
        api.post(f"/api/cases/{case['id']}/investigations", officer, {
            "method": "archive_review", "conducted_on": days_ago(1), "findings": f"第{i}次"})
    r = api.get(f"/api/cases/{case['id']}/timeline", officer)
    body = r.get_json()
    assert [e["seq"] for e in body["events"]] == [1, 2, 3, 4, 5]
    assert (body["last_seq"], body["has_more"]) == (5, False)
    assert [e["seq"] for e in timeline(api, officer, case["id"], after=3)] == [4, 5]
    assert timeline(api, officer, case["id"], after=5) == []
    r = api.get(f"/api/cases/{case['id']}/timeline?after=1&limit=2", officer)
    body = r.get_json()
    assert [e["seq"] for e in body["events"]] == [2, 3] and body["has_more"] is True
    first = timeline(api, officer, case["id"])[0]
    assert set(first) == {"case_id", "seq", "type", "at", "actor", "data"}
    assert first["at"].endswith("Z")
    for q in ("after=-1", "limit=0", "after=x", "since=3"):
        r = api.get(f"/api/cases/{case['id']}/timeline?{q}", officer)
        assert r.status_code == 422, q


# --- every endpoint without a token, and every error as JSON -------------------------------

ENDPOINTS = [
    ("GET", "/api/cases"), ("POST", "/api/cases"), ("GET", "/api/cases/{id}"),
    ("PATCH", "/api/cases/{id}"), ("POST", "/api/cases/{id}/status"),
    ("POST", "/api/cases/{id}/categories"), ("PUT", "/api/cases/{id}/owner"),
    ("POST", "/api/cases/{id}/contacts"), ("POST", "/api/cases/{id}/extension"),
    ("POST", "/api/cases/{id}/investigations"), ("POST", "/api/cases/{id}/petitioners"),
    ("POST", "/api/cases/{id}/petitioners/{pid}/reveal"), ("POST", "/api/petitioners/search"),
    ("GET", "/api/cases/{id}/timeline"), ("GET", "/api/auth/me"), ("DELETE", "/api/auth/tokens"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_every_endpoint_needs_a_token(api, officer, case, method, path):
    url = path.format(id=case["id"], pid=case["petitioners"][0]["id"])
    for headers in ({}, {"Authorization": "Bearer med_not-a-token"},
                    {"Authorization": f"Basic {api.tokens[officer.id]}"}):
        r = api.client.open(url, method=method, json={}, headers=headers)
        assert r.status_code == 401, (headers, r.status_code)
        assert r.is_json and r.get_json()["code"] == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_paths_and_methods_are_json(api, officer):
    for method, url in (("GET", "/api/nothing"), ("DELETE", "/api/cases"), ("PUT", "/api/cases/1")):
        r = api.call(method, url, officer)
        assert r.status_code in (404, 405) and r.is_json, (method, url)

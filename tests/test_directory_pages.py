"""The directory on pages, with Flask's test client and CSRF on: admins and supervisors list,
search, add, change and deactivate providers and decide capacity requests; a provider's
members set availability, leave, specialities and ask for a capacity on "我的服务设置" — each
form through the API's schema and command, refusals beside their fields in Chinese or
English; 404 for every role the pages are not for. And the same self-service through the API."""

from __future__ import annotations

import re

import pytest

from mediation.extensions import db
from mediation.users import User, issue_token
from referrals.models import Provider
from tests.factories import World, make_provider, make_user
from tests.page_client import PageClient


@pytest.fixture
def world(app, csrf_on) -> World:
    with app.app_context():
        users = {
            "admin": make_user("admin"),
            "supervisor": make_user("supervisor", "51"),
            "far_supervisor": make_user("supervisor", "11"),
            "officer": make_user("case_officer", "510104"),
            "mediator": make_user("mediator"),
            "lawyer": make_user("lawyer"),
            "free_lawyer": make_user("lawyer"),
            "evaluator": make_user("evaluator"),
            "party": make_user("party"),
        }
        med = make_provider("mediator", members=(users["mediator"],), name="锦江区人民调解委员会", capacity=3)
        law = make_provider("lawyer", members=(users["lawyer"],), name="某律师事务所", regions=("51",))
        w = World(users, med=med.id, law=law.id)
        db.session.expunge_all()
        db.session.remove()
    return w


def as_(app, w: World, who: str) -> PageClient:
    return PageClient(app).sign_in(w.users[who].username)


def provider(app, pid: int) -> Provider:
    with app.app_context():
        p = db.session.get(Provider, pid)
        db.session.expunge(p)
        return p


def field_error(html: str, name: str) -> str:
    m = re.search(rf'id="{name}-error"[^>]*>([^<]*)<', html)
    assert m, f"an error beside {name}"
    return m.group(1)


# --- who may open what ---------------------------------------------------------------------------

def test_pages_by_role_and_404_for_the_others(app, world):
    w = world
    for who in ("admin", "supervisor"):
        page = as_(app, w, who)
        listing = page.text("/providers")
        assert "锦江区人民调解委员会" in listing and 'id="new-provider"' in listing
        assert page.get("/providers/new").status_code == 200
        assert page.get(f"/providers/{w.med}/edit").status_code == 200
        assert "服务力量名录" in page.text("/")  # the link in the top bar
    # A case officer reads the directory; no changes.
    officer = as_(app, w, "officer")
    listing = officer.text("/providers")
    assert "锦江区人民调解委员会" in listing and 'id="new-provider"' not in listing
    for path in ("/providers/new", f"/providers/{w.med}/edit", "/my-provider"):
        assert officer.get(path).status_code == 404, path
    assert officer.post(f"/providers/{w.med}/active", {"active": "0"}, "/providers").status_code == 404
    # Providers' members: their own settings only.
    mediator = as_(app, w, "mediator")
    assert "我的服务设置" in mediator.text("/")
    for path in ("/providers", "/providers/new", f"/providers/{w.med}/edit", f"/providers/{w.law}/edit"):
        assert mediator.get(path).status_code == 404, path
    assert mediator.post(f"/providers/{w.med}/capacity-request", {"decision": "grant"},
                         "/my-provider").status_code == 404
    for who in ("evaluator", "party"):
        page = as_(app, w, who)
        for path in ("/providers", "/providers/new", f"/providers/{w.med}/edit", "/my-provider"):
            assert page.get(path).status_code == 404, (who, path)
    # Unknown provider: 404 for an editor too.
    assert as_(app, w, "admin").get("/providers/999999/edit").status_code == 404
    # A provider's user not yet in any provider: the page says so.
    assert "尚未加入任何服务机构" in as_(app, w, "free_lawyer").text("/my-provider")


def test_search_and_filters(app, world):
    w = world
    admin = as_(app, w, "admin")
    found = admin.text("/providers?q=律师")
    assert "某律师事务所" in found and "锦江区人民调解委员会" not in found
    assert "锦江区人民调解委员会" not in admin.text("/providers?kind=lawyer")
    assert "某律师事务所" not in admin.text("/providers?region=110101")
    assert "锦江区人民调解委员会" in admin.text("/providers?region=510104")
    bad = admin.get("/providers?kind=wizard")
    assert bad.status_code == 422 and "请选择列表中的一项" in field_error(bad.get_data(as_text=True), "kind")


# --- add, change, deactivate ---------------------------------------------------------------------

def test_an_admin_adds_a_provider_and_refusals_are_beside_their_fields(app, world):
    w = world
    admin = as_(app, w, "admin")
    # The schema first: a capacity out of range.
    r = admin.post("/providers/new", {"name": "新调解室", "kind": "mediator", "regions": "5101",
                                      "capacity": "2000", "available": "1"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert field_error(html, "capacity") and 'value="新调解室"' in html  # what was typed is kept
    # Then the command: a mediator without a mediation type, a lawyer's account as its member.
    r = admin.post("/providers/new", {"name": "新调解室", "kind": "mediator", "regions": "5101",
                                      "available": "1", "user_ids": str(w.users["lawyer"].id),
                                      "user_ids-present": "1"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "调解员须选择调解类型" in field_error(html, "mediation_type")
    assert "律师账号不能代表调解员" in field_error(html, "user_ids")
    assert "已代表另一服务力量" in field_error(html, "user_ids")
    r = admin.post("/providers/new", {"name": "新调解室", "kind": "mediator", "mediation_type": "people",
                                      "regions": "5101", "capacity": "4", "available": "1",
                                      "specialities": ["education", "healthcare"],
                                      "specialities-present": "1",
                                      "conflicts": "张三\n某公司", "conflicts-present": "1"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    pid = int(re.search(r"/providers/(\d+)/edit", r.headers["Location"])[1])
    p = provider(app, pid)
    assert (p.name, p.kind, p.capacity, p.available) == ("新调解室", "mediator", 4, True)
    assert sorted(p.specialities) == ["education", "healthcare"] and p.conflicts == ["张三", "某公司"]
    # An unknown speciality (the schema's check of each item): beside the checkboxes.
    r = admin.post("/providers/new", {"name": "y", "kind": "lawyer", "regions": "5101",
                                      "specialities": ["magic"], "specialities-present": "1"})
    assert r.status_code == 422 and field_error(r.get_data(as_text=True), "specialities")
    # The same refusal in English.
    admin.get("/lang/en")
    r = admin.post("/providers/new", {"name": "x", "kind": "lawyer", "mediation_type": "people",
                                      "regions": "5101"})
    assert r.status_code == 422
    assert "Only mediators have a mediation type" in field_error(r.get_data(as_text=True), "mediation_type")


def test_editors_change_and_deactivate_within_their_jurisdiction(app, world):
    w = world
    sup = as_(app, w, "supervisor")
    path = f"/providers/{w.med}/edit"
    form = sup.text(path)
    assert 'value="锦江区人民调解委员会"' in form
    r = sup.post(path, {"name": "锦江区人民调解委员会（新）", "kind": "mediator", "mediation_type": "people",
                        "regions": "510104", "capacity": "6", "away_until": "", "available": "0",
                        "user_ids": str(w.users["mediator"].id), "user_ids-present": "1",
                        "conflicts": "", "conflicts-present": "1", "note": ""})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    p = provider(app, w.med)
    assert (p.name, p.capacity, p.available) == ("锦江区人民调解委员会（新）", 6, False)
    # A region outside the supervisor's jurisdiction: beside the field.
    r = sup.post(path, {"name": "x", "kind": "mediator", "mediation_type": "people", "regions": "1101"})
    assert r.status_code == 422 and "超出您的辖区" in field_error(r.get_data(as_text=True), "regions")
    # Deactivate: no new offers; then back.
    r = sup.post(f"/providers/{w.med}/active", {"active": "0"}, path)
    assert r.status_code == 302 and provider(app, w.med).active is False
    assert "已停用" in sup.text(path) and 'id="reactivate"' in sup.text(path)
    assert "锦江区人民调解委员会" not in sup.text("/providers?active=true")
    sup.post(f"/providers/{w.med}/active", {"active": "1"}, path)
    assert provider(app, w.med).active is True
    # A supervisor of another province cannot change it (the provider is outside: refused, unchanged).
    far = as_(app, w, "far_supervisor")
    r = far.post(path, {"name": "改名", "kind": "mediator", "mediation_type": "people", "regions": "510104"})
    assert r.status_code == 403 and "超出您的辖区" in r.get_data(as_text=True)
    far.post(f"/providers/{w.med}/active", {"active": "0"}, path)
    assert provider(app, w.med).active is True and provider(app, w.med).name != "改名"


# --- the members' own settings and capacity requests ------------------------------------------------

def test_a_member_sets_availability_leave_specialities_and_asks_for_capacity(app, world):
    w = world
    me = as_(app, w, "mediator")
    page = me.text("/my-provider")
    assert "锦江区人民调解委员会" in page and 'name="capacity"' not in page and 'name="name"' not in page
    r = me.post("/my-provider", {"available": "0", "away_until": "2031-02-30",
                                 "specialities": ["education"], "specialities-present": "1"})
    assert r.status_code == 422 and field_error(r.get_data(as_text=True), "away_until")
    r = me.post("/my-provider", {"available": "0", "away_until": "2031-02-28", "requested_capacity": "5000",
                                 "specialities": ["education"], "specialities-present": "1"})
    assert r.status_code == 422 and field_error(r.get_data(as_text=True), "requested_capacity")
    r = me.post("/my-provider", {"available": "0", "away_until": "2031-02-28", "requested_capacity": "8",
                                 "capacity_request_note": "新增两名调解员",
                                 "specialities": ["education", "healthcare"], "specialities-present": "1"})
    assert r.status_code == 302
    p = provider(app, w.med)
    assert (p.available, p.away_until.isoformat(), sorted(p.specialities)) == (False, "2031-02-28",
                                                                               ["education", "healthcare"])
    assert (p.capacity, p.requested_capacity, p.capacity_request_note) == (3, 8, "新增两名调解员")
    assert "等待管理员审核" in me.text("/my-provider")
    # A form posting a field that is not the member's (capacity) is refused by the command.
    r = me.post("/my-provider", {"available": "1", "capacity": "50"})
    assert r.status_code == 302 and provider(app, w.med).capacity == 3  # not a field of the form's schema
    # The admin sees the request and grants it.
    admin = as_(app, w, "admin")
    assert "有 1 个承接量调整申请待处理" in admin.text("/providers")
    edit = admin.text(f"/providers/{w.med}/edit")
    assert "成员申请将承接量调整为 8 件" in edit and "新增两名调解员" in edit
    # Saving the form with the capacity unchanged leaves the request pending.
    r = admin.post(f"/providers/{w.med}/edit", {"name": "锦江区人民调解委员会", "kind": "mediator",
                                                "mediation_type": "people", "regions": "510104",
                                                "capacity": "3", "available": "0"})
    assert r.status_code == 302 and provider(app, w.med).requested_capacity == 8
    admin.post(f"/providers/{w.med}/capacity-request", {"decision": "grant"}, f"/providers/{w.med}/edit")
    p = provider(app, w.med)
    assert (p.capacity, p.requested_capacity) == (8, None)
    # Asked again and refused: the capacity stays.
    me.post("/my-provider", {"available": "1", "requested_capacity": "20"})
    admin.post(f"/providers/{w.med}/capacity-request", {"decision": "refuse"}, f"/providers/{w.med}/edit")
    p = provider(app, w.med)
    assert (p.capacity, p.requested_capacity, p.available) == (8, None, True)
    # Leave cleared by a blank date.
    me.post("/my-provider", {"available": "1", "away_until": ""})
    assert provider(app, w.med).away_until is None


def test_the_member_self_service_through_the_api(api, app, world):
    w = world
    pid = w.med
    me, admin = w.users["mediator"], w.users["admin"]
    with app.app_context():
        for user in (me, admin, w.users["lawyer"]):
            api.tokens[user.id], _ = issue_token(db.session.get(User, user.id))
        db.session.commit()
    r = api.patch(f"/api/providers/{pid}", me, {"specialities": ["education"], "requested_capacity": 6,
                                                "capacity_request_note": "人手增加"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["specialities"] == ["education"] and body["requested_capacity"] == 6
    assert body["capacity_requested_at"] and body["capacity"] == 3
    assert api.patch(f"/api/providers/{pid}", me, {"specialities": ["magic"]}).status_code == 422
    assert api.patch(f"/api/providers/{pid}", me, {"requested_capacity": -1}).status_code == 422
    assert api.patch(f"/api/providers/{pid}", me, {"capacity": 6}).status_code == 403
    assert api.patch(f"/api/providers/{pid}", me, {"regions": ["51"]}).status_code == 403
    # Another provider's member: 404.
    assert api.patch(f"/api/providers/{pid}", w.users["lawyer"], {"available": False}).status_code == 404
    # The editor decides by setting the capacity: the request is cleared.
    r = api.patch(f"/api/providers/{pid}", admin, {"capacity": 5})
    assert r.status_code == 200
    assert (r.get_json()["capacity"], r.get_json()["requested_capacity"]) == (5, None)

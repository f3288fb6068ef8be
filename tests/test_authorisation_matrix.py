"""Every API operation, as every role and anonymously, on an object the caller may see and
on one they may not: the status each gets.

The operations come from `/api/openapi.json`; each must have a row in `OPS` (a new route
fails this test until it is given one). A row names the permission table's `Action` when
the route is decided by it — the expected status for each role is then computed from the
table — or else the roles the route lets through. Roles that see the object but may not act
get `refused` (403, or 404 where the route hides the object itself); roles that do not see
it get 404; anonymous callers 401.

One world is built per module: two cases with every kind of object on them — side "A" in
锦江区 (510104), seen by one user of each role, and side "B" in 贵阳 (520102), seen by no one
of them but the admin. The database is snapshotted once; a call that changed something (a
2xx answer to a write) is followed by restoring the snapshot, so no call sees another's
effects.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from mediation import clock
from mediation.cases.models import Case
from mediation.departments.models import Handover
from mediation.extensions import db
from mediation.permissions import Action, can, can_view_case, roles_for
from mediation.users import Role, User, issue_token
from referrals import lifecycle
from tests.factories import (
    Api,
    World,
    case_payload,
    complete_content,
    later,
    make_provider,
    make_user,
    pdf_bytes,
    upload,
)

ROLES = [r.value for r in Role]
CALLERS = [*ROLES, "anonymous"]


# --- the world -------------------------------------------------------------------------------

def _day(offset: int) -> str:
    """A day from the service's today (Beijing), which the commands check dates against."""
    return (clock.today() + dt.timedelta(days=offset)).isoformat()


def _side(api: Api, region: str, people: dict[str, User] | None) -> World:
    """A case in `region` with a referral of every kind, a session, agreements in three
    states, a performance item, a counselling note, an opinion, a message, an inspection with
    a rectification and a survey link. `people` (one user per role) are the case's own."""
    app = api.app
    with app.app_context():
        u = people or {
            "case_officer": make_user("case_officer", region), "supervisor": make_user("supervisor", region),
            "lead_official": make_user("lead_official", region), "mediator": make_user("mediator"),
            "lawyer": make_user("lawyer"), "counsellor": make_user("counsellor"),
            "mass_org": make_user("mass_org"), "party": make_user("party"),
            "department": make_user("department", region),
        }
        providers = {
            "mediator": make_provider("mediator", regions=(region,), members=(u["mediator"],)),
            "lawyer": make_provider("lawyer", regions=(region,), members=(u["lawyer"],),
                                    specialities=["land_demolition"]),
            "counsellor": make_provider("counsellor", regions=(region,), members=(u["counsellor"],)),
            "mass_org": make_provider("deputy", regions=(region,), members=(u["mass_org"],)),
        }
        ids = {k: p.id for k, p in providers.items()}
        for user in u.values():
            if user.id not in api.tokens:
                api.tokens[user.id], _ = issue_token(user)
        db.session.commit()
        for user in u.values():
            db.session.expunge(user)
        db.session.remove()

    def call(method: str, path: str, who: str, body: Any = None, ok: tuple[int, ...] = (200, 201)):
        r = api.call(method, path, u[who], json=body if body is not None or method == "GET" else {})
        assert r.status_code in ok, (method, path, who, r.status_code, r.get_json())
        return r.get_json() if r.is_json else None

    department = call("POST", "/api/departments", "supervisor", {
        "name": "区住建局", "kind": "housing", "region_code": region, "user_ids": [u["department"].id]})
    needs = ["economic_compensation", "legal_opinion", "counselling", "neutral_participation"]
    case = call("POST", "/api/cases", "case_officer", case_payload(
        region_code=region, needs=needs,
        petitioners=[{"name": "张三", "id_number": f"{region}198001011234", "phone": "13800138000"}]))
    cid = case["id"]
    call("PUT", f"/api/cases/{cid}/owner", "case_officer", {"lead_official_id": u["lead_official"].id})
    document = upload(api, u["case_officer"], cid, [("证据.pdf", pdf_bytes())]).get_json()[0]
    referrals: dict[str, int] = {}
    with app.app_context():
        officer = db.session.get(User, u["case_officer"].id)
        for need, kind in zip(needs, ("mediator", "lawyer", "counsellor", "mass_org"), strict=True):
            r = lifecycle.request_referral(officer, cid, need, provider_id=ids[kind])
            referrals[kind] = r.id
            if kind != "mass_org":  # the neutral participant's offer stays open
                lifecycle.accept(db.session.get(User, u[kind].id), r.id)
        db.session.remove()
    # People's mediation starts only with the parties' consent: the petitioner's, on paper.
    call("POST", f"/api/cases/{cid}/consents", "case_officer",
         {"petitioner_id": case["petitioners"][0]["id"], "method": "written"})
    session = call("POST", f"/api/cases/{cid}/sessions", "mediator", {
        "scheduled_at": later(), "place": "调解室", "topic": "补偿款",
        "petitioner_ids": [case["petitioners"][0]["id"]], "user_ids": [u["lawyer"].id],
        "invited_provider_ids": [ids["mass_org"]]})
    content = complete_content()
    content["parties"][1]["user_id"] = u["party"].id  # the respondent signs through an account
    draft = call("POST", f"/api/cases/{cid}/agreements", "mediator", content)
    final = call("POST", f"/api/cases/{cid}/agreements", "mediator", content)
    call("POST", f"/api/agreements/{final['id']}/finalise", "mediator")
    effective = call("POST", f"/api/cases/{cid}/agreements", "mediator", content)
    call("POST", f"/api/agreements/{effective['id']}/finalise", "mediator")
    call("POST", f"/api/agreements/{effective['id']}/sign", "case_officer",
         {"signer": "party", "party_index": 0, "method": "hand"})
    call("POST", f"/api/agreements/{effective['id']}/sign", "party",
         {"signer": "party", "party_index": 1, "method": "account"})
    call("POST", f"/api/agreements/{effective['id']}/sign", "mediator",
         {"signer": "mediator", "method": "account"})
    item = call("POST", f"/api/agreements/{effective['id']}/performance", "mediator", {
        "kind": "payment", "description": "补发补偿款", "obligor": "区自然资源局",
        "amount": "50000.00", "due_on": _day(20)})
    note = call("POST", f"/api/cases/{cid}/counselling-notes", "counsellor", {
        "session_on": _day(-1), "risk_level": "low", "content": "情绪平稳"})
    call("POST", f"/api/cases/{cid}/opinions", "lawyer", {
        "summary": "补偿标准偏低", "legal_basis": [{"law": "土地管理法", "article": "第四十八条"}],
        "recommendation": "补足差额"})
    message = call("POST", f"/api/cases/{cid}/messages", "case_officer", {"body": "请各方本周反馈"})
    inspection = call("POST", "/api/reports/inspections", "supervisor", {
        "case_id": cid, "inspected_on": _day(-1), "responsibility_in_place": True,
        "truly_resolved": False, "procedure_regular": True, "file_complete": True})
    rect = call("POST", "/api/reports/rectifications", "supervisor", {
        "case_id": cid, "inspection_id": inspection["id"], "requirement": "补齐档案",
        "due_on": _day(10)})
    survey = call("POST", f"/api/cases/{cid}/surveys", "supervisor", {})
    # oversight: the lead official answers for the region and is on the task force; an order
    call("PUT", f"/api/regions/{region}/responsibles/direct", "supervisor",
         {"user_id": u["lead_official"].id})
    call("POST", f"/api/cases/{cid}/task-force", "case_officer", {"user_id": u["lead_official"].id,
                                                                  "role": "leader"})
    order = call("POST", f"/api/cases/{cid}/orders", "supervisor", {"requirement": "限期办结",
                                                                    "due_on": _day(5)})
    with app.app_context():  # a hand-over to the department, two days late
        late = Handover(case_id=cid, department_id=department["id"], matter="核实补偿标准",
                        due_on=clock.today() - dt.timedelta(days=2), status="sent")
        db.session.add(late)
        db.session.commit()
        late_handover_id = late.id
        db.session.remove()
    visit = call("GET", f"/api/cases/{cid}/visits", "case_officer")[0]  # scheduled by the effect
    handover = call("POST", f"/api/cases/{cid}/handovers", "case_officer", {
        "department_ids": [department["id"]], "matter": "住房安置", "ask": "核实安置房交付",
        "due_on": _day(10)})[0]
    return World(u, case_id=cid, petitioner_id=case["petitioners"][0]["id"],
                 session_id=session["id"], draft_id=draft["id"], final_id=final["id"],
                 effective_id=effective["id"], item_id=item["id"], note_id=note["id"],
                 seq=message["seq"], rect_id=rect["id"], token=survey["token"],
                 provider_id=ids["mediator"], referral_id=referrals["mediator"],
                 offer_id=referrals["mass_org"], providers=ids, referrals=referrals,
                 document_id=document["id"], visit_id=visit["id"], lawyer_id=u["lawyer"].id,
                 department_id=department["id"], region_code=region, kind="direct",
                 member_id=u["lead_official"].id, order_id=order["id"],
                 handover_id=handover["id"], late_handover_id=late_handover_id)



# --- the table ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """How to call an operation and what each caller gets.

    `ok`: the status of a caller let through (a 409 or 422 past the check is still "let
    through": the body or the object's state, not the caller, decides). Who is let through:
    `action` (the permission table, asked about the side's case) or `allow` (roles, on side
    A; on side B only the admin, who sees every case). `refused`: the status of a caller
    who sees the object but is not let through. `sees`: the roles that see the object, when
    that is not "whoever sees its case". `scope`: "case" (an object of side A or B), "none"
    (no object: one call per caller), "public" (no sign-in)."""

    ok: int
    body: Any = None
    action: Action | None = None
    allow: str = ""
    refused: int = 403
    sees: str | None = None
    scope: str = "case"
    query: str = ""
    b_ok: int | None = None  # the admin's status on side B, when its object's state differs
    b_allow: str | None = None  # who is let through on side B (default: the admin, if on A)
    b_sees: str | None = None  # who sees side B's object, when `sees` is given (default: admin)
    # A role the route never lets through is told so (403) before the object is looked up:
    # the answer is the same for any id, so it says nothing about the object.
    role_first: bool = False
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> the side's attribute


def _visit() -> dict[str, Any]:
    return {"visited_on": _day(0), "method": "phone", "visited_whom": "信访人", "findings": "已履行",
            "honoured": "yes", "satisfaction": 4}


def staff(*extra: str) -> str:
    return " ".join(("admin", "supervisor", "case_officer", "lead_official", *extra))


PROVIDERS = "mediator lawyer counsellor mass_org"
EVERYONE = " ".join(ROLES)
RUNNERS = "admin case_officer mediator"  # who runs a session: the case's officers, its mediator
IN_SESSION = staff("mediator lawyer mass_org")

OPS: dict[str, Op] = {
    # --- auth
    "POST /api/auth/tokens": Op(201, lambda s, w: {"username": w.admin.username,
                                                  "password": "Test-pass-123!"}, scope="public"),
    "DELETE /api/auth/tokens": Op(204, scope="none", allow=EVERYONE),
    "GET /api/auth/me": Op(200, scope="none", allow=EVERYONE),
    # --- user accounts: side A's party account, and on side B one that does not exist; to
    # anyone but an admin no account exists
    "POST /api/users/{user_id}/deactivate": Op(200, action=Action.USER_MANAGE, refused=404, b_ok=404),
    "POST /api/users/{user_id}/revoke-tokens": Op(200, action=Action.USER_MANAGE, refused=404, b_ok=404),
    # --- one's own notifications: everyone signed in has a list; others' ids mark nothing
    "GET /api/notifications": Op(200, scope="none", allow=EVERYONE),
    "GET /api/notifications/unread-count": Op(200, scope="none", allow=EVERYONE),
    "POST /api/notifications/read": Op(200, {"all": True}, scope="none", allow=EVERYONE),
    "GET /api/notifications/preferences": Op(200, scope="none", allow=EVERYONE),
    "PUT /api/notifications/preferences": Op(200, {"channels": []}, scope="none", allow=EVERYONE),
    "GET /api/notifications/deliveries": Op(200, scope="none", action=Action.DELIVERIES_READ),
    "POST /api/cases/{case_id}/receipts": Op(201, lambda s, w: {"petitioner_id": s.petitioner_id},
                                             action=Action.CASE_EDIT),
    "GET /api/cases/{case_id}/parties": Op(200, action=Action.CASE_INTERNAL),
    "POST /api/cases/{case_id}/respondents": Op(201, {"name": "李四", "unit": "区自然资源局",
                                                      "phone": "13900139000"}, action=Action.CASE_EDIT),
    # (the world's petitioner consented at set-up: 409 past the check)
    "POST /api/cases/{case_id}/consents": Op(
        409, lambda s, w: {"petitioner_id": s.petitioner_id, "method": "written"}, action=Action.CASE_EDIT),
    # --- cases
    "GET /api/cases": Op(200, scope="none", allow=EVERYONE),
    "POST /api/cases": Op(201, lambda s, w: case_payload(), scope="none", action=Action.CASE_CREATE),
    "GET /api/cases/{case_id}": Op(200, action=Action.CASE_VIEW),
    "PATCH /api/cases/{case_id}": Op(200, {"title": "改个标题"}, action=Action.CASE_EDIT),
    "POST /api/cases/{case_id}/status": Op(200, {"status": "in_progress", "reason": "开始"},
                                           action=Action.CASE_TRANSITION),
    "POST /api/cases/{case_id}/categories": Op(200, {"category": 6, "action": "add", "reason": "批示"},
                                               action=Action.CASE_CLASSIFY),
    "POST /api/cases/{case_id}/action-listing": Op(200, {"reason": "上级交办"}, action=Action.CASE_CLASSIFY),
    "DELETE /api/cases/{case_id}/action-listing": Op(409, {"reason": "纳入有误"},
                                                     action=Action.CASE_CLASSIFY),
    "PUT /api/cases/{case_id}/owner": Op(200, lambda s, w: {"lead_official_id": s.lead_official.id},
                                         action=Action.CASE_ASSIGN_OWNER),
    "POST /api/cases/{case_id}/contacts": Op(201, {"kind": "progress_hearing", "held_on": _day(-1)},
                                             action=Action.CASE_RECORD_CONTACT),
    "POST /api/cases/{case_id}/extension": Op(200, {"days": 10, "approver": "局长", "reason": "复杂"},
                                              action=Action.CASE_EXTEND_CLOCK),
    "POST /api/cases/{case_id}/investigations": Op(201, {
        "method": "archive_review", "conducted_on": _day(-1), "findings": "调阅档案"},
        action=Action.CASE_INVESTIGATE),
    "POST /api/cases/{case_id}/petitioners": Op(201, {"name": "王五"}, action=Action.CASE_EDIT),
    "POST /api/cases/{case_id}/petitioners/{petitioner_id}/reveal": Op(
        200, {"reason": "核实身份"}, action=Action.CASE_REVEAL_PII),
    "POST /api/petitioners/search": Op(200, {"phone": "13800138000", "reason": "来访核对"},
                                       scope="none", action=Action.PII_SEARCH),
    "GET /api/cases/{case_id}/timeline": Op(200, action=Action.CASE_VIEW),
    "POST /api/cases/candidates": Op(200, {"region_code": "510104", "petitioners": [{"name": "张三"}]},
                                     scope="none", action=Action.CASE_CREATE),
    # into itself: past the check it is the case's state that refuses (409), nothing changes
    "POST /api/cases/{case_id}/merge": Op(409, lambda s, w: {"into": s.case_id, "reason": "同一事项"},
                                          action=Action.CASE_EDIT),
    # --- sessions: seen by the case's officials and the session's participants (the
    # mediator, the lawyer invited by account, the invited neutral participant's member)
    "GET /api/cases/{case_id}/sessions": Op(200, action=Action.CASE_VIEW),
    "POST /api/cases/{case_id}/sessions": Op(201, lambda s, w: {
        "scheduled_at": later(), "place": "调解室", "petitioner_ids": [s.petitioner_id],
        "mediator_id": s.mediator.id}, allow=RUNNERS),
    "GET /api/sessions/{session_id}": Op(200, allow=IN_SESSION, sees=IN_SESSION),
    "POST /api/sessions/{session_id}/start": Op(200, allow=RUNNERS, sees=IN_SESSION),
    "POST /api/sessions/{session_id}/end": Op(409, {"minutes": "笔录"}, allow=RUNNERS, sees=IN_SESSION),
    "POST /api/sessions/{session_id}/cancel": Op(200, {"reason": "改期"}, allow=RUNNERS, sees=IN_SESSION),
    "POST /api/sessions/{session_id}/postpone": Op(200, lambda s, w: {
        "scheduled_at": later(2), "reason": "当事人请假"}, allow=RUNNERS, sees=IN_SESSION),
    "POST /api/sessions/{session_id}/attendance": Op(
        409, {"attendance": [{"participant_id": 1, "attended": True}]}, allow=RUNNERS, sees=IN_SESSION),
    # Officials watch a session; only its participants are in the room.
    "POST /api/sessions/{session_id}/join": Op(409, allow="mediator lawyer mass_org", refused=404,
                                               sees=IN_SESSION),
    "GET /api/sessions/{session_id}/messages": Op(200, allow=IN_SESSION, sees=IN_SESSION),
    # A caucus: the mediator and the one side (the lawyer) only; the channel does not exist
    # for anyone else (the world's session is not in progress: a post is the state's 409)
    "GET /api/sessions/{session_id}/caucus/{user_id}/messages": Op(
        200, allow="mediator lawyer", refused=404, sees="mediator lawyer", b_allow="", b_sees="",
        ids={"user_id": "lawyer_id"}),
    "POST /api/sessions/{session_id}/caucus/{user_id}/messages": Op(
        409, {"body": "单独谈谈"}, allow="mediator lawyer", refused=404, sees="mediator lawyer",
        b_allow="", b_sees="", ids={"user_id": "lawyer_id"}),
    "GET /api/sessions/{session_id}/minutes": Op(200, allow=IN_SESSION, sees=IN_SESSION),
    "POST /api/sessions/{session_id}/messages": Op(409, {"body": "大家好"},
                                                   allow="admin case_officer mediator lawyer mass_org",
                                                   sees=IN_SESSION),
    # --- agreements
    "GET /api/cases/{case_id}/agreements": Op(200, action=Action.CASE_VIEW),
    "POST /api/cases/{case_id}/agreements": Op(201, lambda s, w: complete_content(), allow="mediator"),
    "GET /api/agreements/{agreement_id}": Op(200, allow=staff(PROVIDERS), ids={"agreement_id": "draft_id"}),
    # (a party reads the final agreements naming it, and is refused what it may not do there)
    "PATCH /api/agreements/{agreement_id}": Op(200, {"version": 1, "facts": "补充事实"}, allow="mediator",
                                               ids={"agreement_id": "draft_id"}),
    "POST /api/agreements/{agreement_id}/finalise": Op(200, allow="mediator"),
    "POST /api/agreements/{agreement_id}/sign": Op(
        200, {"signer": "party", "party_index": 0, "method": "hand"},
        allow="admin case_officer", sees=staff(PROVIDERS, "party"), ids={"agreement_id": "final_id"}),
    "GET /api/cases/{case_id}/performance": Op(200, action=Action.CASE_VIEW),
    "GET /api/agreements/{agreement_id}/performance": Op(200, allow=staff(PROVIDERS, "party"),
                                                          ids={"agreement_id": "effective_id"}),
    "POST /api/agreements/{agreement_id}/performance": Op(201, lambda s, w: {
        "kind": "action", "description": "书面道歉", "due_on": _day(5)},
        allow="admin case_officer mediator", sees=staff(PROVIDERS, "party"),
        ids={"agreement_id": "effective_id"}),
    "POST /api/performance/{item_id}/done": Op(200, {"evidence": "转账凭证"}, allow=RUNNERS),
    "POST /api/agreements/{agreement_id}/judicial-confirmation": Op(200, lambda s, w: {
        "applied_on": _day(0), "court": "锦江区人民法院"}, allow="admin case_officer",
        sees=staff(PROVIDERS, "party"), ids={"agreement_id": "effective_id"}),
    "POST /api/agreements/{agreement_id}/judicial-decision": Op(409, lambda s, w: {
        "decision": "confirmed", "decided_on": _day(0)}, allow="admin case_officer",
        sees=staff(PROVIDERS, "party"), ids={"agreement_id": "effective_id"}),
    # --- follow-up visits: officials read them, the agreement's mediator too; the case's
    # officers, its lead official and the mediator record them (an agreement is in effect)
    "GET /api/cases/{case_id}/visits": Op(200, allow=staff("mediator")),
    "POST /api/cases/{case_id}/visits": Op(201, lambda s, w: _visit(),
                                           allow="admin case_officer lead_official mediator"),
    "POST /api/visits/{visit_id}/record": Op(200, lambda s, w: _visit(),
                                             allow="admin case_officer lead_official mediator"),
    # --- follow-up
    # (the world's case is in intake with its agreement's performance open: 409 past the check)
    "POST /api/cases/{case_id}/resolution": Op(409, {
        "basis": "agreement_performed", "decision": "认定已化解", "reason": "协议已履行"},
        action=Action.CASE_TRANSITION),
    "POST /api/cases/{case_id}/cessation": Op(409, lambda s, w: {
        "basis": "undertaking", "signed_on": _day(0)}, action=Action.CASE_EDIT),
    "POST /api/cases/{case_id}/petitions": Op(409, lambda s, w: {
        "received_on": _day(0), "summary": "再次来访"}, action=Action.CASE_TRANSITION),
    # --- supervision
    "GET /api/reports/kpis": Op(200, scope="none", action=Action.REPORTS_READ),
    "GET /api/reports/weekly": Op(200, scope="none", action=Action.REPORTS_READ),
    "GET /api/reports/monthly": Op(200, scope="none", action=Action.REPORTS_READ),
    "GET /api/reports/quarterly": Op(200, scope="none", action=Action.REPORTS_READ),
    "POST /api/reports/inspections": Op(201, lambda s, w: {
        "case_id": s.case_id, "inspected_on": _day(-1), "responsibility_in_place": True,
        "truly_resolved": True, "procedure_regular": True, "file_complete": True},
        allow="admin supervisor", role_first=True),
    "POST /api/reports/deductions": Op(201, lambda s, w: {
        "case_id": s.case_id, "kind": "idle_handling", "points": 1, "reason": "空转"},
        allow="admin supervisor", role_first=True),
    "POST /api/reports/rectifications": Op(201, lambda s, w: {
        "case_id": s.case_id, "requirement": "补齐档案", "due_on": _day(10)},
        allow="admin supervisor", role_first=True),
    # A rectification is for supervision: to anyone else it does not exist.
    "POST /api/reports/rectifications/{rect_id}/done": Op(200, {"note": "已整改"},
                                                          allow="admin supervisor", refused=404),
    "POST /api/cases/{case_id}/surveys": Op(201, {}, action=Action.SURVEY_SEND),
    # The link is the authority (no sign-in); one not held answers 410, like a spent one.
    "GET /api/surveys/{token}": Op(200, scope="public", b_ok=410),
    # The petitioner answers without an account; nobody answers from a staff account.
    "POST /api/surveys/{token}": Op(201, {"rating": 5, "comment": "满意"}, scope="public", b_ok=410,
                                    allow="anonymous party"),
    "GET /api/evaluation/export": Op(200, scope="none", action=Action.EVALUATION_EXPORT),
    # --- departments (责任单位): officials read the directory, a department's users their own
    "GET /api/departments": Op(200, scope="none", allow=staff("department")),
    "POST /api/departments": Op(201, {"name": "区民政局", "kind": "civil_affairs", "region_code": "510104"},
                                scope="none", action=Action.DEPARTMENTS_EDIT),
    "GET /api/departments/{department_id}": Op(200, allow=staff("department"), b_allow=staff(), refused=404),
    "PATCH /api/departments/{department_id}": Op(200, {"contact": "028-12345678"}, allow="admin supervisor",
                                                 b_allow="admin", sees=staff("department"), b_sees=staff()),
    # --- oversight: responsible people of a region (supervisors of the region name them;
    # a region is no secret, so one outside the jurisdiction is refused, not hidden)
    "GET /api/responsibles": Op(200, scope="none", action=Action.REPORTS_READ),
    "PUT /api/regions/{region_code}/responsibles/{kind}": Op(
        200, lambda s, w: {"user_id": s.lead_official.id}, allow="admin supervisor", role_first=True,
        sees="admin supervisor", b_sees="admin supervisor"),
    "DELETE /api/regions/{region_code}/responsibles/{kind}": Op(
        204, allow="admin supervisor", role_first=True, sees="admin supervisor", b_sees="admin supervisor"),
    "GET /api/cases/{case_id}/task-force": Op(200, action=Action.CASE_INTERNAL),
    "POST /api/cases/{case_id}/task-force": Op(201, lambda s, w: {"user_id": s.supervisor.id,
                                                                  "role": "backbone"},
                                               action=Action.TASKFORCE_MANAGE),
    "DELETE /api/cases/{case_id}/task-force/{user_id}": Op(204, action=Action.TASKFORCE_MANAGE,
                                                          ids={"user_id": "member_id"}),
    "POST /api/cases/{case_id}/orders": Op(201, lambda s, w: {"requirement": "限期办结", "due_on": _day(3)},
                                           action=Action.ORDER_ISSUE),
    # (the world's hand-over is two days late: an order may be issued on it)
    "POST /api/handovers/{handover_id}/orders": Op(201, lambda s, w: {"requirement": "限期答复",
                                                                      "due_on": _day(3)},
                                                   action=Action.ORDER_ISSUE,
                                                   ids={"handover_id": "late_handover_id"}),
    # Everyone has a list (the orders addressed to them); readers of figures see their
    # jurisdiction's orders, the addressee theirs; to anyone else an order does not exist.
    "GET /api/orders": Op(200, scope="none", allow=EVERYONE),
    "GET /api/orders/{order_id}": Op(200, allow=staff(), refused=404, sees=staff()),
    "POST /api/orders/{order_id}/answer": Op(200, {"answer": "已约见信访人并落实补偿"}, allow="lead_official",
                                             sees=staff(), b_allow="", b_sees="admin"),
    "GET /api/accountability": Op(200, scope="none", action=Action.REPORTS_READ),
    "POST /api/accountability": Op(201, {"kind": "warning_talk", "subject_kind": "region",
                                         "region_code": "510104", "decided_on": _day(0),
                                         "reason": "化解不力"},
                                   scope="none", allow="admin supervisor"),
    # --- hand-overs (交办): officials of the case and the department it went to (which sees no
    # case); the world's hand-over is sent: accepting or sending back is the state's 409
    "GET /api/cases/{case_id}/handovers": Op(200, action=Action.HANDOVER_READ),
    "POST /api/cases/{case_id}/handovers": Op(201, lambda s, w: {
        "department_ids": [s.department_id], "matter": "补办手续", "ask": "请于期限内回复",
        "due_on": _day(5)},
        action=Action.HANDOVER_CREATE),
    "GET /api/handovers": Op(200, scope="none", allow=staff("department")),
    "GET /api/handovers/{handover_id}": Op(200, allow=staff("department"), refused=404),
    "GET /api/handovers/{handover_id}/events": Op(200, allow=staff("department"), refused=404),
    "POST /api/handovers/{handover_id}/send": Op(409, {"ask": "请回复", "due_on": _day(3)},
                                                 allow="admin case_officer", sees=staff("department")),
    "POST /api/handovers/{handover_id}/acknowledge": Op(200, allow="department", sees=staff("department")),
    "POST /api/handovers/{handover_id}/replies": Op(201, {"result": "已办理"}, allow="department",
                                                    sees=staff("department")),
    "POST /api/handovers/{handover_id}/accept": Op(409, allow="admin case_officer",
                                                   sees=staff("department")),
    "POST /api/handovers/{handover_id}/return": Op(409, {"reason": "材料不全"}, allow="admin case_officer",
                                                   sees=staff("department")),
    "POST /api/handovers/{handover_id}/withdraw": Op(200, {"reason": "已另行处理"},
                                                     allow="admin case_officer", sees=staff("department")),
    # --- providers and referrals
    "GET /api/providers": Op(200, scope="none", allow=EVERYONE),
    "POST /api/providers": Op(201, {"name": "新调解室", "kind": "mediator", "mediation_type": "people",
                                    "regions": ["510104"]}, scope="none", action=Action.PROVIDERS_EDIT),
    # The directory is national: staff see every provider, a member their own.
    # A provider's record: admins and supervisors (any provider), its members (their own)
    "GET /api/providers/{provider_id}/record": Op(200, allow="admin supervisor mediator", refused=404,
                                                  sees="admin supervisor mediator",
                                                  b_allow="admin supervisor", b_sees="admin supervisor"),
    "GET /api/me/record": Op(200, scope="none", allow=PROVIDERS),
    "GET /api/providers/{provider_id}": Op(200, allow=staff("mediator"), sees=staff("mediator"),
                                           b_allow=staff(), b_sees=staff()),
    # A supervisor edits the providers of their jurisdiction; a member its availability.
    "PATCH /api/providers/{provider_id}": Op(200, {"available": True}, allow="admin supervisor mediator",
                                             sees=staff("mediator"), b_allow="admin", b_sees=staff()),
    "GET /api/cases/{case_id}/candidates": Op(200, query="?need=economic_compensation",
                                              action=Action.ROUTING_VIEW),
    "GET /api/cases/{case_id}/referrals": Op(200, action=Action.CASE_VIEW),
    "POST /api/cases/{case_id}/referrals": Op(409, {"need": "counselling"}, action=Action.CASE_EDIT),
    "GET /api/cases/{case_id}/routing": Op(200, action=Action.ROUTING_VIEW),
    "POST /api/cases/{case_id}/routing": Op(200, action=Action.CASE_EDIT),
    "GET /api/referrals": Op(200, scope="none", allow=EVERYONE),
    # A referral is seen by staff who see its case and by its provider's members; acting on
    # it is for those members (and the case's officers, to withdraw it): anyone else is
    # told it does not exist.
    "GET /api/referrals/{referral_id}": Op(200, allow=staff("mediator"), sees=staff("mediator")),
    # The provider's own record of the case (its members only: the case's staff read the case)
    "GET /api/referrals/{referral_id}/record": Op(200, allow="mediator", refused=404, sees="mediator"),
    "POST /api/referrals/{referral_id}/accept": Op(200, allow="mass_org", refused=404,
                                                   ids={"referral_id": "offer_id"}),
    "POST /api/referrals/{referral_id}/decline": Op(200, {"reason": "capacity"}, allow="mass_org",
                                                    refused=404, ids={"referral_id": "offer_id"}),
    "POST /api/referrals/{referral_id}/withdraw": Op(200, {"reason": "已化解"},
                                                     allow="admin case_officer mediator", refused=404),
    "POST /api/referrals/{referral_id}/complete": Op(200, {"outcome": "agreement_reached"},
                                                     allow="mediator", refused=404),
    "GET /api/cases/{case_id}/opinions": Op(200, action=Action.CASE_VIEW),
    "POST /api/cases/{case_id}/opinions": Op(201, {
        "summary": "意见", "legal_basis": [{"law": "民法典", "article": "第一条"}], "recommendation": "建议"},
        allow="lawyer"),
    "GET /api/cases/{case_id}/counselling-notes": Op(200, action=Action.CASE_VIEW),
    "POST /api/cases/{case_id}/counselling-notes": Op(201, {
        "session_on": _day(-1), "risk_level": "low", "content": "平稳"}, allow="counsellor"),
    # A counselling note is for officials and its author: to others it does not exist.
    "GET /api/counselling-notes/{note_id}": Op(200, allow=staff("counsellor"), sees=staff("counsellor")),
    "GET /api/cases/{case_id}/support-records": Op(200, action=Action.CASE_VIEW),
    "POST /api/cases/{case_id}/support-records": Op(201, {
        "kind": "care", "given_on": _day(-1), "description": "走访"}, allow=""),
    # --- messages
    "GET /api/cases/{case_id}/messages": Op(200, action=Action.CASE_VIEW),
    "POST /api/cases/{case_id}/messages": Op(201, {"body": "收到"}, action=Action.CASE_VIEW),
    # (the world's message is the officer's: only its author edits it; officers delete any)
    "PATCH /api/cases/{case_id}/messages/{seq}": Op(200, {"body": "改正"}, allow="case_officer", b_allow=""),
    "DELETE /api/cases/{case_id}/messages/{seq}": Op(200, action=Action.CASE_EDIT),
    "GET /api/cases/{case_id}/read-marker": Op(200, action=Action.CASE_VIEW),
    "PUT /api/cases/{case_id}/read-marker": Op(200, {"seq": 1}, action=Action.CASE_VIEW),
    # --- documents: the world's is a paper of the case file, read by whoever sees the case
    "GET /api/cases/{case_id}/documents": Op(200, action=Action.CASE_VIEW),
    # (a JSON body names no file: 422 past the check)
    "POST /api/cases/{case_id}/documents": Op(422, action=Action.DOCUMENT_ADD),
    "GET /api/documents/{document_id}": Op(200, action=Action.CASE_VIEW),
    "GET /api/documents/{document_id}/content": Op(200, action=Action.CASE_VIEW),
    "POST /api/documents/{document_id}/withdraw": Op(200, {"reason": "错传"},
                                                     action=Action.DOCUMENT_WITHDRAW),
    # (the world's document is not withdrawn: 409 past the check)
    "POST /api/documents/{document_id}/purge": Op(409, action=Action.DOCUMENT_PURGE),
    "GET /api/cases/{case_id}/archive": Op(200, action=Action.ARCHIVE_EXPORT),
    # --- security audit
    "GET /api/security/alerts": Op(200, scope="none", action=Action.SECURITY_AUDIT),
    "GET /api/security/pii-searches": Op(200, scope="none", action=Action.SECURITY_AUDIT),
}


# --- running it --------------------------------------------------------------------------------

def snapshot(app) -> dict[str, list[dict[str, Any]]]:
    with app.app_context():
        with db.engine.connect() as conn:
            snap = {t.name: [dict(r._mapping) for r in conn.execute(sa.select(t))]
                    for t in db.metadata.sorted_tables}
        db.session.remove()
    return snap


def restore(app, snap: dict[str, list[dict[str, Any]]]) -> None:
    """Back to the snapshot: every table emptied and refilled, sequences past the ids.

    DELETE, not TRUNCATE (which costs PostgreSQL a new file per table and index): with
    `session_replication_role = replica` (the test server's superuser) no trigger fires —
    neither the timeline's append-only guard nor the foreign-key checks — in this one
    transaction."""
    from mediation import timeline

    timeline.drain()
    tables = db.metadata.sorted_tables
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            pg = conn.dialect.name == "postgresql"
            if pg:
                conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            for table in reversed(tables):
                conn.execute(table.delete())
            for table in tables:
                if snap[table.name]:
                    conn.execute(table.insert(), snap[table.name])
            for table in tables if pg else ():
                pk = list(table.primary_key.columns)
                if len(pk) == 1 and isinstance(pk[0].type, sa.Integer) and snap[table.name]:
                    conn.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                        f"(SELECT max({pk[0].name}) FROM {table.name}))"))
        db.session.remove()


@pytest.fixture(scope="module")
def matrix_app(database_url, tmp_path_factory):
    """An app of its own on the suite's database: the `app` fixture's cleaning after every
    test would throw the world away; this module restores it only when a call changed it."""
    from tests.conftest import build_app, clean_database

    app = build_app(database_url, tmp_path_factory.mktemp("matrix-instance"))
    yield app
    clean_database(app)


@pytest.fixture(scope="module")
def world(matrix_app):
    app = matrix_app
    api = Api(app, app.test_client())
    admin = api.user("admin")
    evaluator = api.user("evaluator")
    a = _side(api, "510104", None)
    b = _side(api, "520102", None)
    b.bogus = True  # a survey link on side B is one the caller does not hold
    a.user_id, b.user_id = a.party.id, 2**31 - 1
    callers = {**a.users, "admin": admin, "evaluator": evaluator}
    assert set(callers) == set(ROLES), "a new role needs a user of side A here"
    return World(callers, api=api, A=a, B=b, admin=admin, snap=snapshot(app))


def spec_paths(app) -> list[str]:
    spec = app.test_client().get("/api/openapi.json").get_json()
    return [f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item
            if m in ("get", "post", "put", "patch", "delete")]


def test_every_operation_of_the_openapi_document_is_in_the_table(matrix_app):
    listed = spec_paths(matrix_app)
    assert sorted(set(listed) - set(OPS)) == [], "add these operations to OPS"
    assert sorted(set(OPS) - set(listed)) == [], "these rows name no operation any more"


def _url(key: str, op: Op, side: World) -> str:
    method, path = key.split(" ", 1)

    def value(m: re.Match) -> str:
        name = m.group(1)
        if name == "token" and side is not None and getattr(side, "bogus", False):
            return "no-such-token"
        attr = op.ids.get(name, {"agreement_id": "draft_id"}.get(name, name))
        return str(getattr(side, attr))

    return re.sub(r"\{(\w+)\}", value, path) + op.query


def _roles(text: str) -> set[str]:
    return set(text.split())


def expected(op: Op, role: str, side_name: str, world: World) -> int:
    if op.scope == "public":
        if op.allow and role not in _roles(op.allow):
            return op.refused
        return op.ok if side_name == "A" else (op.b_ok or 404)
    if role == "anonymous":
        return 401
    side = getattr(world, side_name)
    with world.api.app.app_context():
        user = db.session.get(User, world.users[role].id)
        case = db.session.get(Case, side.case_id)
        if op.action is not None:
            role_ok = role in roles_for(op.action)
            allowed = can(user, op.action, case if op.scope == "case" else None)
        else:
            role_ok = role in _roles(op.allow)
            if side_name == "A" or op.scope == "none":
                allowed = role_ok
            elif op.b_allow is not None:
                allowed = role in _roles(op.b_allow)
            else:
                allowed = role == "admin" and role_ok
        if op.scope == "none":
            sees = True
        elif op.sees is not None:
            if side_name == "A":
                sees = role in _roles(op.sees)
            elif op.b_sees is not None:
                sees = role in _roles(op.b_sees)
            else:
                sees = role == "admin" and role in _roles(op.sees)
        else:
            sees = can_view_case(user, case)
        db.session.remove()
    if allowed:
        return op.b_ok if (side_name == "B" and op.b_ok is not None) else op.ok
    if op.role_first and not role_ok:
        return 403
    return op.refused if sees else 404


@pytest.mark.parametrize("key", sorted(OPS))
def test_each_caller_gets_the_expected_status(world, key):
    op = OPS[key]
    method = key.split(" ", 1)[0]
    app = world.api.app
    wrong = []
    sides = ("A", "B") if op.scope == "case" or "{token}" in key else ("A",)
    for side_name in sides:
        side = getattr(world, side_name)
        body = op.body(side, world) if callable(op.body) else op.body
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = {}
        url = _url(key, op, side)
        for role in CALLERS:
            user = None if role == "anonymous" else world.users[role]
            r = world.api.call(method, url, user, json=body)
            want = expected(op, role, side_name, world)
            if r.status_code != want:
                wrong.append(f"{side_name} {role}: {r.status_code} (expected {want}) "
                             f"{(r.get_json() or {}).get('message', '') if r.is_json else ''}")
            if 200 <= r.status_code < 300 and method != "GET":
                restore(app, world.snap)
    assert not wrong, f"{key}:\n" + "\n".join(wrong)

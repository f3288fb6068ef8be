"""Who sees a case and who may act on it: one rule for API, pages and sockets.

Anyone without a relation to a case gets 404 for it, on every endpoint, exactly as for a
case that does not exist, so that a case's existence does not leak."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from mediation.cases.models import Case
from mediation.extensions import db
from mediation.permissions import can, visible_cases_filter
from mediation.regions import covers, normalize_region, region_level, region_prefix
from tests.factories import build_user, days_ago

# --- regions (GB/T 2260) ------------------------------------------------------------------

@pytest.mark.parametrize("code,norm,prefix,level", [
    ("51", "510000", "51", "province"), ("510000", "510000", "51", "province"),
    ("5101", "510100", "5101", "city"), ("510104", "510104", "510104", "county"),
    (" 440305 ", "440305", "440305", "county"),
])
def test_region_codes(code, norm, prefix, level):
    assert normalize_region(code) == norm
    assert region_prefix(norm) == prefix and region_level(norm) == level


@pytest.mark.parametrize("code", ["", "5", "510", "51010", "5101040", "00", "000000", "510004",
                                  "51a104", "５１"])
def test_bad_region_codes(code):
    with pytest.raises(ValueError):
        normalize_region(code)


def test_jurisdiction_covers_by_prefix():
    assert covers("510000", "510104") and covers("510100", "510104") and covers("510104", "510104")
    assert not covers("510100", "510204") and not covers("510104", "510105")
    assert not covers("440000", "510104")
    assert covers(None, "510104")  # national


# --- can() on real rows ----------------------------------------------------------------------

_n = itertools.count(1)


def _case(region="510104", lead=None) -> Case:
    c = Case(reference=f"T-{region}-{next(_n)}", title="t", region_code=region,
             lead_official_id=lead.id if lead else None, flags=[], departments=[],
             livelihood_fields=[])
    db.session.add(c)
    db.session.flush()
    return c


def test_can_for_each_role(ctx):
    lead = build_user("lead_official", "510104")
    case = _case("510104", lead)
    expect = {
        # role, region: (view, edit, reveal_pii, record_contact)
        ("admin", None): (True, True, True, True),
        ("case_officer", "510104"): (True, True, True, True),
        ("case_officer", "510100"): (True, True, True, True),
        ("case_officer", "510000"): (True, True, True, True),
        ("case_officer", None): (True, True, True, True),  # national
        ("case_officer", "510105"): (False, False, False, False),
        ("case_officer", "510200"): (False, False, False, False),
        ("supervisor", "510100"): (True, False, False, False),
        ("supervisor", "440000"): (False, False, False, False),
        ("lead_official", "510104"): (False, False, False, False),  # not this case's owner
        ("mediator", None): (False, False, False, False),
        ("lawyer", None): (False, False, False, False),
        ("counsellor", None): (False, False, False, False),
        ("mass_org", None): (False, False, False, False),
        ("evaluator", None): (False, False, False, False),
    }
    for (role, region), (view, edit, reveal, contact) in expect.items():
        u = build_user(role, region)
        got = (can(u, "case.view", case), can(u, "case.edit", case), can(u, "case.reveal_pii", case),
               can(u, "case.record_contact", case))
        assert got == (view, edit, reveal, contact), (role, region)
        ids = db.session.execute(sa.select(Case.id).where(visible_cases_filter(u))).scalars().all()
        assert (case.id in ids) == view, (role, region)
    # the owner sees the case, records contacts and may see numbers, but does not edit it
    assert (can(lead, "case.view", case), can(lead, "case.edit", case),
            can(lead, "case.record_contact", case), can(lead, "case.reveal_pii", case)) == (
        True, False, True, True)
    db.session.rollback()


def test_can_refuses_inactive_users_and_raises_on_unknown_actions(ctx):
    case = _case()
    gone = build_user("admin", active=False)
    admin = build_user("admin")
    assert not can(gone, "case.view", case)
    # a misspelt action is a bug, not a refusal: it must not read as "no"
    for action in ("case.fly", "launch"):
        with pytest.raises(ValueError, match="unknown action"):
            can(admin, action, case)
        with pytest.raises(ValueError, match="unknown action"):
            can(None, action)
    assert can(admin, "case.create") and can(admin, "user.manage")
    officer = build_user("case_officer", "510104")
    assert can(officer, "case.create") and not can(officer, "user.manage")
    assert not can(build_user("supervisor", "510104"), "case.create")
    assert not can(None, "case.view", case)
    db.session.rollback()


# --- 404 on every endpoint for a case one has no relation to -------------------------------

CASE_ENDPOINTS = [
    ("GET", "", None),
    ("PATCH", "", {"title": "改个标题"}),
    ("POST", "/status", {"status": "in_progress", "reason": "开始"}),
    ("POST", "/categories", {"category": 6, "action": "add", "reason": "批示"}),
    ("PUT", "/owner", {"lead_official_id": "{lead}"}),
    ("POST", "/contacts", {"kind": "progress_hearing", "held_on": days_ago(1)}),
    ("POST", "/extension", {"days": 10, "approver": "局长", "reason": "复杂"}),
    ("POST", "/investigations", {"method": "archive_review", "conducted_on": days_ago(1),
                                 "findings": "调阅档案"}),
    ("POST", "/petitioners", {"name": "王五"}),
    ("POST", "/petitioners/{pid}/reveal", {"reason": "核实身份"}),
    ("GET", "/timeline", None),
]

STRANGERS = [
    ("supervisor", "440000"), ("supervisor", "510105"), ("case_officer", "510105"),
    ("case_officer", "510200"), ("case_officer", "440305"), ("lead_official", "510104"),
    ("lead_official", "51"), ("mediator", None), ("lawyer", None), ("counsellor", None),
    ("mass_org", None), ("evaluator", None),
]


@pytest.fixture
def owned_case(api):
    officer = api.user("case_officer", "510104")
    lead = api.user("lead_official", "510104")
    case = api.case(officer)
    r = api.put(f"/api/cases/{case['id']}/owner", officer, {"lead_official_id": lead.id})
    assert r.status_code == 200
    return officer, lead, r.get_json()


def _send(api, user, method, case_id, suffix, body, pid, lead_id):
    url = f"/api/cases/{case_id}{suffix}".replace("{pid}", str(pid))
    if body is not None:
        body = {k: (lead_id if v == "{lead}" else v) for k, v in body.items()}
    return api.call(method, url, user, json=body)


@pytest.mark.parametrize("role,region", STRANGERS)
def test_a_stranger_gets_404_on_every_endpoint(api, owned_case, role, region):
    officer, lead, case = owned_case
    stranger = api.user(role, region)
    pid = case["petitioners"][0]["id"]
    for method, suffix, body in CASE_ENDPOINTS:
        r = _send(api, stranger, method, case["id"], suffix, body, pid, lead.id)
        missing = _send(api, stranger, method, 987654, suffix, body, pid, lead.id)
        assert r.status_code == 404, (method, suffix, r.status_code, r.get_json())
        # indistinguishable from a case that does not exist
        assert r.get_json() == missing.get_json(), (method, suffix)
    assert api.get("/api/cases", stranger).get_json()["total"] == 0
    r = api.post("/api/petitioners/search", stranger,
                 {"id_number": "510104198001011234", "reason": "核对"})
    # roles that may reveal numbers somewhere search (and find nothing here); others may not
    assert (r.status_code, r.get_json() if r.status_code == 200 else None) in ((200, []), (403, None))
    # nothing happened to the case
    after = api.get(f"/api/cases/{case['id']}", officer).get_json()
    assert after["last_seq"] == case["last_seq"]
    assert after["status"] == "intake" and len(after["petitioners"]) == 1


def test_the_related_see_the_case(api, owned_case):
    officer, lead, case = owned_case
    for user in (officer, lead, api.user("admin"), api.user("supervisor", "51"),
                 api.user("supervisor", "510104"), api.user("case_officer", "510100"),
                 api.user("case_officer")):
        assert api.get(f"/api/cases/{case['id']}", user).status_code == 200, user.role
        assert api.get(f"/api/cases/{case['id']}/timeline", user).status_code == 200
        assert [c["id"] for c in api.get("/api/cases", user).get_json()["items"]] == [case["id"]]


@pytest.mark.parametrize("who", ["supervisor", "owner"])
def test_seeing_is_not_acting_403(api, owned_case, who):
    officer, lead, case = owned_case
    user = api.user("supervisor", "510100") if who == "supervisor" else lead
    pid = case["petitioners"][0]["id"]
    refused = [e for e in CASE_ENDPOINTS if e[0] != "GET"]
    if who == "owner":  # the owner records contacts and may see numbers
        refused = [e for e in refused if e[1] not in ("/contacts", "/petitioners/{pid}/reveal")]
    for method, suffix, body in refused:
        r = _send(api, user, method, case["id"], suffix, body, pid, lead.id)
        assert r.status_code == 403, (who, method, suffix, r.status_code)
        assert r.is_json and r.get_json()["code"] == 403
    after = api.get(f"/api/cases/{case['id']}", officer).get_json()
    assert after["last_seq"] == case["last_seq"]


def test_every_action_has_exactly_one_rule_in_the_apps_table(ctx):
    from mediation.permissions import Action, Rule, register_rules, rule_for, rules
    from mediation.registry import DuplicateRegistration

    assert {r.action for r in rules()} == set(Action)
    # two rules for one action (two areas claiming it) is a mistake heard at start-up
    with pytest.raises(DuplicateRegistration, match="reports.read"):
        register_rules(ctx, Rule(Action.REPORTS_READ, frozenset({"admin"})))
    assert rule_for("reports.read").roles == {"admin", "supervisor", "case_officer"}


def test_an_action_whose_area_registered_no_rule_raises(ctx, monkeypatch):
    from mediation.permissions import CORE_RULES, Action, register_rules
    from mediation.registry import EXTENSION, Registry

    # an app whose supervision area never ran: the core's rules only
    monkeypatch.setitem(ctx.extensions, EXTENSION, Registry())
    register_rules(ctx, *CORE_RULES)
    admin = build_user("admin")
    assert can(admin, Action.CASE_CREATE)
    with pytest.raises(LookupError, match="no rule registered for ledger.use"):
        can(admin, Action.LEDGER_USE)
    db.session.rollback()


# --- which cases: the SQL filter and the per-case check agree ------------------------------

@pytest.mark.parametrize("prefix,upper", [("51", "52"), ("5101", "5102"), ("510104", "510105"),
                                          ("5109", "511"), ("510199", "5102"), ("99", None),
                                          ("51a", None), ("５１", None)])
def test_a_jurisdictions_codes_lie_below_a_digit_bound(prefix, upper):
    from mediation.permissions import _upper_bound

    assert _upper_bound(prefix) == upper


def test_the_filter_and_can_view_case_see_the_same_cases_for_every_kind_of_user(ctx):
    """Each kind of sight (a region that covers the case's, the lead official's own case,
    a live referral, a task force) gives the same cases through `visible_cases_filter`
    (every list, count and search) as through `can_view_case` (every single case): codes
    at the edges of a jurisdiction's range, a prefix ending in 9, one of nines alone."""
    import datetime as dt

    from mediation.oversight.models import TaskForceMember
    from mediation.permissions import can_view_case
    from referrals.models import Referral
    from referrals.routing import need_row
    from tests.factories import make_provider

    lead, member = build_user("lead_official", "510104"), build_user("lead_official", "440000")
    mediator = build_user("mediator")
    c = {name: _case(region) for name, region in [
        ("county", "510104"), ("neighbour", "510105"), ("city", "510100"), ("nine", "510901"),
        ("nines", "510999"), ("above", "511001"), ("referred", "440306"), ("declined", "440307"),
        ("task", "320101"), ("edge", "990101")]}
    c["led"] = _case("440305", lead)  # the lead official's case, outside their region
    db.session.add(TaskForceMember(case_id=c["task"].id, user_id=member.id, role="member"))
    county = build_user("case_officer", "510104")
    db.session.add(TaskForceMember(case_id=c["task"].id, user_id=county.id, role="member"))
    db.session.commit()
    provider = make_provider(regions=("440306",), members=(mediator,))
    now = dt.datetime.now(dt.UTC)
    for case, status in ((c["referred"], "accepted"), (c["declined"], "declined")):
        db.session.add(Referral(case_id=case.id, routing_need_id=need_row(case.id, "legal_opinion").id,
                                need="legal_opinion", provider_id=provider.id, status=status,
                                offered_at=now, respond_by=now))
    db.session.commit()
    every = set(c)
    expect = {
        build_user("admin"): every,
        build_user("case_officer"): every,  # national
        county: {"county", "task"},
        build_user("case_officer", "510100"): {"county", "neighbour", "city"},
        build_user("supervisor", "510100"): {"county", "neighbour", "city"},
        build_user("case_officer", "510900"): {"nine", "nines"},
        build_user("supervisor", "51"): {"county", "neighbour", "city", "nine", "nines", "above"},
        build_user("supervisor", "990000"): {"edge"},
        build_user("case_officer", "440305"): {"led"},
        lead: {"led"},
        member: {"task"},
        mediator: {"referred"},
        build_user("lawyer"): set(),
        build_user("department"): set(),
    }
    names = {case.id: name for name, case in c.items()}
    for user, seen in expect.items():
        ids = db.session.execute(sa.select(Case.id).where(visible_cases_filter(user))).scalars()
        assert {names[i] for i in ids} == seen, (user.role, user.region)
        assert {name for name, case in c.items() if can_view_case(user, case)} == seen, (
            user.role, user.region)
    db.session.rollback()


@pytest.mark.postgres
@pytest.mark.parametrize("plan", ["force_custom_plan", "force_generic_plan"])
def test_a_county_officers_case_list_reads_their_cases_by_index(pg, plan):
    """The case list (a page newest first, and its count) of an officer of one county
    reads that county's cases, and the one case a rule shows them, by index: never every
    case of the database. So whether the server plans the prepared statement with the
    parameters' values or keeps one plan made without them, here with no statistics at
    all (a fresh database; this machine's PostgreSQL runs without autovacuum). With
    `region_code LIKE :prefix` (no plain btree index takes it under the C.UTF-8 collation,
    nor a generic plan) and `id IN (rule's select)` (a hashed SubPlan, no index) the count
    read every case in a sequential scan, and the page walked the primary key down from
    the newest case of any county."""
    from mediation.cases.queries import filtered_cases, page_of, sorted_cases
    from mediation.oversight.models import TaskForceMember
    from tests.factories import case_row, make_user

    officer = make_user("case_officer", "510104")
    mine, other = case_row("510104"), case_row("510105")
    cases = Case.__table__
    columns = [col.name for col in cases.columns if col.name not in ("id", "reference", "region_code")]
    copies = sa.text(f"INSERT INTO cases (reference, region_code, {', '.join(columns)}) "
                     f"SELECT reference || :region || g, :region, {', '.join(columns)} "
                     "FROM cases, generate_series(1, :n) g WHERE id = :id")
    with db.engine.begin() as conn:  # the county's cases first, then 20,000 of two others
        conn.execute(copies, {"region": "510104", "n": 39, "id": mine})
        conn.execute(copies, {"region": "510105", "n": 10000, "id": other})
        conn.execute(copies, {"region": "440305", "n": 10000, "id": other})
    shown = db.session.execute(sa.select(sa.func.max(Case.id)).where(Case.region_code == "510105")
                               ).scalar_one()  # in the officer's task force: a rule shows it
    db.session.add(TaskForceMember(case_id=shown, user_id=officer.id, role="member"))
    db.session.commit()
    county = db.session.execute(sa.select(Case.id).where(Case.region_code == "510104")
                                .order_by(Case.id.desc())).scalars().all()
    assert len(county) == 40

    from tests.plans import forced_plan

    with forced_plan(plan, ("cases",)) as reads:
        rows, total, _page = page_of(sorted_cases(filtered_cases(officer, {}), "-id"), 1, 20)
        ids = [case.id for case in rows]
    assert (ids, total) == ([shown, *county[:19]], 41)
    seq_scans, by_index = reads["cases"]
    assert seq_scans == 0, reads
    assert by_index <= 2 * 41, reads  # the count's and the page's: the 41 cases it shows

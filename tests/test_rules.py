"""The domain rules as pure functions, on hand-built cases (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from mediation.cases import rules
from mediation.cases.models import Case, CategoryOverride, OwnerContact, Petitioner
from mediation.config import DEFAULT_CLOCKS

D = dt.date.fromisoformat


def make_case(**kw) -> Case:
    base = dict(flags=[], livelihood_fields=[], departments=[], times_handled=0,
                visits_in_person=0, online_complaints=0, extension_days=0, status="in_progress")
    base.update(kw)
    return Case(**base)


def cats(case: Case) -> list[int]:
    return [f.category for f in rules.computed_categories(case)]


def test_a_plain_case_falls_under_no_category():
    assert cats(make_case()) == []
    assert rules.category_mask(rules.effective_categories(make_case())) == 0


# --- category 1: accepted before 2023-01-01, handled twice or more, still petitioning ----

def test_category1_old_case_handled_twice_and_still_petitioning():
    case = make_case(accepted_on=D("2022-12-31"), times_handled=2)
    [finding] = rules.computed_categories(case)
    assert finding.category == 1 and finding.source == "rule"
    assert finding.reason == "2022年12月31日受理（2023年1月1日前），已办理2次，信访人仍未息诉罢访"
    assert finding.facts == {"accepted_on": "2022-12-31", "times_handled": 2}


@pytest.mark.parametrize("kw", [
    {"accepted_on": D("2023-01-01"), "times_handled": 5},  # on the cut-off date: not before it
    {"accepted_on": D("2020-06-01"), "times_handled": 1},  # handled only once
    {"accepted_on": None, "times_handled": 5},  # never accepted
    {"accepted_on": D("2020-06-01"), "times_handled": 3, "flags": ["petitioning_ceased"]},
])
def test_category1_does_not_apply(kw):
    assert 1 not in cats(make_case(**kw))


# --- category 2: the five livelihood fields ------------------------------------------------

@pytest.mark.parametrize("field,zh", [
    ("land_demolition", "征地拆迁"), ("labour_social_security", "劳动保障"), ("education", "教育"),
    ("healthcare", "医疗"), ("property_management", "物业管理"),
])
def test_category2_each_livelihood_field(field, zh):
    [finding] = rules.computed_categories(make_case(livelihood_fields=[field]))
    assert finding.category == 2 and zh in finding.reason


def test_category2_not_for_other_fields():
    assert cats(make_case(livelihood_fields=["other"])) == []


# --- category 3: cross-region/department/level with unclear responsibility ----------------

@pytest.mark.parametrize("cross", ["cross_region", "cross_department", "cross_level"])
def test_category3_cross_with_unclear_responsibility(cross):
    [finding] = rules.computed_categories(make_case(flags=[cross, "responsibility_unclear"]))
    assert finding.category == 3 and finding.facts["flags"] == [cross]
    assert finding.reason.startswith(rules.FLAG_NAMES[cross]) and "责任主体不明确" in finding.reason


def test_category3_several_departments_count_as_cross_department():
    case = make_case(departments=["区人社局", "区住建局"], flags=["responsibility_unclear"])
    [finding] = rules.computed_categories(case)
    assert finding.category == 3 and finding.reason == "涉及2个部门，责任主体不明确或职责交叉"


@pytest.mark.parametrize("kw", [
    {"flags": ["cross_region"]},  # responsibility is clear
    {"flags": ["responsibility_unclear"]},  # not crossing anything
    {"flags": ["responsibility_unclear"], "departments": ["区人社局"]},  # one department
])
def test_category3_does_not_apply(kw):
    assert 3 not in cats(make_case(**kw))


# --- category 4: repeated visits or complaints on a typical problem ------------------------

@pytest.mark.parametrize("visits,online", [(2, 0), (0, 2), (7, 3)])
def test_category4_repeated_on_a_typical_problem(visits, online):
    case = make_case(visits_in_person=visits, online_complaints=online, flags=["typical_problem"])
    [finding] = rules.computed_categories(case)
    assert finding.category == 4
    assert finding.reason == f"走访{visits}次、网上投诉{online}次，属典型性、代表性问题"


@pytest.mark.parametrize("kw", [
    {"visits_in_person": 1, "online_complaints": 1, "flags": ["typical_problem"]},
    {"visits_in_person": 9, "online_complaints": 9},  # not a typical problem
])
def test_category4_does_not_apply(kw):
    assert 4 not in cats(make_case(**kw))


# --- category 5: policy change or historical legacy ----------------------------------------

@pytest.mark.parametrize("flag", ["policy_change", "historical_legacy"])
def test_category5(flag):
    [finding] = rules.computed_categories(make_case(flags=[flag]))
    assert finding.category == 5 and finding.facts == {"flags": [flag]}
    assert rules.FLAG_NAMES[flag] in finding.reason


# --- category 6: assigned from above, leader instruction, high attention ------------------

@pytest.mark.parametrize("flag", ["assigned_from_above", "leader_instruction", "high_attention"])
def test_category6(flag):
    [finding] = rules.computed_categories(make_case(flags=[flag]))
    assert finding.category == 6 and finding.reason == rules.FLAG_NAMES[flag]


def test_several_categories_at_once_and_their_mask():
    case = make_case(accepted_on=D("2021-01-05"), times_handled=3, livelihood_fields=["education"],
                     flags=["historical_legacy", "leader_instruction"])
    found = rules.effective_categories(case)
    assert [f.category for f in found] == [1, 2, 5, 6]
    assert rules.category_mask(found) == 0b110011
    assert all(f.as_dict()["name"] == rules.CATEGORY_NAMES[f.category] for f in found)


# --- officers add and remove categories, with the reason kept ------------------------------

def test_officer_adds_a_category_with_reason():
    case = make_case(livelihood_fields=["healthcare"])
    case.category_overrides.append(CategoryOverride(category=6, action="add", reason="省长批示"))
    found = rules.effective_categories(case)
    assert [(f.category, f.source) for f in found] == [(2, "rule"), (6, "officer")]
    assert found[1].reason == "省长批示"


def test_officer_removes_a_computed_category_and_later_re_adds_it():
    case = make_case(livelihood_fields=["healthcare"], flags=["policy_change"])
    case.category_overrides.append(CategoryOverride(category=2, action="remove", reason="已解决"))
    assert [f.category for f in rules.effective_categories(case)] == [5]
    case.category_overrides.append(CategoryOverride(category=2, action="add", reason="再次上访"))
    found = rules.effective_categories(case)
    assert [(f.category, f.source, f.reason) for f in found][0] == (2, "officer", "再次上访")


# --- one case, one strategy (一案一策) ------------------------------------------------------

@pytest.mark.parametrize("assessment,code,zh", [
    ("reasonable", "resolve_in_time_limit", "限时解决到位"),
    ("partly_reasonable", "resolve_reasonable_part", "解决合理部分，做好解释引导"),
    ("unreasonable_hardship", "assistance_and_counselling", "落实社会救助，做好心理疏导"),
    ("policy_gap", "supplementary_policy", "推动有关部门制定完善配套政策"),
    ("law_related", "legal_channels", "引导通过法律途径解决，协调司法机关"),
])
def test_strategy_table(assessment, code, zh):
    strategy = rules.strategy_for(assessment)
    assert strategy["code"] == code and strategy["zh"] == zh and strategy["en"]


def test_no_assessment_no_strategy():
    assert rules.strategy_for(None) is None


@pytest.mark.parametrize("assessment,needs", [
    ("reasonable", ["economic_compensation"]),
    ("partly_reasonable", ["economic_compensation", "legal_opinion"]),
    ("unreasonable_hardship", ["counselling"]),
    ("policy_gap", ["neutral_participation"]),
    ("law_related", ["legal_opinion"]),
    (None, []),
])
def test_needs_derived_from_the_assessment(assessment, needs):
    assert rules.derived_needs(make_case(assessment=assessment)) == needs


def test_needs_derived_from_petitioners_groups_in_need_order_without_duplicates():
    case = make_case(assessment="law_related")
    case.petitioners = [Petitioner(name="甲", groups=["worker", "emotional"]),
                        Petitioner(name="乙", groups=["woman", "elderly"]),
                        Petitioner(name="丙", groups=["disabled"])]
    assert rules.derived_needs(case) == ["legal_opinion", "counselling", "group_support"]


def test_hand_set_needs_replace_the_derived_ones():
    case = make_case(assessment="reasonable", needs_set=["neutral_participation"])
    assert rules.effective_needs(case) == ["neutral_participation"]
    case.needs_set = []  # an officer may say: no needs at all
    assert rules.effective_needs(case) == []
    case.needs_set = None  # back to derived
    assert rules.effective_needs(case) == ["economic_compensation"]


# --- owner level suggestion (三级包案) ------------------------------------------------------

@pytest.mark.parametrize("kw,level", [
    ({"flags": ["cross_region"]}, "province"),
    ({"flags": ["cross_level"], "livelihood_fields": ["education", "healthcare"]}, "province"),
    ({"flags": ["cross_department", "responsibility_unclear"]}, "city"),
    ({"flags": ["cross_department"]}, "city"),
    ({"departments": ["区人社局", "区住建局"]}, "city"),
    ({"flags": ["cross_level"], "livelihood_fields": ["education"]}, "county"),
    ({"livelihood_fields": ["land_demolition"], "departments": ["区自然资源局"]}, "county"),
])
def test_suggested_owner_level(kw, level):
    case = make_case(**kw)
    suggested, why = rules.suggested_owner_level(case, rules.effective_categories(case))
    assert suggested == level and why


# --- statutory clocks -------------------------------------------------------------------------

def clock(case, name, today, limits=DEFAULT_CLOCKS):
    return {c.name: c for c in rules.statutory_clocks(case, limits, today)}[name]


def test_acceptance_decision_clock_runs_then_is_overdue_then_done():
    case = make_case(received_on=D("2025-03-01"))
    c = clock(case, "acceptance_decision", D("2025-03-10"))
    assert (c.state, c.due_on, c.days_left) == ("running", D("2025-03-16"), 6)
    c = clock(case, "acceptance_decision", D("2025-03-16"))
    assert (c.state, c.days_left) == ("running", 0)  # due today is not late yet
    c = clock(case, "acceptance_decision", D("2025-03-20"))
    assert (c.state, c.days_left) == ("overdue", -4)
    case.accepted_on = D("2025-03-12")
    c = clock(case, "acceptance_decision", D("2025-03-20"))
    assert (c.state, c.done_on, c.days_left) == ("done", D("2025-03-12"), None)


def test_handling_clock_and_its_extension():
    case = make_case(received_on=D("2025-03-01"), accepted_on=D("2025-03-08"))
    c = clock(case, "handling", D("2025-05-08"))
    assert (c.started_on, c.due_on, c.state, c.days_left) == (
        D("2025-03-08"), D("2025-05-07"), "overdue", -1)
    case.extension_days = 30
    c = clock(case, "handling", D("2025-05-08"))
    assert (c.due_on, c.state, c.days_left) == (D("2025-06-06"), "running", 29)
    case.replied_on = D("2025-05-20")
    assert clock(case, "handling", D("2025-07-01")).state == "done"


def test_clocks_not_started_without_their_start_date():
    states = {c.name: c.state for c in rules.statutory_clocks(make_case(), DEFAULT_CLOCKS,
                                                               D("2025-01-01"))}
    assert set(states.values()) == {"not_started"}
    assert set(states) == {"acceptance_decision", "handling", "review_request", "review_answer",
                           "rereview_request", "rereview_answer"}


def test_review_and_rereview_windows_and_answers():
    case = make_case(received_on=D("2025-01-01"), accepted_on=D("2025-01-05"),
                     replied_on=D("2025-02-01"))
    c = clock(case, "review_request", D("2025-03-03"))
    assert (c.kind, c.due_on, c.state) == ("window", D("2025-03-03"), "open")
    assert clock(case, "review_request", D("2025-03-04")).state == "lapsed"
    case.review_requested_on = D("2025-02-20")
    assert clock(case, "review_request", D("2025-03-04")).state == "done"
    c = clock(case, "review_answer", D("2025-03-25"))
    assert (c.kind, c.due_on, c.state) == ("duty", D("2025-03-22"), "overdue")
    case.review_answered_on = D("2025-03-10")
    c = clock(case, "rereview_request", D("2025-04-01"))
    assert (c.due_on, c.state) == (D("2025-04-09"), "open")
    case.rereview_requested_on = D("2025-04-01")
    c = clock(case, "rereview_answer", D("2025-04-02"))
    assert (c.due_on, c.state, c.days_left) == (D("2025-05-01"), "running", 29)


def test_clock_limits_come_from_configuration():
    limits = dict(DEFAULT_CLOCKS, acceptance_decision=7, handling=20)
    case = make_case(received_on=D("2025-03-01"), accepted_on=D("2025-03-02"), extension_days=5)
    assert clock(case, "handling", D("2025-03-02"), limits).due_on == D("2025-03-27")
    case.accepted_on = None
    assert clock(case, "acceptance_decision", D("2025-03-02"), limits).due_on == D("2025-03-08")


# --- ownership duties: hearing monthly, meeting half-monthly -------------------------------

def owned_case(**kw) -> Case:
    return make_case(lead_official_id=7, owner_assigned_on=D("2025-03-01"), **kw)


def duties(case, today):
    return {d.name: d for d in rules.owner_duties(case, DEFAULT_CLOCKS, today)}


def test_no_duties_without_an_owner():
    assert rules.owner_duties(make_case(), DEFAULT_CLOCKS, D("2025-03-01")) == []


def test_owner_duties_due_from_assignment():
    d = duties(owned_case(), D("2025-03-20"))
    assert (d["progress_hearing"].due_on, d["progress_hearing"].state) == (D("2025-03-31"), "running")
    assert (d["petitioner_meeting"].due_on, d["petitioner_meeting"].state) == (
        D("2025-03-16"), "overdue")
    assert d["petitioner_meeting"].days_left == -4


def test_owner_duties_due_from_the_last_contact_of_each_kind():
    case = owned_case()
    case.contacts = [
        OwnerContact(kind="petitioner_meeting", held_on=D("2025-03-05")),
        OwnerContact(kind="petitioner_meeting", held_on=D("2025-03-14")),
        OwnerContact(kind="progress_hearing", held_on=D("2025-03-10")),
    ]
    d = duties(case, D("2025-03-20"))
    assert d["petitioner_meeting"].due_on == D("2025-03-29")
    assert d["progress_hearing"].due_on == D("2025-04-09")
    assert {x.state for x in d.values()} == {"running"}


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_no_owner_duties_once_resolved(status):
    assert rules.owner_duties(owned_case(status=status), DEFAULT_CLOCKS, D("2025-12-01")) == []


def test_next_deadline_is_the_earliest_open_duty():
    case = owned_case(received_on=D("2025-02-01"), accepted_on=D("2025-02-03"),
                      replied_on=D("2025-03-02"))
    today = D("2025-03-20")
    clocks = rules.statutory_clocks(case, DEFAULT_CLOCKS, today) + rules.owner_duties(
        case, DEFAULT_CLOCKS, today)
    # the review window (open until 2025-04-01) is the petitioner's right, not a duty:
    # it never makes the case late; the half-monthly meeting (due 03-16) does.
    assert rules.next_deadline(clocks) == D("2025-03-16")
    assert rules.next_deadline(rules.statutory_clocks(case, DEFAULT_CLOCKS, today)) is None


# --- the rules read texts: the same findings as read through the enums ---------------------

def _categories_by_enums(case: Case) -> list[rules.CategoryFinding]:
    """computed_categories as written before it read the flags and fields as texts (each
    text made a member, the members' own names and sets): the oracle of the test below."""
    from mediation.cases.models import CaseFlag, LivelihoodField

    flags = set(case.flags or [])
    found = []
    if (case.accepted_on is not None and case.accepted_on < rules.CATEGORY1_ACCEPTED_BEFORE
            and (case.times_handled or 0) >= rules.CATEGORY1_MIN_TIMES_HANDLED
            and CaseFlag.PETITIONING_CEASED not in flags):
        found.append(rules.CategoryFinding(1, "rule", (
            f"{rules.zh_date(case.accepted_on)}受理（{rules.zh_date(rules.CATEGORY1_ACCEPTED_BEFORE)}前），"
            f"已办理{case.times_handled}次，信访人仍未息诉罢访"),
            {"accepted_on": case.accepted_on.isoformat(), "times_handled": case.times_handled}))
    fields = [f for f in (case.livelihood_fields or []) if f in rules.LIVELIHOOD_NAMES]
    if fields:
        names = "、".join(rules.LIVELIHOOD_NAMES[LivelihoodField(f)] for f in fields)
        found.append(rules.CategoryFinding(2, "rule", f"属{names}民生领域", {"fields": list(fields)}))
    cross = sorted(flags & {CaseFlag.CROSS_REGION, CaseFlag.CROSS_DEPARTMENT, CaseFlag.CROSS_LEVEL})
    departments = len(case.departments or [])
    several = departments >= 2 and CaseFlag.CROSS_DEPARTMENT not in cross
    if (cross or several) and CaseFlag.RESPONSIBILITY_UNCLEAR in flags:
        words = ([rules.FLAG_NAMES[CaseFlag(c)] for c in cross]
                 + ([f"涉及{departments}个部门"] if several else []))
        found.append(rules.CategoryFinding(3, "rule", f"{'、'.join(words)}，责任主体不明确或职责交叉",
                                           {"flags": [str(c) for c in cross],
                                            "departments": departments if several else 0}))
    repeats = max(case.visits_in_person or 0, case.online_complaints or 0)
    if repeats >= rules.CATEGORY4_MIN_REPEATS and CaseFlag.TYPICAL_PROBLEM in flags:
        found.append(rules.CategoryFinding(4, "rule", (
            f"走访{case.visits_in_person or 0}次、网上投诉{case.online_complaints or 0}次，"
            f"属典型性、代表性问题"),
            {"visits_in_person": case.visits_in_person or 0,
             "online_complaints": case.online_complaints or 0}))
    origin = sorted(flags & {CaseFlag.POLICY_CHANGE, CaseFlag.HISTORICAL_LEGACY})
    if origin:
        found.append(rules.CategoryFinding(5, "rule", (
            f"因{'、'.join(rules.FLAG_NAMES[CaseFlag(c)] for c in origin)}形成，需政策解决或统筹协调"),
            {"flags": [str(c) for c in origin]}))
    attention = sorted(flags & {CaseFlag.ASSIGNED_FROM_ABOVE, CaseFlag.LEADER_INSTRUCTION,
                                CaseFlag.HIGH_ATTENTION})
    if attention:
        found.append(rules.CategoryFinding(6, "rule",
                                           "、".join(rules.FLAG_NAMES[CaseFlag(c)] for c in attention),
                                           {"flags": [str(c) for c in attention]}))
    return found


def _needs_by_enums(case: Case) -> list[str]:
    """derived_needs as written before it read texts (the oracle of the test below)."""
    from mediation.cases.models import Assessment, Group, Need

    needs = []
    if case.assessment:
        needs.extend(rules.NEEDS_BY_ASSESSMENT[Assessment(case.assessment)])
    for p in case.petitioners:
        for g in p.groups or []:
            need = rules.NEEDS_BY_GROUP.get(Group(g)) if g in Group._value2member_map_ else None
            if need:
                needs.append(need)
    order = list(Need)
    return [n.value for n in sorted(set(needs), key=order.index)]


def test_findings_and_needs_are_those_read_through_the_enums():
    import random

    from mediation.cases.models import Assessment, CaseFlag, Group, LivelihoodField

    rng = random.Random(19)
    flags = [f.value for f in CaseFlag]
    fields = [f.value for f in LivelihoodField] + ["not_a_field"]
    groups = [g.value for g in Group] + ["not_a_group"]
    assessments = [None, *(a.value for a in Assessment)]
    seen = set()
    for _ in range(3000):
        case = make_case(
            flags=rng.sample(flags, rng.randint(0, 5)),
            livelihood_fields=rng.sample(fields, rng.randint(0, 3)),
            departments=["d"] * rng.randint(0, 3),
            accepted_on=rng.choice([None, D("2020-05-01"), D("2022-12-31"), D("2023-01-01")]),
            times_handled=rng.choice([None, 0, 1, 2, 5]),
            visits_in_person=rng.choice([None, 0, 1, 2, 3]), online_complaints=rng.choice([None, 0, 2]),
            assessment=rng.choice(assessments),
            petitioners=[Petitioner(name="p", groups=rng.sample(groups, rng.randint(0, 3)))
                         for _ in range(rng.randint(0, 2))])
        found = rules.computed_categories(case)
        assert found == _categories_by_enums(case)
        assert [f.as_dict() for f in found] == [f.as_dict() for f in _categories_by_enums(case)]
        assert rules.derived_needs(case) == _needs_by_enums(case)
        seen.update(f.category for f in found)
    assert seen == {1, 2, 3, 4, 5, 6}  # every rule was reached

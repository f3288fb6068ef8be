"""The domain rules as pure functions: six categories, strategy, needs, clocks, ownership.

Nothing here touches the database; commands call these and store what they return.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mediation.cases.models import (
    Assessment,
    Case,
    CaseFlag,
    ContactKind,
    Group,
    LivelihoodField,
    Need,
    OwnerLevel,
    Status,
)

# Category 1: accepted before this date and handled at least this often.
CATEGORY1_ACCEPTED_BEFORE = dt.date(2023, 1, 1)
CATEGORY1_MIN_TIMES_HANDLED = 2
# Category 4: "repeated" visits or complaints means at least this many.
CATEGORY4_MIN_REPEATS = 2

CATEGORY_NAMES = {
    1: "2023年1月1日前受理、经两次以上处理仍未息诉罢访",
    2: "征地拆迁、劳动保障、教育、医疗、物业管理等民生领域复杂疑难",
    3: "跨地区、跨部门、跨层级，责任主体不明确或存在职责交叉",
    4: "反复走访、网上重复投诉的典型性、代表性问题",
    5: "政策调整、历史遗留等原因形成，需政策解决或统筹协调",
    6: "上级交办、领导批示、社会高度关注",
}

LIVELIHOOD_NAMES = {
    LivelihoodField.LAND_DEMOLITION: "征地拆迁",
    LivelihoodField.LABOUR_SOCIAL_SECURITY: "劳动保障",
    LivelihoodField.EDUCATION: "教育",
    LivelihoodField.HEALTHCARE: "医疗",
    LivelihoodField.PROPERTY_MANAGEMENT: "物业管理",
}


# The flags' own words (the reasons below are Chinese sentences, the source language; the
# pages say them in the reader's language from `facts`: mediation/cases/sentences.py).
FLAG_NAMES = {
    CaseFlag.CROSS_REGION: "跨地区", CaseFlag.CROSS_DEPARTMENT: "跨部门", CaseFlag.CROSS_LEVEL: "跨层级",
    CaseFlag.POLICY_CHANGE: "政策调整", CaseFlag.HISTORICAL_LEGACY: "历史遗留",
    CaseFlag.ASSIGNED_FROM_ABOVE: "上级交办", CaseFlag.LEADER_INSTRUCTION: "领导批示",
    CaseFlag.HIGH_ATTENTION: "社会高度关注",
}


def zh_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True, init=False)
class CategoryFinding:
    category: int
    source: str  # "rule" or "officer"
    reason: str  # a Chinese sentence (the rule's) or the officer's own words
    facts: dict[str, Any] | None = None  # what the rule read, for the sentence in any language

    def __init__(self, category: int, source: str, reason: str,
                 facts: dict[str, Any] | None = None) -> None:
        # One dict update instead of the frozen dataclass's object.__setattr__ per field
        # (the answer and the intake build these each time): the same attributes, and
        # assignment is still refused
        self.__dict__.update(category=category, source=source, reason=reason, facts=facts)

    def as_dict(self) -> dict[str, Any]:
        # Written out rather than dataclasses.asdict, whose deep copy was most of the cost of
        # an intake's classification event and answer (the facts are plain values and lists).
        d = {"category": self.category, "source": self.source, "reason": self.reason,
             "name": CATEGORY_NAMES[self.category]}
        if self.facts is not None:
            d["facts"] = {k: list(v) if isinstance(v, list) else v for k, v in self.facts.items()}
        return d


# What the rules read, keyed by the texts a case stores (a StrEnum member hashes and
# compares as its value): the same lookups without building a member for each text.
_CROSS_FLAGS = frozenset({CaseFlag.CROSS_REGION.value, CaseFlag.CROSS_DEPARTMENT.value,
                          CaseFlag.CROSS_LEVEL.value})
_ORIGIN_FLAGS = frozenset({CaseFlag.POLICY_CHANGE.value, CaseFlag.HISTORICAL_LEGACY.value})
_ATTENTION_FLAGS = frozenset({CaseFlag.ASSIGNED_FROM_ABOVE.value, CaseFlag.LEADER_INSTRUCTION.value,
                              CaseFlag.HIGH_ATTENTION.value})
_FLAG_WORDS = {flag.value: words for flag, words in FLAG_NAMES.items()}
_FIELD_WORDS = {field.value: words for field, words in LIVELIHOOD_NAMES.items()}


def computed_categories(case: Case) -> list[CategoryFinding]:
    """The categories the case's own data puts it in, each with the rule's reason as a
    sentence ("2021年3月10日受理，已办理3次，信访人仍未息诉") and the facts it read."""
    flags = set(case.flags or [])
    found: list[CategoryFinding] = []
    accepted_on = case.accepted_on
    if (
        accepted_on is not None
        and accepted_on < CATEGORY1_ACCEPTED_BEFORE
        and (case.times_handled or 0) >= CATEGORY1_MIN_TIMES_HANDLED
        and CaseFlag.PETITIONING_CEASED.value not in flags
    ):
        found.append(CategoryFinding(1, "rule", (
            f"{zh_date(accepted_on)}受理（{zh_date(CATEGORY1_ACCEPTED_BEFORE)}前），"
            f"已办理{case.times_handled}次，信访人仍未息诉罢访"),
            {"accepted_on": accepted_on.isoformat(), "times_handled": case.times_handled}))
    fields = [f for f in (case.livelihood_fields or []) if f in _FIELD_WORDS]
    if fields:
        names = "、".join(_FIELD_WORDS[f] for f in fields)
        found.append(CategoryFinding(2, "rule", f"属{names}民生领域", {"fields": list(fields)}))
    if not flags:  # every rule below reads a flag
        return found
    cross = sorted(flags & _CROSS_FLAGS)
    departments = len(case.departments or [])
    several = departments >= 2 and CaseFlag.CROSS_DEPARTMENT.value not in cross
    if (cross or several) and CaseFlag.RESPONSIBILITY_UNCLEAR.value in flags:
        words = [_FLAG_WORDS[c] for c in cross] + ([f"涉及{departments}个部门"] if several else [])
        found.append(CategoryFinding(3, "rule", f"{'、'.join(words)}，责任主体不明确或职责交叉",
                                     {"flags": [str(c) for c in cross],
                                      "departments": departments if several else 0}))
    repeats = max(case.visits_in_person or 0, case.online_complaints or 0)
    if repeats >= CATEGORY4_MIN_REPEATS and CaseFlag.TYPICAL_PROBLEM.value in flags:
        found.append(CategoryFinding(4, "rule", (
            f"走访{case.visits_in_person or 0}次、网上投诉{case.online_complaints or 0}次，"
            f"属典型性、代表性问题"),
            {"visits_in_person": case.visits_in_person or 0,
             "online_complaints": case.online_complaints or 0}))
    origin = sorted(flags & _ORIGIN_FLAGS)
    if origin:
        found.append(CategoryFinding(5, "rule", (
            f"因{'、'.join(_FLAG_WORDS[c] for c in origin)}形成，需政策解决或统筹协调"),
            {"flags": [str(c) for c in origin]}))
    attention = sorted(flags & _ATTENTION_FLAGS)
    if attention:
        found.append(CategoryFinding(6, "rule", "、".join(_FLAG_WORDS[c] for c in attention),
                                     {"flags": [str(c) for c in attention]}))
    return found


def effective_categories(case: Case) -> list[CategoryFinding]:
    """Computed categories with the officers' additions and removals applied in order."""
    result = {f.category: f for f in computed_categories(case)}
    for o in case.category_overrides:
        if o.action == "add":
            result[o.category] = CategoryFinding(o.category, "officer", o.reason)
        else:
            result.pop(o.category, None)
    return [result[k] for k in sorted(result)]


def category_mask(categories: list[CategoryFinding]) -> int:
    mask = 0
    for f in categories:
        mask |= 1 << (f.category - 1)
    return mask


# --- one case, one strategy (一案一策) -------------------------------------------------------

STRATEGIES: dict[Assessment, dict[str, str]] = {
    Assessment.REASONABLE: {
        "code": "resolve_in_time_limit", "zh": "限时解决到位",
        "en": "Resolve within a set time limit"},
    Assessment.PARTLY_REASONABLE: {
        "code": "resolve_reasonable_part", "zh": "解决合理部分，做好解释引导",
        "en": "Resolve the reasonable part; explain and guide on the rest"},
    Assessment.UNREASONABLE_HARDSHIP: {
        "code": "assistance_and_counselling", "zh": "落实社会救助，做好心理疏导",
        "en": "Social assistance and psychological counselling"},
    Assessment.POLICY_GAP: {
        "code": "supplementary_policy", "zh": "推动有关部门制定完善配套政策",
        "en": "Push the departments to make a supplementary policy or rule"},
    Assessment.LAW_RELATED: {
        "code": "legal_channels", "zh": "引导通过法律途径解决，协调司法机关",
        "en": "Guide to legal channels; coordinate with judicial organs"},
}

NEEDS_BY_ASSESSMENT: dict[Assessment, tuple[Need, ...]] = {
    Assessment.REASONABLE: (Need.ECONOMIC_COMPENSATION,),
    # the reasonable part is settled; a legal opinion explains the rest
    Assessment.PARTLY_REASONABLE: (Need.ECONOMIC_COMPENSATION, Need.LEGAL_OPINION),
    Assessment.UNREASONABLE_HARDSHIP: (Need.COUNSELLING,),
    # deputies and CPPCC members carry a policy gap to the departments
    Assessment.POLICY_GAP: (Need.NEUTRAL_PARTICIPATION,),
    Assessment.LAW_RELATED: (Need.LEGAL_OPINION,),
}
NEEDS_BY_GROUP: dict[Group, Need] = {
    Group.WORKER: Need.GROUP_SUPPORT,
    Group.WOMAN: Need.GROUP_SUPPORT,
    Group.DISABLED: Need.GROUP_SUPPORT,
    Group.EMOTIONAL: Need.COUNSELLING,
}


def strategy_for(assessment: str | None) -> dict[str, str] | None:
    return STRATEGIES[Assessment(assessment)] if assessment else None


# By the texts a case stores, as derived_needs reads them (see _CROSS_FLAGS above).
_NEEDS_BY_ASSESSMENT_TEXT = {a.value: tuple(n.value for n in needs)
                             for a, needs in NEEDS_BY_ASSESSMENT.items()}
_NEED_BY_GROUP_TEXT = {g.value: n.value for g, n in NEEDS_BY_GROUP.items()}
_NEED_ORDER = {n.value: i for i, n in enumerate(Need)}


def derived_needs(case: Case) -> list[str]:
    needs: set[str] = set()
    if case.assessment:
        needs.update(_NEEDS_BY_ASSESSMENT_TEXT[Assessment(case.assessment).value])
    for p in case.petitioners:
        for g in p.groups or []:
            need = _NEED_BY_GROUP_TEXT.get(g)
            if need:
                needs.add(need)
    return sorted(needs, key=_NEED_ORDER.__getitem__)


def effective_needs(case: Case) -> list[str]:
    return list(case.needs_set) if case.needs_set is not None else derived_needs(case)


# --- ownership (三级包案) ---------------------------------------------------------------------

def suggested_owner_level(case: Case, categories: list[CategoryFinding]) -> tuple[str, str]:
    """(level, why): province for cross-region hard cases, city for multi-department
    complex ones, county for typical cases of one county."""
    flags = set(case.flags or [])
    cats = {f.category for f in categories}
    if CaseFlag.CROSS_REGION in flags or (
        len([f for f in case.livelihood_fields or [] if f in LIVELIHOOD_NAMES]) >= 2
        and CaseFlag.CROSS_LEVEL in flags
    ):
        return OwnerLevel.PROVINCE.value, "跨地区或跨领域的疑难复杂案件（骨头案、钉子案）"
    if 3 in cats or CaseFlag.CROSS_DEPARTMENT in flags or len(case.departments or []) >= 2:
        return OwnerLevel.CITY.value, "需要多个部门协同化解的复杂案件"
    return OwnerLevel.COUNTY.value, "县域内的一般性信访积案"


# --- dates on the petition's path ---------------------------------------------------------

# Each date may not precede any date before it: receipt, acceptance, reply, review, re-review.
DATE_PATH = ("received_on", "accepted_on", "replied_on", "review_requested_on",
             "review_answered_on", "rereview_requested_on", "rereview_answered_on")


def date_order_errors(values: Any) -> dict[str, list[str]]:
    """Field errors for dates out of order, on a case or a mapping of the dates.

    Each date is compared with the nearest earlier date that is set, so a gap in the path
    (a reply recorded with no acceptance date) does not let a date go backwards."""
    get = values.get if isinstance(values, dict) else lambda k: getattr(values, k, None)
    errors: dict[str, list[str]] = {}
    latest: tuple[str, dt.date] | None = None
    for name in DATE_PATH:
        value = get(name)
        if not value:
            continue
        if latest is not None and value < latest[1]:
            errors[name] = [f"cannot be before {latest[0]}"]
        else:
            latest = (name, value)
    return errors


# --- clocks --------------------------------------------------------------------------------

@dataclass(frozen=True, init=False)
class Clock:
    name: str
    kind: str  # "duty": must be done by due_on; "window": a right that lapses at due_on
    started_on: dt.date | None
    due_on: dt.date | None
    done_on: dt.date | None
    state: str  # not_started | running | overdue | done | ended | open | lapsed
    days_left: int | None

    def __init__(self, name: str, kind: str, started_on: dt.date | None, due_on: dt.date | None,
                 done_on: dt.date | None, state: str, days_left: int | None) -> None:
        # as CategoryFinding's: a case's view and its refresh build six to eight each
        self.__dict__.update(name=name, kind=kind, started_on=started_on, due_on=due_on,
                             done_on=done_on, state=state, days_left=days_left)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind,
                "started_on": self.started_on.isoformat() if self.started_on else None,
                "due_on": self.due_on.isoformat() if self.due_on else None,
                "done_on": self.done_on.isoformat() if self.done_on else None,
                "state": self.state, "days_left": self.days_left}


def _clock(name: str, kind: str, start: dt.date | None, days: int, done: dt.date | None,
           today: dt.date) -> Clock:
    if start is None:
        return Clock(name, kind, None, None, done, "not_started", None)
    due = start + dt.timedelta(days=days)
    if done is not None:
        return Clock(name, kind, start, due, done, "done", None)
    left = (due - today).days
    if kind == "window":
        return Clock(name, kind, start, due, None, "open" if left >= 0 else "lapsed", left)
    return Clock(name, kind, start, due, None, "running" if left >= 0 else "overdue", left)


# A concluded case (化解 or 办结): its statutory duties have ended with the matter. The one
# definition of "overdue" (a duty clock or an owner duty past due on a case not concluded)
# follows from it: `next_deadline` is None for such a case, and `mediation.cases.queries.
# overdue` is the same rule in SQL for the board, the case API, the weekly report and the
# reminders. A review request on a resolved case reopens it to put the review clocks back on.
CONCLUDED = (Status.RESOLVED.value, Status.CLOSED.value)


def _ended(clock: Clock) -> Clock:
    """A duty still open when its matter was concluded: it no longer runs."""
    if clock.kind == "duty" and clock.state in ("running", "overdue"):
        return Clock(clock.name, clock.kind, clock.started_on, clock.due_on, None, "ended", None)
    return clock


def statutory_clocks(case: Case, limits: dict[str, int], today: dt.date) -> list[Clock]:
    """The 信访工作条例 clocks of one case, from the configured limits; on a concluded case
    (resolved or closed) the duties not done have ended (state `ended`, never overdue)."""
    clocks = [
        _clock("acceptance_decision", "duty", case.received_on, limits["acceptance_decision"],
               case.accepted_on, today),
        _clock("handling", "duty", case.accepted_on, limits["handling"] + (case.extension_days or 0),
               case.replied_on, today),
        _clock("review_request", "window", case.replied_on, limits["review_request"],
               case.review_requested_on, today),
        _clock("review_answer", "duty", case.review_requested_on, limits["review_answer"],
               case.review_answered_on, today),
        _clock("rereview_request", "window", case.review_answered_on, limits["rereview_request"],
               case.rereview_requested_on, today),
        _clock("rereview_answer", "duty", case.rereview_requested_on, limits["rereview_answer"],
               case.rereview_answered_on, today),
    ]
    return [_ended(c) for c in clocks] if case.status in CONCLUDED else clocks


def owner_duties(case: Case, limits: dict[str, int], today: dt.date) -> list[Clock]:
    """When the owner's next progress hearing and petitioner meeting are due (五包)."""
    if case.lead_official_id is None or case.owner_assigned_on is None:
        return []
    if case.status in (Status.RESOLVED, Status.CLOSED):
        return []
    duties = []
    for kind, limit in ((ContactKind.PROGRESS_HEARING, "owner_progress_hearing"),
                        (ContactKind.PETITIONER_MEETING, "owner_petitioner_meeting")):
        held = [c.held_on for c in case.contacts if c.kind == kind]
        last = max(held + [case.owner_assigned_on])
        duties.append(_clock(kind.value, "duty", last, limits[limit], None, today))
    return duties


def is_overdue(clocks: list[Clock]) -> bool:
    """Overdue: a duty clock or owner duty past its due date (never one that has ended)."""
    return any(c.state == "overdue" for c in clocks)


def next_deadline(clocks: list[Clock]) -> dt.date | None:
    """The earliest due date among duties still open: what "overdue" compares with."""
    dues = [c.due_on for c in clocks if c.kind == "duty" and c.state in ("running", "overdue")]
    return min(dues) if dues else None

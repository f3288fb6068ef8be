"""One place that says who may do what. The API, the pages and the sockets all ask here.

Every action is a member of `Action`; each has one rule in the app's permission table
(its registry's `permission_rules`), registered by the area that owns it in its
`init_app`: `CORE_RULES` here (by `mediation.cases`), `mediation.supervision.scope.RULES`,
`referrals.permissions.RULES`. A rule names the roles that may ever do the action and, for
actions on a case, a check on the case once it is known to be visible. `can()` with an
unknown action, or one no area registered, raises: a typo must not read as "refused".

Who sees a case: admins; officers and supervisors whose region covers the case's; the
case's lead official; providers with a live referral on it (the referrals package adds
that rule to the registry's `case_access` store). Everyone else is told the case does not
exist — among them department users (`Role.DEPARTMENT`), who see no case at all: only the
hand-overs sent to their department (`mediation/departments/`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask

from mediation.errors import Forbidden, NotFound
from mediation.regions import covers, region_prefix
from mediation.users import Role, User


class Action(enum.StrEnum):
    """Everything the permission table decides. The value is the name used in messages."""

    # cases (this module's rules)
    CASE_CREATE = "case.create"
    CASE_VIEW = "case.view"
    CASE_EDIT = "case.edit"
    CASE_TRANSITION = "case.transition"
    CASE_CLASSIFY = "case.classify"
    CASE_ASSIGN_OWNER = "case.assign_owner"
    CASE_EXTEND_CLOCK = "case.extend_clock"
    CASE_INVESTIGATE = "case.investigate"
    CASE_RECORD_CONTACT = "case.record_contact"
    CASE_REVEAL_PII = "case.reveal_pii"
    # a provider with an accepted referral reads the petitioner's phone to contact them
    CASE_CONTACT_PETITIONER = "case.contact_petitioner"
    # officials-only content of a case: internal notes and events, every counselling note
    CASE_INTERNAL = "case.internal"
    # finding petitioners by identity or phone number (blind index): only who may reveal
    PII_SEARCH = "pii.search"
    # the officers' board of cases, and a region's live board (target: a region code)
    BOARD_VIEW = "board.view"
    USER_MANAGE = "user.manage"
    # the audit of searches by number and the security alerts
    SECURITY_AUDIT = "security.audit"
    # documents: adding to the case file and withdrawing, the retention purge, the archive
    DOCUMENT_ADD = "document.add"
    DOCUMENT_WITHDRAW = "document.withdraw"
    DOCUMENT_PURGE = "document.purge"
    ARCHIVE_EXPORT = "archive.export"
    # supervision
    REPORTS_READ = "reports.read"
    LEDGER_USE = "ledger.use"
    EVALUATION_EXPORT = "evaluation.export"
    SURVEY_SEND = "survey.send"
    # supervisors' acts: inspections, deductions, rectifications (reading is reports.read)
    SUPERVISION_ACT = "supervision.act"
    # oversight (督办与责任, mediation/oversight): 第一/直接责任人, 工作专班, 督办单, 约谈/问责
    RESPONSIBLES_MANAGE = "responsibles.manage"
    TASKFORCE_MANAGE = "taskforce.manage"
    ORDER_ISSUE = "order.issue"
    ACCOUNTABILITY_RECORD = "accountability.record"
    # referrals
    PROVIDERS_READ_ALL = "providers.read_all"
    PROVIDERS_EDIT = "providers.edit"
    ROUTING_VIEW = "routing.view"
    REFERRALS_RESPOND = "referrals.respond"
    # any provider's record of referrals (its members read their own)
    PROVIDER_RECORDS_READ = "providers.records"
    # departments (责任单位) and hand-overs (交办), `mediation/departments/rules.py`
    DEPARTMENTS_READ = "departments.read"
    DEPARTMENTS_EDIT = "departments.edit"
    HANDOVER_CREATE = "handover.create"
    HANDOVER_READ = "handover.read"
    HANDOVER_RESPOND = "handover.respond"
    # notifications: the log of outbound deliveries (e-mail, WeCom, SMS) and testing a channel
    DELIVERIES_READ = "notifications.deliveries"


# Roles grouped by the kind of user they are (the directory's providers live in users.py).
OFFICIAL_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CASE_OFFICER, Role.LEAD_OFFICIAL})
ALL_ROLES = frozenset(Role)

Check = Callable[[User, Any], bool]


@dataclass(frozen=True)
class Rule:
    """Who may do an action: a role in `roles`, and for an action `on_case` the case must
    be visible to the user; then `check(user, target)` (if any) decides on the target."""

    action: Action
    roles: frozenset[Role]
    on_case: bool = False
    check: Check | None = None
    doc: str = ""


def register_rules(app: Flask, *rules: Rule) -> None:
    """Put an area's rules into the app's permission table (its registry's
    `permission_rules`); a second rule for one action raises."""
    from mediation.registry import registry

    for rule in rules:
        registry(app).permission_rules.register(rule.action.value, rule)


def rule_for(action: Action | str, app: Flask | None = None) -> Rule:
    """The action's rule in the app's table (the current app's by default); an unknown
    name, or an action whose area registered no rule, raises."""
    from mediation.registry import registry

    try:
        action = Action(action)
    except ValueError:
        raise ValueError(f"unknown action {action!r}: add it to permissions.Action") from None
    rule = registry(app).permission_rules.get(action.value)
    if rule is None:
        raise LookupError(f"no rule registered for {action}: its area's init_app registers it "
                          "with permissions.register_rules")
    return rule


def rules(app: Flask | None = None) -> list[Rule]:
    """The whole table, for documentation and the generated authorisation test."""
    from mediation.registry import registry

    return sorted(registry(app).permission_rules.values(), key=lambda r: r.action.value)


def roles_for(action: Action | str, app: Flask | None = None) -> frozenset[Role]:
    """The roles that may ever do the action (navigation links, role-level checks)."""
    return rule_for(action, app).roles


def role_may(user: User | None, action: Action | str) -> bool:
    """Whether the user's role is one the action admits, before any target is looked at.
    For actions on a case, `can()` with the case is the whole answer."""
    rule = rule_for(action)
    return user is not None and user.role in rule.roles


# Extra rules that grant sight of cases: each takes a user and returns a SELECT of case ids
# (or None). Lets `referrals` extend visibility without `mediation` importing it; they live
# in the app's registry (`case_access`).
CaseAccessRule = Callable[[User], Any]


def _case_access_rules() -> list[CaseAccessRule]:
    from mediation.registry import registry

    return registry().case_access.values()


def _regional(user: User) -> bool:
    return user.role in (Role.CASE_OFFICER, Role.SUPERVISOR)


def _jurisdiction_prefix(user: User) -> str:
    """The region prefix the user's jurisdiction covers; "" (all) for national users."""
    return region_prefix(user.region) if user.region else ""


def _upper_bound(prefix: str) -> str | None:
    """The least digit string above every string that starts with `prefix` (ASCII digits,
    as `region_prefix` gives them): `5101` -> `5102`, `5109` -> `511`, `99` -> None (no
    bound). Digits, not `510:`: it sorts above the jurisdiction's codes under any collation
    (a locale's may put `:` before the digits), not only under a bytewise one. A prefix
    that is not all ASCII digits (a region written into the table by hand) gets no bound:
    the `LIKE` beside the range still decides, only without the range's help."""
    if not (prefix.isascii() and prefix.isdigit()):
        return None
    head = prefix.rstrip("9")
    return head[:-1] + str(int(head[-1]) + 1) if head else None


def _in_region(prefix: str):
    """SQL: the case's region code starts with `prefix` (the jurisdiction's digits). As a
    range on the indexed column, which any plan can take on PostgreSQL (a `LIKE 'p%'` takes
    no plain btree index under a collation other than C, and a generic plan's `LIKE :p`
    none at all); the `LIKE` stays as the definition, checked on the rows the range reads."""
    from mediation.cases.models import Case

    upper = _upper_bound(prefix)
    bounded = [Case.region_code >= prefix] + ([Case.region_code < upper] if upper else [])
    return sa.and_(*bounded, Case.region_code.startswith(prefix, autoescape=True))


def _granted(ids):
    """SQL: the case's id is among `ids` (a case-access rule's SELECT of case ids). On
    PostgreSQL as `id = ANY(ARRAY(select))`: the select runs once (an InitPlan) and the
    primary key finds its cases, so the OR of arms is a BitmapOr of index scans; `id IN
    (select)` inside an OR is a hashed SubPlan tested on every case of the table."""
    from mediation.cases.models import Case
    from mediation.extensions import db

    if db.session.get_bind().dialect.name == "postgresql":
        return Case.id == sa.any_(sa.func.array(ids.scalar_subquery()))
    return Case.id.in_(ids)


def visible_cases_filter(user: User):
    """A SQL condition on `Case` true exactly for the cases the user may see (the rows
    `can_view_case` admits). Each arm takes an index on PostgreSQL whatever plan the server
    makes (custom or generic), so a list reads the user's cases, not the whole table."""
    from mediation.cases.models import Case

    if user.role == Role.ADMIN:
        return sa.true()
    conditions = [Case.lead_official_id == user.id]
    if _regional(user):
        prefix = _jurisdiction_prefix(user)
        if not prefix:
            return sa.true()  # a national officer or supervisor sees every case
        conditions.append(_in_region(prefix))
    for rule in _case_access_rules():
        ids = rule(user)
        if ids is not None:
            conditions.append(_granted(ids))
    return sa.or_(*conditions)


def can_view_case(user: User, case) -> bool:
    """Whether `visible_cases_filter(user)` holds for the case: the same arms, the region's
    in Python (a prefix), the access rules' in SQL."""
    if user.role == Role.ADMIN or case.lead_official_id == user.id:
        return True
    if _regional(user) and case.region_code.startswith(_jurisdiction_prefix(user)):
        return True
    from mediation.cases.models import Case
    from mediation.extensions import db

    extra = [rule(user) for rule in _case_access_rules()]
    extra = [ids for ids in extra if ids is not None]
    if not extra:
        return False
    return db.session.execute(
        sa.select(Case.id).where(Case.id == case.id, sa.or_(*[_granted(i) for i in extra]))
    ).first() is not None


def _officer_of(user: User, case) -> bool:
    return user.role == Role.ADMIN or (
        user.role == Role.CASE_OFFICER and case.region_code.startswith(_jurisdiction_prefix(user))
    )


def _officer_or_owner(user: User, case) -> bool:
    return _officer_of(user, case) or case.lead_official_id == user.id


def _board_region(user: User, code: Any) -> bool:
    """No target: the board of the user's own jurisdiction; a region code: one they cover."""
    return code is None or covers(user.region, code)


_OFFICERS = frozenset({Role.ADMIN, Role.CASE_OFFICER})
_REVEALERS = frozenset({Role.ADMIN, Role.CASE_OFFICER, Role.LEAD_OFFICIAL})

# The core's rules (cases, numbers, the board, users, the security audit), registered by
# `mediation.cases.init_app`.
CORE_RULES: tuple[Rule, ...] = (
    Rule(Action.CASE_CREATE, _OFFICERS, doc="take a case in (intake, ledger import)"),
    Rule(Action.USER_MANAGE, frozenset({Role.ADMIN}), doc="create and deactivate users"),
    Rule(Action.SECURITY_AUDIT, frozenset({Role.ADMIN}),
         doc="read the audit of searches by number and the security alerts"),
    Rule(Action.CASE_VIEW, ALL_ROLES, on_case=True, doc="see the case (its visibility rule)"),
    *[Rule(a, _OFFICERS, on_case=True, check=_officer_of,
           doc="officers whose region covers the case")
      for a in (Action.CASE_EDIT, Action.CASE_TRANSITION, Action.CASE_CLASSIFY,
                Action.CASE_ASSIGN_OWNER, Action.CASE_EXTEND_CLOCK, Action.CASE_INVESTIGATE)],
    # The owner records their own hearings and meetings; officers record them too.
    Rule(Action.CASE_RECORD_CONTACT, _REVEALERS, on_case=True, check=_officer_or_owner,
         doc="officers of the case and its lead official"),
    # Full identity and phone numbers: officers who contact the petitioner and the owner
    # who must meet them. Supervisors and providers see masked numbers only.
    Rule(Action.CASE_REVEAL_PII, _REVEALERS, on_case=True, check=_officer_or_owner,
         doc="officers of the case and its lead official; every reveal is recorded"),
    # A search by number confirms a guessed number, so it is for those who may read the
    # numbers anyway; its results are further limited to cases they may reveal on.
    Rule(Action.PII_SEARCH, _REVEALERS, doc="roles that may reveal numbers; throttled, recorded"),
    Rule(Action.CASE_INTERNAL, OFFICIAL_ROLES, on_case=True,
         doc="officials: internal notes and events, every counselling note"),
    Rule(Action.BOARD_VIEW, frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CASE_OFFICER}),
         check=_board_region, doc="the officers' board; a region's live board they cover"),
)


def can(user: User | None, action: Action | str, target: Any = None) -> bool:
    """May the user do `action` (to `target`)? An action without a rule raises."""
    rule = rule_for(action)
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    if user.role not in rule.roles:
        return False
    if rule.on_case and (target is None or not can_view_case(user, target)):
        return False
    return rule.check is None or rule.check(user, target)


def require_case(user: User, case_id: int, action: Action | str = Action.CASE_VIEW):
    """The case if the user may see it and do the action; 404 if invisible, 403 if seen
    but the action is not theirs. `action` may be an `Action` or a case action's short
    name (`"edit"`)."""
    from mediation import driver
    from mediation.cases.models import Case
    from mediation.extensions import db

    if isinstance(action, str) and not isinstance(action, Action) and "." not in action:
        action = f"case.{action}"
    rule = rule_for(action)
    case = driver.get(db.session(), Case, case_id)  # every case's page and write asks
    if case is None or not can_view_case(user, case):
        raise NotFound("case")
    if rule.action != Action.CASE_VIEW and not can(user, rule.action, case):
        name = rule.action.value.removeprefix("case.").replace("_", " ")
        raise Forbidden(f"your role may not {name} this case")
    return case



"""Who reads supervision figures, and over which cases: one rule for every report."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from mediation.cases.models import Case
from mediation.errors import Forbidden
from mediation.permissions import Action, Rule, can
from mediation.regions import covers, normalize_region, region_prefix
from mediation.users import Role, User

# Supervision's rules in the permission table (registered by `mediation.supervision`).
RULES = (
    # Case officers too: the plan's 领导小组办公室 sits in the petition department and reads
    # the figures of its own jurisdiction; acting on them (inspections, deductions, orders)
    # stays with supervision (`supervision.act`).
    Rule(Action.REPORTS_READ, frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CASE_OFFICER}),
         doc="supervision figures and reports of their jurisdiction"),
    Rule(Action.SUPERVISION_ACT, frozenset({Role.ADMIN, Role.SUPERVISOR}),
         doc="record inspections, deductions and rectifications in their jurisdiction"),
    Rule(Action.LEDGER_USE, frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CASE_OFFICER}),
         doc="the ledger (台账): download; import needs case.create too"),
    Rule(Action.EVALUATION_EXPORT, frozenset({Role.ADMIN, Role.EVALUATOR}),
         doc="the anonymised data set for third-party evaluators"),
    # The satisfaction of a case's petitioner judges those who handle it: the link goes out
    # from supervision (supervisors covering the case, admins), never from the case's
    # officers or its lead official, who would otherwise hold a link to answer themselves.
    Rule(Action.SURVEY_SEND, frozenset({Role.ADMIN, Role.SUPERVISOR}),
         on_case=True, doc="send a satisfaction survey link for a case they supervise"),
)


@dataclass(frozen=True)
class Scope:
    """The cases a report covers: a GB/T 2260 prefix ("" is national)."""

    prefix: str

    @property
    def region_code(self) -> str | None:
        return self.prefix.ljust(6, "0") if self.prefix else None

    def condition(self):
        if not self.prefix:
            return sa.true()
        return Case.region_code.startswith(self.prefix, autoescape=True)


def report_scope(user: User, region: str | None = None) -> Scope:
    """Supervisors and case officers read their jurisdiction (national without a region),
    admins all.
    A region asked for must lie inside the reader's jurisdiction."""
    if not can(user, Action.REPORTS_READ):
        raise Forbidden("supervision reports are for supervisors, case officers and admins")
    own = None if user.role == Role.ADMIN else user.region
    if region is None:
        return Scope(region_prefix(own) if own else "")
    code = normalize_region(region)
    if not covers(own, code):
        raise Forbidden(f"region {code} is outside your jurisdiction {own}")
    return Scope(region_prefix(code))

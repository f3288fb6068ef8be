"""Who reads supervision figures, and over which cases: one rule for every report."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from mediation.cases.models import Case
from mediation.errors import Forbidden
from mediation.regions import covers, normalize_region, region_prefix
from mediation.users import Role, User

READERS = frozenset({Role.ADMIN, Role.SUPERVISOR})


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
    """Supervisors read their jurisdiction (national without a region), admins all.
    A region asked for must lie inside the reader's jurisdiction."""
    if user.role not in READERS:
        raise Forbidden("supervision reports are for supervisors and admins")
    own = None if user.role == Role.ADMIN else user.region
    if region is None:
        return Scope(region_prefix(own) if own else "")
    code = normalize_region(region)
    if not covers(own, code):
        raise Forbidden(f"region {code} is outside your jurisdiction {own}")
    return Scope(region_prefix(code))

"""The documents' rows of the permission table (registered by `documents.init_app`)."""

from __future__ import annotations

from typing import Any

from mediation.permissions import OFFICIAL_ROLES, Action, Rule
from mediation.regions import region_prefix
from mediation.users import Role, User


def _officer_or_owner(user: User, case: Any) -> bool:
    if user.role == Role.ADMIN or case.lead_official_id == user.id:
        return True
    prefix = region_prefix(user.region) if user.region else ""
    return user.role == Role.CASE_OFFICER and case.region_code.startswith(prefix)


_KEEPERS = frozenset({Role.ADMIN, Role.CASE_OFFICER, Role.LEAD_OFFICIAL})

RULES: tuple[Rule, ...] = (
    # The case file is kept by the case's officers and its lead official.
    Rule(Action.DOCUMENT_ADD, _KEEPERS, on_case=True, check=_officer_or_owner,
         doc="officers of the case and its lead official"),
    Rule(Action.DOCUMENT_WITHDRAW, _KEEPERS, on_case=True, check=_officer_or_owner,
         doc="officers of the case and its lead official; the bytes are kept"),
    Rule(Action.DOCUMENT_PURGE, frozenset({Role.ADMIN}), on_case=True,
         doc="admins: the retention purge of a withdrawn document's bytes"),
    Rule(Action.ARCHIVE_EXPORT, OFFICIAL_ROLES, on_case=True,
         doc="officials who see the case: the archive (卷宗) as a ZIP"),
)

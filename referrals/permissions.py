"""The referrals' rules in the permission table (registered by `referrals.init_app`)."""

from __future__ import annotations

from mediation.permissions import OFFICIAL_ROLES, Action, Rule
from mediation.users import PROVIDER_ROLES, Role

RULES = (
    # Staff see the whole directory; a provider's members see their own provider only.
    Rule(Action.PROVIDERS_READ_ALL, OFFICIAL_ROLES, doc="the whole provider directory"),
    Rule(Action.PROVIDERS_EDIT, frozenset({Role.ADMIN, Role.SUPERVISOR}),
         doc="add and change providers (members change their own availability)"),
    # The ranking reasons name other providers' load and acceptance rates: staff only.
    Rule(Action.ROUTING_VIEW, OFFICIAL_ROLES, on_case=True,
         doc="a case's routing, candidates and every referral of the case"),
    # A provider's record is the basis of its subsidy claims: who checks them reads it.
    Rule(Action.PROVIDER_RECORDS_READ, frozenset({Role.ADMIN, Role.SUPERVISOR}),
         doc="any provider's record of referrals (members read their own)"),
    Rule(Action.REFERRALS_RESPOND, frozenset(PROVIDER_ROLES),
         doc="the provider's inbox: accept, decline and work on referred cases"),
)


"""The referrals' rules in the permission table (registered by `referrals.init_app`)."""

from __future__ import annotations

import sqlalchemy as sa

from mediation.extensions import db
from mediation.permissions import OFFICIAL_ROLES, Action, Rule
from mediation.users import PROVIDER_ROLES, Role, User
from referrals.models import ProviderMember, Referral, ReferralStatus


def accepted_on(user: User, case_id: int) -> bool:
    """Does one of the user's providers hold an accepted referral on the case?"""
    return db.session.execute(sa.select(Referral.id).join(
        ProviderMember, ProviderMember.provider_id == Referral.provider_id).where(
        ProviderMember.user_id == user.id, Referral.case_id == case_id,
        Referral.status == ReferralStatus.ACCEPTED.value).limit(1)).first() is not None


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
    # To reach the petitioner: the phone (never the identity number), while the referral is
    # accepted; each reveal goes on the timeline like every other.
    Rule(Action.CASE_CONTACT_PETITIONER, frozenset(PROVIDER_ROLES), on_case=True,
         check=lambda user, case: accepted_on(user, case.id),
         doc="providers with an accepted referral on the case: the petitioner's phone only"),
    Rule(Action.REFERRALS_RESPOND, frozenset(PROVIDER_ROLES),
         doc="the provider's inbox: accept, decline and work on referred cases"),
)


"""Providers in the directory, and referrals and providers read afresh."""

from __future__ import annotations

from typing import Any

from mediation.extensions import db
from mediation.regions import region_prefix as prefix_of
from mediation.users import User
from referrals.models import Provider, ProviderMember, ProviderRegion, Referral
from tests.factories.base import seq


def make_provider(kind: str = "mediator", regions: tuple[str, ...] = ("510104",), capacity: int = 3,
                  members: tuple[User, ...] = (), **kw: Any) -> Provider:
    """A provider straight into the directory (the API tests create theirs through the API)."""
    if kind == "mediator":
        kw.setdefault("mediation_type", "people")
    provider = Provider(name=kw.pop("name", f"{kind} {seq()}"), kind=kind, capacity=capacity,
                        load=kw.pop("load", 0), specialities=kw.pop("specialities", []),
                        conflicts=kw.pop("conflicts", []), available=kw.pop("available", True),
                        active=kw.pop("active", True), note="", **kw)
    provider.regions = [ProviderRegion(region_prefix=prefix_of(r), region_code=r) for r in regions]
    provider.members = [ProviderMember(user_id=u.id) for u in members]
    db.session.add(provider)
    db.session.commit()
    return provider


def referral(referral_id: int) -> Referral:
    db.session.expire_all()
    return db.session.get(Referral, referral_id)


def provider(provider_id: int) -> Provider:
    db.session.expire_all()
    return db.session.get(Provider, provider_id)

"""Factories for the referral tests: providers, users and cases written through the real
commands (no test here; the other test_referrals_* modules import these)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from mediation.api.schemas import CaseIn
from mediation.cases import commands
from mediation.cases.models import Case
from mediation.extensions import db
from mediation.regions import region_prefix as prefix_of
from mediation.timeline import Event
from mediation.users import User
from referrals.models import Provider, ProviderMember, ProviderRegion, Referral
from tests.factories import case_payload

_n = itertools.count(1)
PASSWORD = "Test-pass-123!"


# Tests make many users: a cheap hash keeps them fast (production hashing is not under test).
FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def make_user(role: str, region: str | None = None) -> User:
    name = f"{role}_r{next(_n)}"
    user = User(username=name, display_name=name, role=role, region=region,
                password_hash=FAST_HASH, active=True)
    db.session.add(user)
    db.session.commit()
    return user


def make_provider(kind: str = "mediator", regions: tuple[str, ...] = ("510104",), capacity: int = 3,
                  members: tuple[User, ...] = (), **kw: Any) -> Provider:
    """A provider straight into the directory (the API tests create theirs through the API)."""
    if kind == "mediator":
        kw.setdefault("mediation_type", "people")
    provider = Provider(name=kw.pop("name", f"{kind} {next(_n)}"), kind=kind, capacity=capacity,
                        load=kw.pop("load", 0), specialities=kw.pop("specialities", []),
                        conflicts=kw.pop("conflicts", []), available=kw.pop("available", True),
                        active=kw.pop("active", True), note="", **kw)
    provider.regions = [ProviderRegion(region_prefix=prefix_of(r), region_code=r) for r in regions]
    provider.members = [ProviderMember(user_id=u.id) for u in members]
    db.session.add(provider)
    db.session.commit()
    return provider


def make_case(officer: User, **overrides: Any) -> Case:
    """A case taken in by the officer through the intake command."""
    body = case_payload(**overrides)
    return commands.intake(officer, CaseIn().load(body))


def events(case_id: int, type_prefix: str = "") -> list[Event]:
    db.session.expire_all()
    return list(db.session.execute(
        sa.select(Event).where(Event.case_id == case_id, Event.type.startswith(type_prefix))
        .order_by(Event.seq)).scalars())


def referral(referral_id: int) -> Referral:
    db.session.expire_all()
    return db.session.get(Referral, referral_id)


def provider(provider_id: int) -> Provider:
    db.session.expire_all()
    return db.session.get(Provider, provider_id)


def past(hours: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)

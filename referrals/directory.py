"""The provider directory: who may see it, who may change what, and the commands."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mediation import access
from mediation.cases.models import LivelihoodField
from mediation.errors import Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can
from mediation.regions import covers, normalize_region, region_prefix
from mediation.timeline import utcnow
from mediation.transactions import transactional
from mediation.users import PROVIDER_ROLES, Role, User
from referrals.models import MediationType, Provider, ProviderKind, ProviderMember, ProviderRegion
from referrals.ranking import case_prefixes

# The user roles that may act for each provider kind. Deputies, CPPCC members and local
# worthies have no role of their own: they take part as mediators or through a mass org.
KIND_ROLES: dict[str, set[str]] = {
    ProviderKind.MEDIATOR: {Role.MEDIATOR},
    ProviderKind.LAWYER: {Role.LAWYER},
    ProviderKind.COUNSELLOR: {Role.COUNSELLOR},
    ProviderKind.TRADE_UNION: {Role.MASS_ORG},
    ProviderKind.WOMENS_FEDERATION: {Role.MASS_ORG},
    ProviderKind.DISABLED_PERSONS_FEDERATION: {Role.MASS_ORG},
    ProviderKind.DEPUTY: {Role.MEDIATOR, Role.MASS_ORG},
    ProviderKind.CPPCC_MEMBER: {Role.MEDIATOR, Role.MASS_ORG},
    ProviderKind.WORTHY: {Role.MEDIATOR, Role.MASS_ORG},
}
# What a provider's own members may change themselves: their availability and leave, their
# specialities (what they know best is theirs to say; the routing matches on them), and a
# request for another capacity — the capacity itself decides how many cases the routing sends
# them (and the per-case subsidy budget), so an admin or supervisor grants it.
SELF_SERVICE = {"available", "away_until", "specialities", "requested_capacity", "capacity_request_note"}


def visible_providers_filter(user: User):
    """Staff see the whole directory; a provider's members see their own provider."""
    if can(user, Action.PROVIDERS_READ_ALL):
        return sa.true()
    return Provider.id.in_(
        sa.select(ProviderMember.provider_id).where(ProviderMember.user_id == user.id))


def get_provider(user: User, provider_id: int) -> Provider:
    provider = db.session.execute(
        sa.select(Provider).where(Provider.id == provider_id, visible_providers_filter(user))
    ).scalar_one_or_none()
    if provider is None:
        raise NotFound("provider")
    return provider


def list_providers(user: User, args: dict[str, Any]) -> tuple[list[Provider], int]:
    query = sa.select(Provider).where(visible_providers_filter(user))
    if "kind" in args:
        query = query.where(Provider.kind == args["kind"])
    if "need" in args:
        from referrals.routing import routing_rules

        query = query.where(Provider.kind.in_(routing_rules().rule(args["need"]).kinds))
    if "region" in args:
        prefixes = case_prefixes(normalize_region(args["region"]))
        query = query.where(Provider.id.in_(
            sa.select(ProviderRegion.provider_id).where(ProviderRegion.region_prefix.in_(prefixes))))
    if "available" in args:
        query = query.where(Provider.available.is_(args["available"]))
    if "active" in args:
        query = query.where(Provider.active.is_(args["active"]))
    if "q" in args:
        query = query.where(Provider.name.contains(args["q"], autoescape=True))
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    page, size = args.get("page", 1), args.get("page_size", 50)
    rows = db.session.execute(query.order_by(Provider.id).offset((page - 1) * size).limit(size))
    return list(rows.scalars()), total


def _check_fields(data: dict[str, Any], kind: str, mediation_type: str | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if kind not in ProviderKind._value2member_map_:
        errors["kind"] = [f"one of {', '.join(k.value for k in ProviderKind)}"]
    elif kind == ProviderKind.MEDIATOR and mediation_type is None:
        errors["mediation_type"] = [f"a mediator needs one of {', '.join(t.value for t in MediationType)}"]
    elif kind != ProviderKind.MEDIATOR and mediation_type is not None:
        errors["mediation_type"] = ["only mediators have a mediation type"]
    if mediation_type is not None and mediation_type not in MediationType._value2member_map_:
        errors["mediation_type"] = [f"one of {', '.join(t.value for t in MediationType)}"]
    bad = [s for s in data.get("specialities") or [] if s not in LivelihoodField._value2member_map_]
    if bad:
        errors["specialities"] = [f"unknown field {b!r}" for b in bad]
    if "capacity" in data and not 0 <= data["capacity"] <= 1000:
        errors["capacity"] = ["between 0 and 1000"]
    return errors


def _regions(actor: User, codes: list[str], errors: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for code in codes:
        try:
            norm = normalize_region(code)
        except ValueError as exc:
            errors.setdefault("regions", []).append(f"{code}: {exc}")
            continue
        if actor.role != Role.ADMIN and not covers(actor.region, norm):
            errors.setdefault("regions", []).append(f"{code}: outside your jurisdiction {actor.region}")
        out.append(norm)
    if not codes:
        errors["regions"] = ["at least one region served"]
    return list(dict.fromkeys(out))


def _members(provider: Provider | None, kind: str, user_ids: list[int],
             errors: dict[str, list[str]]) -> list[int]:
    for uid in user_ids:
        user = db.session.get(User, uid)
        if user is None or user.role not in PROVIDER_ROLES:
            errors.setdefault("user_ids", []).append(f"{uid}: not a provider's user account")
            continue
        if user.role not in KIND_ROLES.get(kind, set()):
            errors.setdefault("user_ids", []).append(f"{uid}: a {user.role} cannot act for a {kind}")
        linked = db.session.get(ProviderMember, uid)
        if linked is not None and (provider is None or linked.provider_id != provider.id):
            errors.setdefault("user_ids", []).append(f"{uid}: already acts for provider "
                                                     f"{linked.provider_id}")
    return list(dict.fromkeys(user_ids))


def _set_regions(provider: Provider, codes: list[str]) -> None:
    # Keep the rows that stay: a new object with the same primary key would clash.
    kept = {r.region_prefix: r for r in provider.regions}
    provider.regions = [kept.get(region_prefix(c)) or ProviderRegion(
        region_prefix=region_prefix(c), region_code=c) for c in codes]


def _set_members(provider: Provider, user_ids: list[int]) -> None:
    kept = {m.user_id: m for m in provider.members}
    provider.members = [kept.get(u) or ProviderMember(user_id=u) for u in user_ids]
    gone = set(kept) - set(user_ids)
    if gone:  # they no longer act for it: the cases its referrals showed them are gone too
        access.changed(db.session, user_ids=gone)


@transactional
def create_provider(actor: User, data: dict[str, Any]) -> Provider:
    """Add a provider to the directory (admins and supervisors)."""
    if not can(actor, Action.PROVIDERS_EDIT):
        raise Forbidden("only admins and supervisors manage the directory")
    errors = _check_fields(data, data["kind"], data.get("mediation_type"))
    codes = _regions(actor, data["regions"], errors)
    users = _members(None, data["kind"], data.get("user_ids") or [], errors)
    if errors:
        raise Invalid(errors)
    provider = Provider(
        name=data["name"], kind=data["kind"], mediation_type=data.get("mediation_type"),
        specialities=sorted(set(data.get("specialities") or [])),
        conflicts=list(dict.fromkeys(data.get("conflicts") or [])),
        capacity=data.get("capacity", 5), load=0, available=data.get("available", True),
        away_until=data.get("away_until"), active=True, note=data.get("note") or "")
    _set_regions(provider, codes)
    _set_members(provider, users)
    db.session.add(provider)
    db.session.flush()
    return provider


@transactional
def update_provider(actor: User, provider_id: int, data: dict[str, Any]) -> Provider:
    """Change a provider: editors change anything; its members only their availability."""
    provider = get_provider(actor, provider_id)
    if not can(actor, Action.PROVIDERS_EDIT):
        member = db.session.get(ProviderMember, actor.id)
        if member is None or member.provider_id != provider.id:
            raise Forbidden("only admins and supervisors manage the directory")
        extra = set(data) - SELF_SERVICE
        if extra:
            raise Forbidden(f"a provider may change only its availability, leave, specialities and "
                            f"capacity request, not {', '.join(sorted(extra))}")
    elif actor.role != Role.ADMIN and not all(covers(actor.region, c) for c in provider.region_codes):
        raise Forbidden("the provider serves regions outside your jurisdiction")
    kind = data.get("kind", provider.kind)
    mtype = data.get("mediation_type", provider.mediation_type)
    errors = _check_fields(data, kind, mtype)
    codes = _regions(actor, data["regions"], errors) if "regions" in data else None
    users = None
    if "user_ids" in data:
        users = _members(provider, kind, data["user_ids"], errors)
    elif "kind" in data:
        _members(provider, kind, [m.user_id for m in provider.members], errors)
    if errors:
        raise Invalid(errors)
    for name in ("name", "kind", "mediation_type", "capacity", "available", "away_until",
                 "active", "note"):
        if name in data:
            setattr(provider, name, data[name])
    if "specialities" in data:
        provider.specialities = sorted(set(data["specialities"]))
    if "conflicts" in data:
        provider.conflicts = list(dict.fromkeys(data["conflicts"]))
    if "requested_capacity" in data or "capacity_request_note" in data:
        wanted = data.get("requested_capacity", provider.requested_capacity)
        if wanted is None:
            _clear_request(provider)
        else:
            if wanted != provider.requested_capacity:
                provider.capacity_requested_at = utcnow()
            provider.requested_capacity = wanted
            if "capacity_request_note" in data:
                provider.capacity_request_note = data["capacity_request_note"] or None
    if "capacity" in data:  # an editor set the capacity: the pending request is decided
        _clear_request(provider)
    if codes is not None:
        _set_regions(provider, codes)
    if users is not None:
        _set_members(provider, users)
    provider.updated_at = utcnow()
    db.session.flush()
    return provider


def _clear_request(provider: Provider) -> None:
    provider.requested_capacity = None
    provider.capacity_request_note = None
    provider.capacity_requested_at = None


def provider_view(provider: Provider) -> dict[str, Any]:
    return {
        "id": provider.id, "name": provider.name, "kind": provider.kind,
        "mediation_type": provider.mediation_type, "specialities": provider.specialities or [],
        "regions": provider.region_codes, "capacity": provider.capacity, "load": provider.load,
        "available": provider.available, "away_until": provider.away_until,
        "requested_capacity": provider.requested_capacity,
        "capacity_request_note": provider.capacity_request_note,
        "capacity_requested_at": provider.capacity_requested_at,
        "active": provider.active, "conflicts": provider.conflicts or [], "note": provider.note,
        "user_ids": [m.user_id for m in provider.members],
        "last_offered_at": provider.last_offered_at,
        "created_at": provider.created_at, "updated_at": provider.updated_at,
    }

"""Providers, routing and the referral lifecycle. Registered by the app factory.

Settings (declared in `mediation.settings`):
- `MEDIATION_ROUTING_RULES`: path of the routing rules file (default: `routing_rules.json`
  in the instance folder if present, else the packaged `referrals/routing_rules.json`);
- `MEDIATION_ROUTING_ON_INTAKE`: `confirm` (default: the officer confirms with
  `POST /api/cases/<id>/routing`) or `auto` (offers go out as soon as a case's needs are set);
- `MEDIATION_REFERRAL_SWEEP_SECONDS`: how often beat (or the embedded loop) sweeps
  overdue offers (default 60).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from mediation import settings

SWEEP_TASK = "referrals.sweep"


def init_app(app: Flask) -> None:
    """Validate the routing rules (an invalid file stops the app), register the event
    types, API, the case-visibility rule for providers, the provider source of sessions,
    the intake hook, demo data, tasks, the sweep and the pages."""
    from mediation.events import declare
    from mediation.extensions import api, csrf
    from mediation.permissions import register_rules
    from mediation.registry import registry
    from mediation.server import add_periodic_job
    from mediation.tasks import add_beat
    from referrals import events, models, rules, tasks  # noqa: F401 - models and tasks register themselves
    from referrals.api import blp
    from referrals.directory_cache import DirectoryCache
    from referrals.permissions import RULES
    from referrals.routing import on_needs_changed as route_on_needs_changed

    path = rules.rules_path(settings.get("MEDIATION_ROUTING_RULES", app) or "", Path(app.instance_path))
    app.extensions["referrals.rules"] = rules.load(path)
    # The provider directory held in the process for ranking (PostgreSQL; see the module).
    app.extensions["referrals.directory"] = DirectoryCache()
    seconds = float(settings.get("MEDIATION_REFERRAL_SWEEP_SECONDS", app))

    register_rules(app, *RULES)
    from mediation.pii import register_encrypted

    register_encrypted(app, models.CounsellingNote, "content_enc")
    declare(app, *events.ALL)
    from mediation.documents.targets import register_target
    from referrals.documents import TARGETS as DOCUMENT_TARGETS

    for target in DOCUMENT_TARGETS:  # opinions and counselling notes take documents
        register_target(app, target)
    api.register_blueprint(blp)
    csrf.exempt(blp)  # bearer tokens, not cookies
    reg = registry(app)
    reg.case_access.register("referrals.providers", _provider_case_access)
    reg.provider_sources.register("referrals", _SessionProviders())
    reg.needs_hooks.register("referrals.route", route_on_needs_changed)
    reg.demo_loaders.register("referrals.providers", _demo_providers)
    add_beat(app, "referrals-sweep", SWEEP_TASK, seconds)
    add_periodic_job(app, "referrals-sweep", _embedded_sweep)
    from referrals import pages

    pages.init_app(app)  # the providers' inbox and forms
    from referrals import directory_pages

    directory_pages.init_app(app)  # the directory's pages and the members' own settings
    from referrals import case_sections

    case_sections.init_app(app)  # the case page's referrals and opinions, the board's column


# name, kind, mediation type, specialities, regions, the demo user acting for it
DEMO_PROVIDERS = [
    ("锦江区人民调解委员会", "mediator", "people", ["land_demolition", "property_management"],
     ["5101"], "mediator"),
    ("四川某律师事务所", "lawyer", None, ["land_demolition", "labour_social_security"], ["51"], "lawyer"),
    ("成都市心理援助中心", "counsellor", None, [], ["5101"], "counsellor"),
    ("成都市总工会", "trade_union", None, ["labour_social_security"], ["5101"], "union"),
    ("成都市妇女联合会", "womens_federation", None, [], ["5101"], None),
    ("市人大代表 何代表", "deputy", None, [], ["5101"], None),
]


def _demo_providers(users: dict) -> None:
    """The demo's providers, each acted for by its demo user (if any)."""
    from referrals.directory import create_provider

    admin = users["admin"]
    for name, kind, mtype, fields, regions, username in DEMO_PROVIDERS:
        data = {"name": name, "kind": kind, "specialities": fields, "regions": regions,
                "capacity": 5, "user_ids": [users[username].id] if username else []}
        if mtype:
            data["mediation_type"] = mtype
        create_provider(admin, data)


def _provider_case_access(user):
    """Providers see the cases on which one of their providers holds a live referral."""
    from mediation.users import PROVIDER_ROLES
    from referrals.routing import live_referrals_of

    return live_referrals_of(user) if user.role in PROVIDER_ROLES else None


def _embedded_sweep() -> object:
    """The embedded default (no Redis): the server's loop runs the sweep in-process."""
    from referrals.routing import sweep

    return sweep().as_dict()


class _SessionProviders:
    """What mediation sessions need of the directory and the referrals (the
    `mediation.sessions.sources.ProviderSource` this package registers)."""

    def accepted_users(self, case_id: int, kinds: tuple[str, ...] | None) -> set[int]:
        import sqlalchemy as sa

        from mediation.extensions import db
        from referrals.models import Provider, ProviderMember, Referral, ReferralStatus

        query = (sa.select(ProviderMember.user_id)
                 .join(Referral, Referral.provider_id == ProviderMember.provider_id)
                 .join(Provider, Provider.id == Referral.provider_id)
                 .where(Referral.case_id == case_id, Referral.status == ReferralStatus.ACCEPTED))
        if kinds is not None:
            query = query.where(Provider.kind.in_(kinds))
        return set(db.session.execute(query).scalars())

    def mediation_types(self, case_id: int, user_id: int) -> set[str]:
        """The mediation types of the providers the user acts for with an accepted referral
        on the case (the consent rule of people's mediation at session start)."""
        import sqlalchemy as sa

        from mediation.extensions import db
        from referrals.models import Provider, ProviderMember, Referral, ReferralStatus

        return {t for t in db.session.execute(
            sa.select(Provider.mediation_type)
            .join(Referral, Referral.provider_id == Provider.id)
            .join(ProviderMember, ProviderMember.provider_id == Provider.id)
            .where(Referral.case_id == case_id, Referral.status == ReferralStatus.ACCEPTED,
                   ProviderMember.user_id == user_id)).scalars() if t}

    def directory_entry(self, provider_id: int):
        from mediation.extensions import db
        from mediation.sessions.sources import DirectoryEntry
        from referrals.models import Provider

        provider = db.session.get(Provider, provider_id)
        if provider is None:
            return None
        return DirectoryEntry(id=provider.id, name=provider.name, kind=provider.kind,
                              active=provider.active,
                              user_ids=tuple(m.user_id for m in provider.members),
                              region_prefixes=tuple(r.region_prefix for r in provider.regions))

    def mediating_provider(self, case_id: int, user_id: int):
        """The mediator provider through which the user holds an accepted referral on the
        case (the first by referral id when several), or None."""
        import sqlalchemy as sa

        from mediation.extensions import db
        from mediation.sessions.sources import MEDIATOR_KINDS, DirectoryEntry
        from referrals.models import Provider, ProviderMember, Referral, ReferralStatus

        provider = db.session.execute(
            sa.select(Provider).join(Referral, Referral.provider_id == Provider.id)
            .join(ProviderMember, ProviderMember.provider_id == Provider.id)
            .where(Referral.case_id == case_id, Referral.status == ReferralStatus.ACCEPTED,
                   ProviderMember.user_id == user_id, Provider.kind.in_(MEDIATOR_KINDS))
            .order_by(Referral.id).limit(1)).scalar()
        if provider is None:
            return None
        return DirectoryEntry(id=provider.id, name=provider.name, kind=provider.kind,
                              active=provider.active, mediation_type=provider.mediation_type)

    def invitable(self, region_code: str):
        """Active deputies, CPPCC members and worthies serving the region (sessions' form)."""
        import sqlalchemy as sa

        from mediation.extensions import db
        from mediation.sessions.sources import INVITED_KINDS, DirectoryEntry
        from referrals.models import Provider, ProviderRegion

        prefixes = [region_code[:n] for n in (2, 4, 6) if n <= len(region_code)]
        serving = sa.select(ProviderRegion.provider_id).where(ProviderRegion.region_prefix.in_(prefixes))
        rows = db.session.execute(sa.select(Provider).where(
            Provider.kind.in_(INVITED_KINDS), Provider.active.is_(True), Provider.id.in_(serving))
            .order_by(Provider.name)).scalars()
        return [DirectoryEntry(id=p.id, name=p.name, kind=p.kind, active=p.active,
                               user_ids=tuple(m.user_id for m in p.members)) for p in rows]

"""The sessions world: a case with an accepted mediation referral and an accepted legal
referral, made through the real commands; and the bodies the session and agreement
tests post."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from mediation.extensions import db
from mediation.users import issue_token
from referrals import lifecycle
from tests.factories.base import World, later
from tests.factories.cases import make_case
from tests.factories.referrals import make_provider
from tests.factories.users import make_user


def sessions_world(app: Flask, tokens: dict[int, str] | None = None) -> World:
    """People by name with their tokens (also put in `tokens`, by user id, when given), the
    case, its petitioner, a bare case and the providers; the rows come back detached."""
    with app.app_context():
        users = {
            "officer": make_user("case_officer", "510104"),
            "mediator": make_user("mediator"),
            "lawyer": make_user("lawyer"),
            "counsellor": make_user("counsellor"),
            "other_mediator": make_user("mediator"),
            "deputy": make_user("mass_org"),
            "stranger": make_user("case_officer", "110101"),
            "supervisor": make_user("supervisor", "51"),
            "lead": make_user("lead_official", "510104"),
            "evaluator": make_user("evaluator"),
            # Accounts of parties to agreements (当事人), who sign through them.
            "party": make_user("party"),
            "party2": make_user("party"),
        }
        mediator_p = make_provider("mediator", members=(users["mediator"],))
        lawyer_p = make_provider("lawyer", members=(users["lawyer"],), specialities=["land_demolition"])
        make_provider("counsellor", members=(users["counsellor"],))
        make_provider("mediator", members=(users["other_mediator"],))
        deputy_p = make_provider("deputy", members=(users["deputy"],), name="王代表")
        case = make_case(users["officer"], needs=["economic_compensation", "legal_opinion"])
        for need, provider, user in (("economic_compensation", mediator_p, users["mediator"]),
                                     ("legal_opinion", lawyer_p, users["lawyer"])):
            r = lifecycle.request_referral(users["officer"], case.id, need, provider_id=provider.id)
            lifecycle.accept(user, r.id)
        bare = make_case(users["officer"])  # no referral at all
        world = World(
            users, case_id=case.id, bare_case_id=bare.id, petitioner_id=case.petitioners[0].id,
            bare_petitioner_id=bare.petitioners[0].id, deputy_provider_id=deputy_p.id,
            lawyer_provider_id=lawyer_p.id)
        for name, user in users.items():
            world.tokens[name], _ = issue_token(user)
            if tokens is not None:
                tokens[user.id] = world.tokens[name]
        db.session.commit()
        for user in users.values():
            db.session.expunge(user)
        db.session.remove()
        return world


def record_consents(app: Flask, case_id: int, officer_id: int, method: str = "written") -> int:
    """Every petitioner's (and every entered respondent's) consent to mediation, recorded by
    the case's officer from signed papers through the real command — what a people's
    mediation session needs before it starts (`notifications.parties`). Parties who
    consented already are left as they are. Returns how many were recorded."""
    import sqlalchemy as sa

    from mediation.cases.models import Petitioner
    from mediation.notifications import parties
    from mediation.notifications.models import Consent
    from mediation.users import User

    with app.app_context():
        officer = db.session.get(User, officer_id)
        have = db.session.execute(sa.select(Consent.petitioner_id, Consent.respondent_id)
                                  .where(Consent.case_id == case_id)).all()
        done_p = {p for p, _ in have if p is not None}
        done_r = {r for _, r in have if r is not None}
        wanted = [{"petitioner_id": pid} for pid in db.session.execute(
            sa.select(Petitioner.id).where(Petitioner.case_id == case_id)).scalars() if pid not in done_p]
        wanted += [{"respondent_id": r.id} for r in parties.respondents(case_id) if r.id not in done_r]
        for who in wanted:
            parties.record_consent(officer, case_id, {**who, "method": method})
        db.session.remove()
        return len(wanted)


def consent_via(post: Callable[[str, str, dict], Any], w: World, case_id: int | None = None,
                petitioner_id: int | None = None) -> None:
    """The officer records the petitioner's signed consent through a served process's API:
    `post(path, token, body)` returns the response (`LiveServer.post`, a bound `call`)."""
    r = post(f"/api/cases/{case_id or w.case_id}/consents", w.tokens["officer"],
             {"petitioner_id": petitioner_id or w.petitioner_id, "method": "written"})
    # 409: consented already (an earlier session of the same world)
    assert r.status_code in (201, 409), getattr(r, "text", r)


def consent(w: World, case_id: int | None = None, app: Flask | None = None) -> int:
    """`record_consents` for a sessions world's case (its officer records them)."""
    target = app if app is not None else w.api.app
    return record_consents(target, case_id or w.case_id, w.users["officer"].id)


def session_body(w: World, **overrides: Any) -> dict:
    body = {"scheduled_at": later(), "place": "锦江区人民调解委员会调解室", "topic": "补偿款",
            "petitioner_ids": [w.petitioner_id],
            "respondents": [{"name": "李科长", "unit": "区自然资源局"}],
            "user_ids": [w.users["lawyer"].id], "invited_provider_ids": [w.deputy_provider_id]}
    body.update(overrides)
    return body


def complete_content(w: World | None = None) -> dict:
    """An agreement's content with every statutory part."""
    return {
        "parties": [
            {"name": "张三", "role": "petitioner", "details": "男，1980年生，汉族，锦江区村民"},
            {"name": "锦江区自然资源局", "role": "respondent", "details": "法定代表人：李四",
             "user_id": None},
        ],
        "facts": "2019年征地时补偿款未足额发放。",
        "matters_in_dispute": "补偿款差额及利息。",
        "responsibilities": "区自然资源局对发放迟延负主要责任。",
        "terms": "区自然资源局补发补偿款人民币五万元。",
        "performance_manner": "银行转账至张三账户。",
        "performance_time_limit": "本协议生效之日起三十日内。",
    }


def call(w: World, method: str, path: str, who: str, json: Any = None) -> TestResponse:
    """A request as one of the world's people through `w.api` (an empty JSON body for writes
    by default)."""
    return w.api.call(method, path, w.users[who], json=json if json is not None or method == "GET"
                      else {})

"""A world for the session and agreement tests: a case with an accepted mediation referral
and an accepted legal referral, made through the real commands (no test here)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from mediation.extensions import db
from mediation.users import issue_token
from referrals import lifecycle
from tests.referrals_world import make_case, make_provider, make_user


def later(days: float = 1) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def build_world(app, tokens: dict[int, str] | None = None) -> SimpleNamespace:
    """Users by name (with tokens put in `tokens`), the case, its petitioner and providers."""
    with app.app_context():
        u = {
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
        mediator_p = make_provider("mediator", members=(u["mediator"],))
        lawyer_p = make_provider("lawyer", members=(u["lawyer"],), specialities=["land_demolition"])
        make_provider("counsellor", members=(u["counsellor"],))
        make_provider("mediator", members=(u["other_mediator"],))
        deputy_p = make_provider("deputy", members=(u["deputy"],), name="王代表")
        case = make_case(u["officer"], needs=["economic_compensation", "legal_opinion"])
        for need, provider, user in (("economic_compensation", mediator_p, u["mediator"]),
                                     ("legal_opinion", lawyer_p, u["lawyer"])):
            r = lifecycle.request_referral(u["officer"], case.id, need, provider_id=provider.id)
            lifecycle.accept(user, r.id)
        bare = make_case(u["officer"])  # no referral at all
        world = SimpleNamespace(
            case_id=case.id, bare_case_id=bare.id, petitioner_id=case.petitioners[0].id,
            bare_petitioner_id=bare.petitioners[0].id, deputy_provider_id=deputy_p.id,
            lawyer_provider_id=lawyer_p.id, users={}, tokens={})
        for name, user in u.items():
            token, _ = issue_token(user)
            world.users[name] = SimpleNamespace(id=user.id, name=name, username=user.username)
            world.tokens[name] = token
            if tokens is not None:
                tokens[user.id] = token
        db.session.commit()
        db.session.remove()
        return world


def session_body(w: SimpleNamespace, **overrides) -> dict:
    body = {"scheduled_at": later(), "place": "锦江区人民调解委员会调解室", "topic": "补偿款",
            "petitioner_ids": [w.petitioner_id],
            "respondents": [{"name": "李科长", "unit": "区自然资源局"}],
            "user_ids": [w.users["lawyer"].id], "invited_provider_ids": [w.deputy_provider_id]}
    body.update(overrides)
    return body


def complete_content(w: SimpleNamespace) -> dict:
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


def call(w, method: str, path: str, who: str, json=None):
    """A request as one of the world's users (an empty JSON body for writes by default)."""
    return w.api.call(method, path, w.users[who], json=json if json is not None or method == "GET"
                      else {})

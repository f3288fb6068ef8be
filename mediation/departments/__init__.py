"""Departments (责任单位) as real parties, and hand-overs to them (交办/转送).

A directory of departments per region (GB/T 2260 code: the level follows from it); user
accounts in the `department` role act for one department each. Such a user sees no case —
every case route is 404 to them — only the hand-overs sent to their department, through
this area's API and pages.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The permission rules, the labels, the API."""
    from mediation import labels
    from mediation.departments import events, models, routing  # noqa: F401 - the tables
    from mediation.departments.api import blp
    from mediation.departments.documents import TARGETS as DOCUMENT_TARGETS
    from mediation.departments.rules import RULES
    from mediation.documents.targets import register_target
    from mediation.events import declare
    from mediation.extensions import api, csrf
    from mediation.permissions import register_rules
    from mediation.registry import registry

    register_rules(app, *RULES)
    declare(app, *events.ALL)
    for target in DOCUMENT_TARGETS:  # a department's reply takes documents
        register_target(app, target)
    registry(app).demo_loaders.register("departments", _demo_departments)
    # strategy routes that end at a department suggest a hand-over (`routing`)
    registry(app).append_hooks.register("departments.strategy", routing.on_append)
    labels.register_groups(app, LABELS)
    api.register_blueprint(blp)
    csrf.exempt(blp)  # bearer tokens, not cookies
    from mediation.departments import pages

    pages.init_app(app)  # the inbox, a hand-over's page, the directory, the case page's section


# name, kind, region, the demo user acting for it
DEMO_DEPARTMENTS = [
    ("成都市民政局", "civil_affairs", "510100", "minzheng"),
    ("成都市中级人民法院", "court", "510100", None),
    ("成都市人民检察院", "procuratorate", "510100", None),
    ("成都市司法局", "policy", "510100", None),
    ("锦江区住房和城乡建设局", "housing", "510104", None),
    ("锦江区人力资源和社会保障局", "human_resources", "510104", None),
]


def _demo_departments(users: dict) -> None:
    from mediation.departments.directory import create_department

    for name, kind, region, username in DEMO_DEPARTMENTS:
        create_department(users["admin"], {"name": name, "kind": kind, "region_code": region,
                                           "user_ids": [users[username].id] if username else []})


def _labels() -> dict:
    from flask_babel import lazy_gettext as _l

    return {
        "department_kind": {
            "civil_affairs": _l("民政"), "court": _l("人民法院"), "procuratorate": _l("人民检察院"),
            "political_legal": _l("政法委"), "policy": _l("政策研究部门"), "housing": _l("住房城乡建设"),
            "human_resources": _l("人力资源社会保障"), "natural_resources": _l("自然资源"),
            "education": _l("教育"), "health": _l("卫生健康"), "other": _l("其他部门"),
        },
        "handover_status": {
            "suggested": _l("建议交办"), "sent": _l("已交办"), "acknowledged": _l("已签收"),
            "replied": _l("已回复"), "returned": _l("退回重办"), "accepted": _l("已办结"),
            "withdrawn": _l("已撤回"),
        },
    }


LABELS = _labels()

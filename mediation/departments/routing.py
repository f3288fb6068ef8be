"""Strategy routes that end at a department (一案一策 → 交办).

The task force's assessment decides the case's strategy (`mediation/cases/rules.py`,
`STRATEGIES`). Three strategies need another organ, which the referral router (providers:
mediators, lawyers, counsellors, mass organisations) cannot reach:

| assessment | strategy | hand-over to |
|---|---|---|
| 不合理但生活困难 (unreasonable_hardship) | 落实社会救助 | 民政 (civil_affairs) |
| 涉法涉诉 (law_related) | 导入法律程序 (政法 hand-over) | court, else procuratorate, else 政法委 |
| 政策不衔接、不完善 (policy_gap) | 推动制定完善配套政策 | the policy department (policy) |

Decision: when a case is taken in or edited with one of these assessments, a *suggested*
hand-over is created (one per case, department and strategy while it is open) to the
active department of that kind nearest the case — its own region first, then each region
above. A suggestion is not sent: the case's officer fills in what is asked and the
deadline and sends it (`POST /api/handovers/<id>/send`), or cancels it with a reason; from
then on it is an ordinary hand-over with a tracked reply. The department is told nothing
of a suggestion. With no such department in the directory nothing is suggested (the
officer may hand the matter to any department by hand).

It runs as an append hook of the timeline (`case.created` and `case.updated` carry the
assessment), in the command's own transaction, so the cases area knows nothing of it.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from mediation.departments.directory import ancestors
from mediation.departments.models import Department, DepartmentKind

K = DepartmentKind

# assessment -> (strategy code, department kinds in order of preference, matter, ask)
ROUTES: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "unreasonable_hardship": (
        "assistance_and_counselling", (K.CIVIL_AFFAIRS.value,), "落实社会救助",
        "核实信访人家庭困难情况，依规落实低保、临时救助等社会救助措施，并书面回复办理结果。"),
    "law_related": (
        "legal_channels", (K.COURT.value, K.PROCURATORATE.value, K.POLITICAL_LEGAL.value),
        "涉法涉诉事项导入法律程序",
        "依法审查信访人诉求是否属于诉讼、复议或检察监督事项，导入法律程序处理，并书面回复。"),
    "policy_gap": (
        "supplementary_policy", (K.POLICY.value,), "研究制定完善配套政策",
        "研究信访人反映的政策不衔接、不完善问题，提出制定或完善配套政策的意见，并书面回复。"),
}


def nearest_department(session: Any, region_code: str, kinds: tuple[str, ...]) -> Department | None:
    """The active department of the first kind that has one, nearest the region (its own
    region first, then each above)."""
    chain = ancestors(region_code)
    rows = list(session.execute(sa.select(Department).where(
        Department.kind.in_(kinds), Department.active.is_(True),
        Department.region_code.in_(chain))).scalars())
    for kind in kinds:
        for code in chain:
            for d in sorted(rows, key=lambda d: d.id):
                if d.kind == kind and d.region_code == code:
                    return d
    return None


def _assessment(ev: Any) -> str | None:
    if ev.type == "case.updated":
        change = (ev.payload.get("changes") or {}).get("assessment")
        return change.get("to") if isinstance(change, dict) else None
    if ev.type == "case.created":
        return (ev.payload.get("fields") or {}).get("assessment")
    return None


# A created case's data names a route only if its canonical JSON text holds one of these
# (no spaces in it, a string's quotes escaped): one substring test instead of decoding its
# data, for the cases whose assessment has no route (most of them).
_ROUTE_TEXTS = tuple(f'"assessment":{json.dumps(key)}' for key in ROUTES)


def _may_name_a_route(ev: Any) -> bool:
    return ev.type != "case.created" or any(text in ev.data for text in _ROUTE_TEXTS)


def on_append(session: Any, events: list[Any]) -> None:
    """The timeline's append hook: suggest the hand-over a new assessment's strategy needs."""
    for ev in events:
        if ev.type not in ("case.updated", "case.created") or not _may_name_a_route(ev):
            continue
        route = ROUTES.get(_assessment(ev) or "")
        if route is None:
            continue
        from mediation.cases.models import Case
        from mediation.departments import commands
        from mediation.users import User

        strategy, kinds, matter, ask = route
        case = session.get(Case, ev.case_id)
        department = nearest_department(session, case.region_code, kinds) if case is not None else None
        if department is None:
            continue
        actor = session.get(User, ev.actor_id) if ev.actor_id else None
        commands.suggest(case, department, matter, ask, strategy, actor)

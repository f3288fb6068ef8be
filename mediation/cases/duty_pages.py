"""The lead official's duties page (三级包案, 五包): the cases they own, each with its
progress hearing (at least monthly) and petitioner meeting (at least half-monthly), overdue
cases first, and one click to record a hearing or a meeting held today.

The clocks are `rules.owner_duties`, the same the case file and the API show; a record goes
through the API's `ContactIn` schema and `commands.record_contact`, so the page cannot
disagree with the API about what is due or who may record it. The list is a live part:
a contact recorded elsewhere (an officer, another tab) resets the duty on this page too.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import clock, labels, web
from mediation.cases import commands, rules
from mediation.cases.models import Case
from mediation.errors import NotFound
from mediation.extensions import db
from mediation.schemas.cases import ContactIn
from mediation.users import Role, User

bp = web.page_blueprint("duty_pages", __name__)

# Cases a page follows live at most (beyond these the list still renders, refreshed on reload).
LIVE_CASES_MAX = 100


def init_app(app: Flask) -> None:
    """Register the page and its link in the lead officials' top bar."""
    app.register_blueprint(bp)
    web.add_nav(app, "duty_pages.duties", _l("包案职责"), {Role.LEAD_OFFICIAL.value}, 20)


def _lead_official() -> User:
    user = current_user._get_current_object()
    if user.role != Role.LEAD_OFFICIAL:
        raise NotFound("page")
    return user


def owned_cases(user: User) -> list[dict[str, Any]]:
    """The user's cases with their duties: overdue first, then by the earliest due date."""
    cases = db.session.execute(
        sa.select(Case).where(Case.lead_official_id == user.id).order_by(Case.id)).scalars().all()
    today = clock.today()
    rows = []
    for case in cases:
        duties = [d.as_dict() for d in rules.owner_duties(case, commands.limits(), today)]
        last = {}
        for contact in case.contacts:
            if contact.kind not in last or contact.held_on > last[contact.kind]:
                last[contact.kind] = contact.held_on
        for d in duties:
            d["last_held_on"] = last[d["name"]].isoformat() if d["name"] in last else None
        dues = [d["due_on"] for d in duties if d["state"] in ("running", "overdue")]
        rows.append({
            "id": case.id, "reference": case.reference, "title": case.title,
            "region_code": case.region_code, "status": case.status, "level": case.owner_level,
            "assigned_on": case.owner_assigned_on.isoformat() if case.owner_assigned_on else None,
            "duties": duties, "overdue": any(d["state"] == "overdue" for d in duties),
            "next_due": min(dues) if dues else None, "last_seq": case.last_seq,
        })
    rows.sort(key=lambda r: (not r["overdue"], r["next_due"] is None, r["next_due"] or "", r["id"]))
    return rows


def _context(user: User, form: dict[str, Any] | None = None) -> dict[str, Any]:
    cases = owned_cases(user)
    followed = cases[:LIVE_CASES_MAX]
    return {
        "cases": cases, "today": clock.today().isoformat(), "form": form or {},
        "overdue_count": sum(1 for c in cases if c["overdue"]),
        "live_cases": ",".join(str(c["id"]) for c in followed),
        "live_cursors": ",".join(f"{c['id']}:{c['last_seq']}" for c in followed),
    }


@bp.route("/duties", methods=["GET", "POST"])
@login_required
def duties():
    """The lead official's cases and duties; POST records a hearing or meeting (today)."""
    user = _lead_official()
    if request.method == "GET":
        return web.render_page("cases/duties.html", **_context(user))
    try:
        case_id = int(request.form.get("case_id", ""))
    except ValueError as exc:
        raise NotFound("case") from exc
    outcome = web.submit(ContactIn(), lambda data: commands.record_contact(
        user, case_id, data["kind"], data["held_on"], data["note"]))
    if outcome.ok:
        kind = labels.label(request.form.get("kind"), "contact_kind")
        case = db.session.get(Case, case_id)
        web.report(outcome, _("已记录%(kind)s（%(ref)s），该项职责重新计时", kind=kind, ref=case.reference))
        return redirect(url_for("duty_pages.duties") + f"#case-{case_id}")
    if outcome.status == 409:
        outcome.message = _("该案件暂不能记录履职")
    elif outcome.status == 403:
        outcome.message = _("您无权记录该案件的履职情况")
    form = {"case_id": case_id, "kind": request.form.get("kind"), "outcome": outcome,
            "values": request.form}
    return web.render_page("cases/duties.html", status=outcome.status, **_context(user, form))

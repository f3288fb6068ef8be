"""The notification centre's pages: the header's badge (a live part on every signed-in
page) and the list at /notifications, both fetched again by pages.js when an event of a
type with recipients reaches the user's socket (their `user:<id>` inbox)."""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mediation import web
from mediation.errors import NotFound
from mediation.events import catalogue
from mediation.extensions import db
from mediation.notifications import centre, petitioner
from mediation.notifications.models import Notification

bp = web.page_blueprint("notification_pages", __name__)


def _context() -> dict[str, Any]:
    from mediation.notifications import preferences
    from mediation.permissions import Action, can

    me = current_user._get_current_object()
    items, more = centre.listing(db.session, me, limit=centre.PAGE)
    return {"notifications": [centre.view(me, n) for n in items], "more": more,
            "prefs": preferences.view(me), "can_see_log": can(me, Action.DELIVERIES_READ)}


@bp.get("/notifications")
@login_required
def index():
    """One's notifications, newest first, with links to the things and mark-read."""
    return web.render_page("notifications/index.html", **_context())


@bp.get("/notifications/badge")
@login_required
def badge():
    """The header's badge alone (pages.js asks for `?part=notif_badge`)."""
    return web.render_page("notifications/parts/notif_badge.html")


@bp.post("/notifications/read")
@login_required
def read():
    """Mark one (`id`) or all of one's notifications read."""
    me = current_user._get_current_object()
    raw = request.form.get("id")
    if raw is not None:
        if not raw.isdigit():
            raise NotFound("notification")
        centre.mark_read(db.session, me, [int(raw)])
    else:
        centre.mark_read(db.session, me)
    db.session.commit()
    return redirect(url_for("notification_pages.index"))


@bp.post("/notifications/<int:notification_id>/open")
@login_required
def open_(notification_id: int):
    """Mark it read and go to the thing it is about."""
    me = current_user._get_current_object()
    n = db.session.get(Notification, notification_id)
    if n is None or n.user_id != me.id:
        raise NotFound("notification")
    centre.mark_read(db.session, me, [n.id])
    db.session.commit()
    return redirect(centre.link(me, n))


def _template_helpers() -> dict[str, Any]:
    def notification_unread() -> int:
        if not current_user.is_authenticated:
            return 0
        return centre.unread_count(db.session, current_user._get_current_object())

    def notification_types() -> str:
        # Only the types this user could ever be told of: an officials-only type's name
        # on a provider's page says what the page may not show.
        from mediation.events import OFFICIALS
        from mediation.permissions import OFFICIAL_ROLES

        official = current_user.is_authenticated and current_user.role in OFFICIAL_ROLES
        return ",".join(t.name for t in catalogue()
                        if t.recipients and (official or t.audience is not OFFICIALS))

    return {"notification_unread": notification_unread, "notification_types": notification_types}


def init_app(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from mediation.pages import Section, register_case_section
    from mediation.permissions import Action, roles_for

    app.register_blueprint(bp)
    app.context_processor(_template_helpers)
    web.add_nav(app, "notification_pages.deliveries", _l("发送记录"),
                roles_for(Action.DELIVERIES_READ, app), 90)
    register_case_section(app, Section("case_receipt", _l("当事人查询码与调解同意"), receipt_section,
                                       on="petitioner.", order=92))


# --- the receipt (受理告知书): a case section for the officers, and the printable page ---------

def receipt_section(user: Any, case: Any) -> dict[str, Any] | None:
    """The parties (petitioners, respondent parties) with their consent, a receipt or notice
    with a query code for each, a form to record a paper consent and one to enter a
    respondent: for those who may edit the case."""
    from mediation.cases.models import Case
    from mediation.clock import today
    from mediation.notifications import parties
    from mediation.permissions import Action, can

    if not can(user, Action.CASE_EDIT, case):
        return None
    row = db.session.get(Case, case.id) if not isinstance(case, Case) else case
    return {**parties.parties(row), "today": today().isoformat()}


@bp.post("/cases/<int:case_id>/receipt")
@login_required
def receipt(case_id: int):
    """Issue a petitioner's receipt with a new query code and show it, to print."""
    from mediation.errors import Invalid

    raw = request.form.get("petitioner_id", "")
    other = request.form.get("respondent_id", "")
    if not raw.isdigit() and not other.isdigit():
        raise Invalid({"petitioner_id": ["choose a petitioner"]})
    out = petitioner.issue_receipt(current_user._get_current_object(), case_id,
                                   int(raw) if raw.isdigit() else None,
                                   sms=request.form.get("sms") == "1",
                                   respondent_id=None if raw.isdigit() else int(other))
    return web.render_page("notifications/receipt.html", receipt=out,
                           query_url=url_for("query_pages.query", _external=True))


@bp.post("/cases/<int:case_id>/consents")
@login_required
def record_consent(case_id: int):
    """An officer records a party's paper or oral consent (the API's schema and command)."""
    from mediation.notifications import parties
    from mediation.notifications.api import ConsentIn

    me = current_user._get_current_object()
    web.report(web.submit(ConsentIn(), lambda data: parties.record_consent(me, case_id, data)),
               _("已记录当事人同意调解"))
    return redirect(url_for("pages.case_page", case_id=case_id) + "#case_receipt")


@bp.post("/cases/<int:case_id>/respondents")
@login_required
def add_respondent(case_id: int):
    """Enter a respondent party (the API's schema and command)."""
    from mediation.notifications import parties
    from mediation.notifications.api import PartyRespondentIn

    me = current_user._get_current_object()
    web.report(web.submit(PartyRespondentIn(), lambda data: parties.add_respondent(me, case_id, data)),
               _("已登记被申请人"))
    return redirect(url_for("pages.case_page", case_id=case_id) + "#case_receipt")


# --- one's outbound channels, and the admins' delivery log ------------------------------------

@bp.post("/notifications/preferences")
@login_required
def save_preferences():
    """The preferences form, through the API's schema (422s shown by field)."""
    from mediation.notifications import preferences
    from mediation.notifications.api import PreferencesIn

    me = current_user._get_current_object()

    def save(data: dict[str, Any]) -> None:
        preferences.save(me, data)
        db.session.commit()

    outcome = web.submit(PreferencesIn(), save)
    web.report(outcome, _("已保存"))
    return redirect(url_for("notification_pages.index"))


@bp.get("/notifications/deliveries")
@login_required
def deliveries():
    """The delivery log (admins): what went out on which channel, what failed and why."""
    from mediation.notifications import outbound
    from mediation.permissions import Action, can

    if not can(current_user, Action.DELIVERIES_READ):
        raise NotFound("page")
    status = request.args.get("status") or None
    if status not in (None, "pending", "sending", "retry", "sent", "failed"):
        status = None
    return web.render_page("notifications/deliveries.html", rows=outbound.log_rows(200, status),
                           status=status)

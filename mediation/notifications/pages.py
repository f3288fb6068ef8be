"""The notification centre's pages: the header's badge (a live part on every signed-in
page) and the list at /notifications, both fetched again by pages.js when an event of a
type with recipients reaches the user's socket (their `user:<id>` inbox)."""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, request, url_for
from flask_login import current_user, login_required

from mediation import web
from mediation.errors import NotFound
from mediation.events import catalogue
from mediation.extensions import db
from mediation.notifications import centre
from mediation.notifications.models import Notification

bp = web.page_blueprint("notification_pages", __name__)


def _context() -> dict[str, Any]:
    me = current_user._get_current_object()
    items, more = centre.listing(db.session, me, limit=centre.PAGE)
    return {"notifications": [centre.view(me, n) for n in items], "more": more}


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
        return ",".join(t.name for t in catalogue() if t.recipients)

    return {"notification_unread": notification_unread, "notification_types": notification_types}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.context_processor(_template_helpers)

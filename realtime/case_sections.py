"""What realtime adds to the case page: the case's thread (everyone on the case) and, for
officials, the internal notes — each live, with a box to write in.

Posting goes through the same `messaging.post_message` as the API and the socket (the same
validation and per-user rate limit); the page posts a plain form (post/redirect/get), and
everyone else's open page re-renders the section when the message's event arrives.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import web
from mediation.cases.models import Case
from mediation.labels import register_groups
from mediation.pages import Section, register_case_section
from mediation.permissions import Action, role_may
from mediation.users import User
from realtime import messaging
from realtime.views import MessageIn

bp = web.page_blueprint("thread_pages", __name__)
SHOWN = 100  # the latest messages of each channel on the page

LABELS: dict[str, dict[str, Any]] = {
    "channel": {"case": _l("案件沟通"), "internal": _l("内部备注"), "session": _l("调解会话")},
}


def _channel(user: User, case: Case, name: str) -> dict[str, Any]:
    found = messaging.thread(user, case.id, name, 0, 10_000)
    return {"name": name, "messages": found["messages"][-SHOWN:]}


def _thread_section(user: User, case: Case) -> dict[str, Any]:
    names = ["case", "internal"] if role_may(user, Action.CASE_INTERNAL) else ["case"]
    return {"channels": [_channel(user, case, n) for n in names], "me": user.id}




@bp.post("/cases/<int:case_id>/messages")
@login_required
def post(case_id: int):
    """Post in the case's thread or (officials) its internal notes."""
    outcome = web.submit(MessageIn(), lambda data: messaging.post_message(
        current_user, case_id, data["body"], data.get("channel", "case")))
    web.report(outcome)
    channel = request.form.get("channel", "case")
    return redirect(url_for("pages.case_page", case_id=case_id) + f"#thread-{channel}")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_groups(app, LABELS)
    register_case_section(app, Section("case_thread", _l("沟通留言"), _thread_section,
                                       "message.,internal_note.", 70))


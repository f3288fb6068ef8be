"""The petitioner's public pages (no account): /q takes the query code and the last four
digits of the phone; /q/case shows the milestones, the session's time and place, and takes
consent to mediation. Throttled per client address and per code (flask-limiter's storage of
the app: Redis when configured, else memory); the code found is kept in the session."""

from __future__ import annotations

import math
import time

from flask import current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from limits import parse

from mediation import settings, web
from mediation.extensions import db
from mediation.login import LIMITER
from mediation.notifications import petitioner
from mediation.notifications.models import QueryCode

bp = web.page_blueprint("query_pages", __name__)
KEY = "query_code_id"
SCOPE = "query"


def _throttled(code: str) -> int | None:
    """Count this attempt per address and per code; seconds to wait if over a limit."""
    strategy = current_app.extensions[LIMITER].limiter
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    for limit, key in ((settings.get("MEDIATION_QUERY_IP_LIMIT"), f"ip:{request.remote_addr or '-'}"),
                       (settings.get("MEDIATION_QUERY_CODE_LIMIT"), f"code:{petitioner.code_hash(code)}")):
        item = parse(limit)
        if not strategy.hit(item, prefix, SCOPE, key):
            reset = strategy.get_window_stats(item, prefix, SCOPE, key).reset_time
            return max(1, math.ceil(reset - time.time()))
    return None


def _render(status: int = 200, **context):
    return web.render_page("notifications/query.html", status, **context)


@bp.route("/q", methods=["GET", "POST"])
def query():
    """The form; a right code and phone lead to the case, anything else says the same."""
    if request.method == "GET":
        return _render()
    code = (request.form.get("code") or "")[:64]
    tail = (request.form.get("phone_tail") or "")[:8]
    wait = _throttled(code)
    if wait is not None:
        page = _render(429, error=_("尝试次数过多，请 %(minutes)s 分钟后再试。",
                                    minutes=math.ceil(wait / 60)))[0]
        return page, 429, {"Retry-After": str(wait)}
    qc = petitioner.lookup(code, tail, request.remote_addr or "-")
    if qc is None:
        return _render(404, error=_("查询码或手机号后四位不正确。"))
    session[KEY] = qc.id
    return redirect(url_for("query_pages.case"))


def _current() -> QueryCode | None:
    qid = session.get(KEY)
    qc = db.session.get(QueryCode, qid) if qid else None
    return qc if qc is not None and qc.revoked_at is None else None


@bp.get("/q/case")
def case():
    qc = _current()
    if qc is None:
        return redirect(url_for("query_pages.query"))
    return _render(view=petitioner.milestones(qc.case_id), consented=qc.consented_at is not None)


@bp.post("/q/consent")
def consent():
    qc = _current()
    if qc is None:
        return redirect(url_for("query_pages.query"))
    petitioner.consent(qc)
    return redirect(url_for("query_pages.case"))


@bp.post("/q/leave")
def leave():
    session.pop(KEY, None)
    return redirect(url_for("query_pages.query"))

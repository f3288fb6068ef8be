"""Pages for people: login, the list of one's cases, one case's file and timeline.

The full daily pages (live board, inbox, session room) come with their own issue; these
are the foundation they build on: the login session, CSRF, and the same permission checks
as the API.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from mediation import timeline
from mediation.cases.models import Case
from mediation.cases.present import case_view
from mediation.errors import NotFound
from mediation.extensions import db, login_manager
from mediation.i18n import LANGUAGES
from mediation.permissions import require_case, visible_cases_filter
from mediation.users import User

bp = Blueprint("pages", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link borrow our login page.
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("pages.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username and password."""
    error = None
    if request.method == "POST":
        user = db.session.execute(
            sa.select(User).where(User.username == request.form.get("username", ""))
        ).scalar_one_or_none()
        if user and user.active and user.check_password(request.form.get("password", "")):
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        error = _("用户名或密码错误")
    return render_template("login.html", error=error), 401 if error else 200


@bp.get("/lang/<code>")
def set_language(code: str):
    """Switch the pages' language (kept in the session) and go back where one was."""
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("pages.login"))


@bp.get("/")
@login_required
def home():
    """The cases the signed-in user may see."""
    cases = db.session.execute(
        sa.select(Case).where(visible_cases_filter(current_user)).order_by(Case.id.desc()).limit(200)
    ).scalars()
    return render_template("home.html", cases=[case_view(c, detail=False) for c in cases])


@bp.get("/cases/<int:case_id>")
@login_required
def case_page(case_id: int):
    """One case: dossier, categories, strategy, clocks, owner, timeline."""
    try:
        case = require_case(current_user, case_id)
    except NotFound:
        abort(404)
    return render_template("case.html", case=case_view(case),
                           events=[e.envelope() for e in timeline.events_after(case.id, 0, 1000)])

"""The petitioner's survey page: a Chinese form reached by a one-time link, no login."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from mediation.errors import DomainError
from mediation.supervision import commands

bp = Blueprint("survey_pages", __name__)


@bp.route("/survey/<token>", methods=["GET", "POST"])
def survey(token: str):
    """Show the form, or take the answer."""
    try:
        if request.method == "GET":
            commands.survey_for(token)
            return render_template("survey.html", state="form")
        try:
            rating = int(request.form.get("rating", ""))
        except ValueError:
            return render_template("survey.html", state="form", error="请选择 1 至 5 分。"), 422
        commands.answer_survey(token, rating, request.form.get("comment", "")[:2000])
        return render_template("survey.html", state="thanks")
    except DomainError as exc:
        return render_template("survey.html", state=exc.extra.get("current_state") or "invalid",
                               error=exc.message), exc.status

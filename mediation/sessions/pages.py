"""The printable agreement (调解协议书): an A4 page in Chinese for the signing table, behind
the login session and the same permission check as the API."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from mediation.errors import NotFound
from mediation.extensions import db
from mediation.sessions import commands
from mediation.sessions.models import STATUTORY_PARTS
from mediation.users import User

bp = Blueprint("agreement_pages", __name__)

METHODS = {"account": "本人账户签署", "hand": "签名", "seal": "盖章", "fingerprint": "按指印"}
STATUS = {"draft": "草稿", "final": "待签署", "in_effect": "已生效", "superseded": "已被新协议取代"}


@bp.get("/agreements/<int:agreement_id>/print")
@login_required
def print_agreement(agreement_id: int):
    """The agreement laid out for A4 printing, with every statutory part and signature lines."""
    try:
        agreement, case = commands.get_agreement(current_user, agreement_id)
    except NotFound:
        abort(404)
    view = commands.agreement_view(agreement)
    signed = {s["signer"]: s for s in view["signatures"]}
    mediator = db.session.get(User, agreement.mediator_id)
    lines = [{"key": key, "label": f"当事人（{p.get('name') or ''}）", "signature": signed.get(key)}
             for key, p in ((f"party:{i}", p) for i, p in enumerate(agreement.parties or []))]
    lines.append({"key": "mediator", "label": f"人民调解员（{mediator.display_name or mediator.username}）",
                  "signature": signed.get("mediator")})
    return render_template("agreement_print.html", agreement=view, case=case, parts=STATUTORY_PARTS,
                           lines=lines, methods=METHODS, status=STATUS.get(agreement.status, ""))

"""What admins watch: searches by number (the audit trail) and security alerts."""

from __future__ import annotations

import marshmallow as ma
import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from mediation import audit
from mediation.api.auth import authenticated, current
from mediation.errors import Forbidden
from mediation.extensions import db
from mediation.permissions import Action, can
from mediation.validation import InputSchema

blp = Blueprint("security", __name__, url_prefix="/api/security",
                description="The audit of searches by number, and security alerts (admins)")


class RecentArgs(InputSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    user_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class AlertOut(ma.Schema):
    id = fields.Integer()
    at = fields.String()
    kind = fields.String()
    user_id = fields.Integer(allow_none=True)
    detail = fields.Dict()


class SearchOut(ma.Schema):
    id = fields.Integer()
    at = fields.String()
    user_id = fields.Integer()
    kind = fields.String(metadata={"description": "id_number or phone (never the number)"})
    reason = fields.String()
    results = fields.Integer(allow_none=True, metadata={"description": "petitioners found"})
    refused = fields.Boolean(metadata={"description": "refused by the throttle"})


def _auditor() -> None:
    if not can(current(), Action.SECURITY_AUDIT):
        raise Forbidden("the security audit is for admins")


@blp.route("/alerts")
class Alerts(MethodView):
    @authenticated
    @blp.arguments(RecentArgs, location="query")
    @blp.response(200, AlertOut(many=True))
    @blp.alt_response(403, response="FORBIDDEN", description="For admins only")
    def get(self, args):
        """Security alerts, newest first (a burst of searches by number, …)."""
        _auditor()
        query = sa.select(audit.SecurityAlert).order_by(audit.SecurityAlert.id.desc())
        if "user_id" in args:
            query = query.where(audit.SecurityAlert.user_id == args["user_id"])
        rows = db.session.execute(query.limit(args["limit"])).scalars()
        return [audit.alert_view(a) for a in rows]


@blp.route("/pii-searches")
class PiiSearches(MethodView):
    @authenticated
    @blp.arguments(RecentArgs, location="query")
    @blp.response(200, SearchOut(many=True))
    @blp.alt_response(403, response="FORBIDDEN", description="For admins only")
    def get(self, args):
        """Searches by number, newest first: who, when, why, how many found."""
        _auditor()
        query = sa.select(audit.PiiSearch).order_by(audit.PiiSearch.id.desc())
        if "user_id" in args:
            query = query.where(audit.PiiSearch.user_id == args["user_id"])
        rows = db.session.execute(query.limit(args["limit"])).scalars()
        return [audit.search_view(r) for r in rows]

"""User accounts for admins: deactivate a user, revoke a user's tokens. Either one ends that
user's live connections too (`mediation.access`)."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from mediation.api.auth import authenticated, current
from mediation.errors import NotFound
from mediation.extensions import db
from mediation.permissions import Action, can
from mediation.users import User, deactivate, revoke_tokens

blp = Blueprint("users", __name__, url_prefix="/api/users", description="User accounts (admins)")


class AccountOut(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    role = fields.String()
    active = fields.Boolean()
    tokens_revoked = fields.Integer(metadata={"description": "live tokens this call revoked"})


def _managed(user_id: int) -> User:
    """The account if the caller manages accounts; 404 for everyone else, existing or not."""
    if not can(current(), Action.USER_MANAGE):
        raise NotFound("user")
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("user")
    return user


def _view(user: User, revoked: int) -> dict:
    return {"id": user.id, "username": user.username, "role": user.role, "active": user.active,
            "tokens_revoked": revoked}


@blp.route("/<int:user_id>/deactivate")
class Deactivate(MethodView):
    @authenticated
    @blp.response(200, AccountOut)
    def post(self, user_id):
        """Deactivate a user: no sign-in, no API, every token revoked, live connections closed."""
        user = _managed(user_id)
        revoked = deactivate(user)
        db.session.commit()
        return _view(user, revoked)


@blp.route("/<int:user_id>/revoke-tokens")
class RevokeTokens(MethodView):
    @authenticated
    @blp.response(200, AccountOut)
    def post(self, user_id):
        """Revoke every live bearer token of a user; connections opened with them close."""
        user = _managed(user_id)
        revoked = revoke_tokens(user)
        db.session.commit()
        return _view(user, revoked)

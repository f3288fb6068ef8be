"""Bearer tokens for programs, and the check every API view makes."""

from __future__ import annotations

from functools import wraps

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from mediation.extensions import db
from mediation.login import TooManyAttempts, WrongCredentials, authenticate
from mediation.schemas.cases import MeSchema, TokenRequest, TokenResponse
from mediation.users import User, issue_token, revoke_token, user_for_token

blp = Blueprint("auth", __name__, url_prefix="/api/auth", description="Bearer tokens")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticated(fn):
    """The API is for programs: it takes bearer tokens, not the pages' cookie (no CSRF)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        token = bearer_token()
        user = user_for_token(token) if token else None
        if user is None:
            abort(401, message="a valid bearer token is required",
                  headers={"WWW-Authenticate": 'Bearer realm="mediation"'})
        g.user = user
        return fn(*args, **kwargs)

    return wrapper


def current() -> User:
    return g.user


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.arguments(TokenRequest)
    @blp.response(201, TokenResponse)
    @blp.alt_response(401, response="UNAUTHORIZED", description="Wrong username or password")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS",
                      description="Too many failed sign-ins for this account or address")
    @blp.doc(security=[])
    def post(self, data):
        """Exchange a username and password for a bearer token."""
        try:
            user = authenticate(data["username"], data["password"])
        except WrongCredentials as exc:
            abort(401, message=exc.message)
        except TooManyAttempts as exc:
            retry = exc.extra["retry_after"]
            abort(429, message=exc.message, retry_after=retry, headers={"Retry-After": str(retry)})
        token, expires = issue_token(user)
        db.session.commit()
        return {"token": token, "expires_at": expires}

    @authenticated
    @blp.response(204)
    def delete(self):
        """Revoke the token this request carries."""
        revoke_token(bearer_token())
        db.session.commit()


@blp.route("/me")
class Me(MethodView):
    @authenticated
    @blp.response(200, MeSchema)
    def get(self):
        """Who the token belongs to."""
        return current()

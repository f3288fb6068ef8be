"""Users, roles, passwords and bearer tokens."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import secrets

import sqlalchemy as sa
from flask import current_app, g, has_request_context
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from mediation import access, clock, driver
from mediation.errors import Invalid
from mediation.extensions import UTCDateTime, db
from mediation.passwords import password_problems
from mediation.regions import normalize_region


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    CASE_OFFICER = "case_officer"
    LEAD_OFFICIAL = "lead_official"
    MEDIATOR = "mediator"
    LAWYER = "lawyer"
    COUNSELLOR = "counsellor"
    MASS_ORG = "mass_org"
    EVALUATOR = "evaluator"
    # 当事人: a petitioner or a respondent's representative with an account of their own,
    # through which they sign the agreements that name it. Such an account sees no case.
    PARTY = "party"
    # 责任单位: a user acting for a department of the directory (mediation/departments/). Such
    # an account sees no case: only the hand-overs (交办) sent to its department.
    DEPARTMENT = "department"


# Roles that act as providers: their user is linked to a provider of the directory.
PROVIDER_ROLES = {Role.MEDIATOR, Role.LAWYER, Role.COUNSELLOR, Role.MASS_ORG}

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    role: Mapped[str] = mapped_column(sa.String(20))
    region: Mapped[str | None] = mapped_column(sa.String(6))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the id the pages' session cookie carries: raising it (logout) ends every
    # session signed in before, since a signed cookie cannot be taken back otherwise.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=clock.now)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: what the session cookie names the user by
        return f"{self.id}:{self.session_generation}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, so a database leak leaks no token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    username: str, password: str, role: str, region: str | None = None, display_name: str = ""
) -> User:
    """Validate and add a user to the session (the caller commits)."""
    errors: dict[str, list[str]] = {}
    if not USERNAME_RE.match(username or ""):
        errors["username"] = ["3 to 64 letters, digits, '.', '_' or '-'"]
    elif db.session.execute(sa.select(User.id).where(User.username == username)).first():
        errors["username"] = ["already taken"]
    if role not in {r.value for r in Role}:
        errors["role"] = [f"one of {', '.join(r.value for r in Role)}"]
    if problems := password_problems(password or "", username or ""):
        errors["password"] = problems
    norm = None
    if region:
        try:
            norm = normalize_region(region)
        except ValueError as exc:
            errors["region"] = [str(exc)]
    if errors:
        raise Invalid(errors)
    user = User(username=username, role=role, region=norm, display_name=display_name or username)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def user_for_session_id(session_id: str) -> User | None:
    """The active user a session cookie's id ("<id>:<generation>") names, if that session
    has not been ended since (logout raises the generation)."""
    user_id, _, generation = session_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit()):
        return None  # a cookie from before generations existed: sign in again
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_generation != int(generation):
        return None
    return user


def end_sessions(user: User) -> None:
    """End every pages session of the user (the caller commits), and after the commit the
    live connections those sessions opened. One UPDATE, so two logouts at once both count."""
    db.session.execute(sa.update(User).where(User.id == user.id)
                       .values(session_generation=User.session_generation + 1))
    access.changed(db.session, user_ids=[user.id])


def issue_token(user: User) -> tuple[str, dt.datetime]:
    """A new bearer token for the user: (token, expiry). Adds to the session."""
    token = "med_" + secrets.token_urlsafe(32)
    now = clock.now()
    expires = now + dt.timedelta(hours=current_app.config["MEDIATION_TOKEN_TTL_HOURS"])
    db.session.add(ApiToken(user_id=user.id, token_hash=_hash_token(token), created_at=now,
                            expires_at=expires))
    return token, expires


def token_hash(token: str) -> str:
    """What is stored of a token (and what a live connection keeps to re-check it)."""
    return _hash_token(token)


def user_for_token(token: str) -> User | None:
    """The active user a live token belongs to, or None. Looked up once per request (the
    idempotency layer and the view both ask)."""
    digest = _hash_token(token)
    if not has_request_context():
        return _user_for_hash(digest)
    seen = g.setdefault("_token_users", {})
    if digest not in seen:
        seen[digest] = _user_for_hash(digest)
    return seen[digest]


# The token's user and what decides whether the token is live, in one statement built once
# (its cache key is computed once too): every API request runs it.
_TOKEN_USER = (sa.select(User, ApiToken.revoked_at, ApiToken.expires_at)
               .join(ApiToken, ApiToken.user_id == User.id)
               .where(ApiToken.token_hash == sa.bindparam("digest")))

# The same row as plain columns, for a session that holds nothing yet (every API request's
# lookup is its first statement): the ORM's query machinery around one row (compile state,
# loading context, row processors, identity map merge) costs more than the statement.
_TOKEN_ROW = (sa.select(*User.__table__.c, ApiToken.revoked_at, ApiToken.expires_at)
              .join_from(User, ApiToken, ApiToken.user_id == User.id)
              .where(ApiToken.token_hash == sa.bindparam("digest")))
_USER_BIND = {"mapper": sa.inspect(User)}  # the connection the ORM's query would take
_USER_KEYS = tuple(sa.inspect(User).get_property_by_column(c).key for c in User.__table__.c)
# The row's columns with result processing (UTCDateTime: created_at), done by hand on the
# driver's path (idempotent where SQLAlchemy did it); the others' types have none on psycopg.
_UTC_AT = tuple(i for i, c in enumerate(User.__table__.c) if isinstance(c.type, UTCDateTime))


def _user_for_hash(digest: str) -> User | None:
    session = db.session()
    if session.identity_map or session.new or session.deleted:
        # Objects in the session: the ORM's query, which flushes first and hands back the
        # User the session may hold already.
        row = session.execute(_TOKEN_USER, {"digest": digest}).first()
        if row is None:
            return None
        user, revoked_at, expires_at = row
    else:
        # On the driver's cursor (mediation.driver: SQLAlchemy's execution cost more CPU
        # than the driver's own, and every API request runs this statement).
        conn = session.connection(bind_arguments=_USER_BIND)
        found = driver.rows(conn, driver.prepared(_TOKEN_ROW, conn.dialect), {"digest": digest})
        if not found:
            return None
        *values, revoked_at, expires_at = found[0]
        for i in _UTC_AT:
            if values[i] is not None:
                values[i] = clock.as_utc(values[i])
        user = driver.loaded(session, User, values, _USER_KEYS)
    if revoked_at is not None or clock.as_utc(expires_at) <= clock.now() or not user.active:
        return None
    return user


def token_hash_is_live(digest: str) -> bool:
    """Whether the token stored under this hash still authenticates its (active) user."""
    return _user_for_hash(digest) is not None


def revoke_token(token: str) -> bool:
    """Revoke one token; True if it was live. Live connections it opened are closed after
    the commit (`mediation.access`)."""
    digest = _hash_token(token)
    owner = db.session.execute(sa.select(ApiToken.user_id).where(
        ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))).scalar_one_or_none()
    result = db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    if result.rowcount == 1 and owner is not None:
        access.changed(db.session, user_ids=[owner])
    return result.rowcount == 1


def revoke_tokens(user: User) -> int:
    """Revoke every live token of the user (the caller commits); how many were live. Live
    connections they opened are closed after the commit."""
    result = db.session.execute(
        sa.update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now()).execution_options(synchronize_session=False))
    access.changed(db.session, user_ids=[user.id])
    return result.rowcount


def deactivate(user: User) -> int:
    """Deactivate the user and revoke their tokens (the caller commits); how many tokens
    were live. They can no longer sign in, call the API or stay connected."""
    db.session.execute(sa.update(User).where(User.id == user.id).values(active=False)
                       .execution_options(synchronize_session=False))
    db.session.refresh(user, ["active"])
    return revoke_tokens(user)

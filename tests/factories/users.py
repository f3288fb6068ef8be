"""Users: the one way to make one (`make_user`), a world of people with tokens and their
cases made in an app's own context (`make_world`), and the API client.

`create_user`'s scrypt hash costs about half a second a user; tests that need a user for
every role would spend most of their time hashing. These users all get `PASSWORD` under
one cheap PBKDF2 hash computed once, which `check_password` accepts like any other (the
production hashing is not what these tests are about). Everything else is real: the row,
the normalised region, the token.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from mediation.extensions import db
from mediation.regions import normalize_region
from mediation.users import Role, User, issue_token
from tests.factories.base import PASSWORD, World, seq
from tests.factories.cases import case_payload, make_case

FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
ROLES = [r.value for r in Role]


def build_user(role: str, region: str | None = None, name: str | None = None, *,
               active: bool = True, real_hash: bool = False) -> User:
    """A user row added to the current session and flushed (it has its id), not committed:
    for tests that roll back. `real_hash`: PASSWORD hashed as production hashes it (slow),
    for tests about the hashing itself."""
    username = name or f"{role}_{seq()}"
    user = User(username=username, display_name=username, role=role, active=active,
                region=normalize_region(region) if region else None, password_hash=FAST_HASH)
    if real_hash:
        user.set_password(PASSWORD)
    db.session.add(user)
    db.session.flush()
    return user


def make_user(role: str, region: str | None = None, name: str | None = None, *,
              active: bool = True, real_hash: bool = False) -> User:
    """A user committed in the current app context's session, signing in with PASSWORD."""
    user = build_user(role, region, name, active=active, real_hash=real_hash)
    db.session.commit()
    return user


def app_user(app: Flask, role: str, region: str | None = None, name: str | None = None, *,
             real_hash: bool = False) -> User:
    """`make_user` in an app context of its own; the row comes back detached."""
    with app.app_context():
        user = make_user(role, region, name, real_hash=real_hash)
        db.session.expunge(user)
        db.session.remove()
    return user


def make_world(app: Flask, people: dict[str, tuple[str, str | None]],
               cases: dict[str, tuple[str, str]] | None = None) -> World:
    """People (name -> (role, region)), each with a token, and cases (name -> (officer's
    name, region)) taken in by those officers; `world.cases` maps a case's name to its id.
    Made in the app's own context, the rows come back detached: for a database that a
    served process uses too (usernames are unique, so it can hold several worlds)."""
    with app.app_context():
        world = World({name: make_user(role, region) for name, (role, region) in people.items()})
        for name, user in world.users.items():
            world.tokens[name], _ = issue_token(user)
        db.session.commit()
        world.cases = {name: make_case(world.users[officer], region_code=region).id
                       for name, (officer, region) in (cases or {}).items()}
        db.session.expunge_all()
        db.session.remove()
    return world


class Api:
    """Users with tokens, and JSON requests with a user's token."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client
        self.tokens: dict[int, str] = {}

    def user(self, role: str, region: str | None = None, name: str | None = None) -> User:
        """`make_user` in an app context of its own, with a token; the row comes back detached."""
        with self.app.app_context():
            user = build_user(role, region, name)
            self.tokens[user.id], _ = issue_token(user)
            db.session.commit()
            db.session.expunge(user)
            db.session.remove()
            return user

    def call(self, method: str, path: str, user: User | None = None, json: Any = None,
             **kw: Any) -> TestResponse:
        headers = kw.pop("headers", {})
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user.id]}"
        return self.client.open(path, method=method, json=json, headers=headers, **kw)

    def get(self, path: str, user: User | None = None, **kw: Any) -> TestResponse:
        return self.call("GET", path, user, **kw)

    def post(self, path: str, user: User | None = None, json: Any = None, **kw: Any) -> TestResponse:
        return self.call("POST", path, user, json=json if json is not None else {}, **kw)

    def patch(self, path: str, user: User | None = None, json: Any = None, **kw: Any) -> TestResponse:
        return self.call("PATCH", path, user, json=json, **kw)

    def put(self, path: str, user: User | None = None, json: Any = None, **kw: Any) -> TestResponse:
        return self.call("PUT", path, user, json=json, **kw)

    def case(self, officer: User, **overrides: Any) -> dict[str, Any]:
        r = self.post("/api/cases", officer, case_payload(**overrides))
        assert r.status_code == 201, r.get_json()
        return r.get_json()

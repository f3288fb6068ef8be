"""Users for API tests, made quickly.

`Api.user` goes through `create_user`, whose scrypt hash costs about half a second a user;
tests that need a user for every role would spend most of their time hashing. These users
get the same password (`PASSWORD`) under one cheap PBKDF2 hash computed once, which
`check_password` accepts like any other. Everything else is real: the row, the token.
"""

from __future__ import annotations

import itertools

from werkzeug.security import generate_password_hash

from mediation.extensions import db
from mediation.regions import normalize_region
from mediation.users import Role, User, issue_token
from tests.factories import PASSWORD, Api

_n = itertools.count(1)
_CHEAP_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")

ROLES = [r.value for r in Role]


def officer_here(role: str = "case_officer", region: str | None = "510104",
                 name: str | None = None) -> User:
    """A user committed in the current app context's session (no token)."""
    user = User(username=name or f"{role}_h{next(_n)}", role=role, active=True,
                region=normalize_region(region) if region else None,
                display_name=name or role, password_hash=_CHEAP_HASH)
    db.session.add(user)
    db.session.commit()
    return user


def person(api: Api, role: str, region: str | None = None, name: str | None = None) -> User:
    """A user with a live token registered with `api`, detached from any session."""
    with api.app.app_context():
        user = User(username=name or f"{role}_p{next(_n)}", role=role, active=True,
                    region=normalize_region(region) if region else None,
                    display_name=name or f"{role} {region or 'national'}",
                    password_hash=_CHEAP_HASH)
        db.session.add(user)
        db.session.flush()
        token, _ = issue_token(user)
        db.session.commit()
        api.tokens[user.id] = token
        db.session.expunge(user)
        db.session.remove()
        return user

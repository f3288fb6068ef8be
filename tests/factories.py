"""Test data from factories, and a small client that speaks the API as a program would."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from flask import Flask

from mediation.extensions import db
from mediation.users import User, create_user, issue_token

_n = itertools.count(1)
PASSWORD = "Test-pass-123!"


def case_payload(**overrides: Any) -> dict[str, Any]:
    """A valid intake body for a county case in 锦江区 (510104)."""
    body: dict[str, Any] = {
        "title": "征地拆迁补偿纠纷",
        "summary": "村民反映征地补偿款未足额发放",
        "region_code": "510104",
        "departments": ["区自然资源局"],
        "received_on": "2025-03-01",
        "accepted_on": "2025-03-08",
        "times_handled": 1,
        "livelihood_fields": ["land_demolition"],
        "petitioners": [{"name": "张三", "id_number": "510104198001011234",
                         "phone": "13800138000", "groups": ["worker"]}],
    }
    body.update(overrides)
    return body


class Api:
    """Users with tokens, and JSON requests with a user's token."""

    def __init__(self, app: Flask, client) -> None:
        self.app = app
        self.client = client
        self.tokens: dict[int, str] = {}

    def user(self, role: str, region: str | None = None, name: str | None = None) -> User:
        with self.app.app_context():
            user = create_user(name or f"{role}{next(_n)}", PASSWORD, role, region)
            token, _ = issue_token(user)
            db.session.commit()
            self.tokens[user.id] = token
            db.session.expunge(user)
            return user

    def call(self, method: str, path: str, user: User | None = None, json: Any = None,
             **kw: Any):
        headers = kw.pop("headers", {})
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user.id]}"
        return self.client.open(path, method=method, json=json, headers=headers, **kw)

    def get(self, path, user=None, **kw):
        return self.call("GET", path, user, **kw)

    def post(self, path, user=None, json=None, **kw):
        return self.call("POST", path, user, json=json if json is not None else {}, **kw)

    def patch(self, path, user=None, json=None, **kw):
        return self.call("PATCH", path, user, json=json, **kw)

    def put(self, path, user=None, json=None, **kw):
        return self.call("PUT", path, user, json=json, **kw)

    def case(self, officer: User, **overrides: Any) -> dict[str, Any]:
        r = self.post("/api/cases", officer, case_payload(**overrides))
        assert r.status_code == 201, r.get_json()
        return r.get_json()


def days_ago(n: int) -> str:
    return (dt.date.today() - dt.timedelta(days=n)).isoformat()

"""What every API request does once, not once per request: argument schemas are built once,
flask-limiter's per-request hooks (which would find no route limit) are off while sign-in
throttling still counts, and the CSP header's text is the same on every response."""

from __future__ import annotations

from mediation import security
from mediation.api.base import SchemaOnceParser
from mediation.notifications import api as notifications_api


def test_an_argument_schema_is_built_once_and_serves_every_request(api, monkeypatch):
    officer = api.user("case_officer", "510104")
    built: list[object] = []
    original = notifications_api.ReadIn.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(notifications_api.ReadIn, "__init__", counting)
    answers = [api.post("/api/notifications/read", officer, json={"ids": [1, 2]}) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert answers[-1].get_json() == {"marked": 0, "unread": 0}
    assert len(built) <= 1  # once for the process (none if an earlier request built it)
    # The same instance still refuses what the schema refuses, every time.
    for _ in range(2):
        bad = api.post("/api/notifications/read", officer, json={"ids": [1], "surplus": True})
        assert bad.status_code == 422 and "surplus" in bad.get_json()["errors"]
        empty = api.post("/api/notifications/read", officer, json={})
        assert empty.status_code == 422 and "ids" in empty.get_json()["errors"]


def test_the_blueprints_parse_with_the_schema_once_parser(app):
    from flask_smorest import Blueprint

    assert isinstance(Blueprint.ARGUMENTS_PARSER, SchemaOnceParser)


def test_flask_limiter_adds_no_hook_to_requests(app):
    from mediation.login import LIMITER

    limiter = app.extensions[LIMITER]
    hooks = [fn for funcs in (app.before_request_funcs, app.after_request_funcs,
                              app.teardown_request_funcs) for fn in funcs.get(None, [])]
    assert not [fn for fn in hooks if getattr(fn, "__self__", None) is limiter
                or any(arg is limiter for arg in getattr(fn, "args", ()))]
    assert limiter.limiter is not None  # the strategy sign-in counts with is still there


def test_the_csp_header_is_the_policy_on_every_response(api):
    officer = api.user("case_officer", "510104")
    expected = "; ".join(f"{k} {v}" for k, v in security.CSP.items())
    for _ in range(3):
        r = api.get("/api/auth/me", officer)
        assert r.status_code == 200 and r.headers["Content-Security-Policy"] == expected
    docs = api.client.get("/api/docs/")
    assert docs.headers["Content-Security-Policy"] == "; ".join(
        f"{k} {v}" for k, v in security.DOCS_CSP.items())

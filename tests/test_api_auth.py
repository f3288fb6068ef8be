"""Bearer tokens: issued for a password, stored hashed, expiring and revocable."""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa

from mediation.extensions import db
from mediation.users import ApiToken, User
from tests.factories import PASSWORD


def token_for(api, username: str, password: str = PASSWORD):
    return api.client.post("/api/auth/tokens", json={"username": username, "password": password})


def me(api, token: str):
    return api.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_token_for_the_right_password(api, app):
    user = api.user("case_officer", "510104", name="li_officer")
    r = token_for(api, "li_officer")
    assert r.status_code == 201
    body = r.get_json()
    assert body["token"].startswith("med_") and len(body["token"]) > 40
    expires = dt.datetime.fromisoformat(body["expires_at"])
    hours = (expires - dt.datetime.now(dt.UTC)).total_seconds() / 3600
    assert 11.9 < hours <= 12  # MEDIATION_TOKEN_TTL_HOURS defaults to 12
    r = me(api, body["token"])
    assert r.status_code == 200
    assert r.get_json() == {"id": user.id, "username": "li_officer", "display_name": user.display_name,
                            "role": "case_officer", "region": "510104"}
    with app.app_context():
        stored = db.session.execute(sa.select(ApiToken.token_hash).where(
            ApiToken.user_id == user.id)).scalars().all()
        db.session.remove()
    # only the SHA-256 of the token is stored, never the token itself
    assert hashlib.sha256(body["token"].encode()).hexdigest() in stored
    assert body["token"] not in stored


def test_wrong_password_or_unknown_user_is_401(api):
    api.user("lawyer", name="wu_lawyer")
    for username, password in (("wu_lawyer", "wrong-password"), ("nobody", PASSWORD),
                               ("wu_lawyer", PASSWORD.upper())):
        r = token_for(api, username, password)
        assert r.status_code == 401 and r.is_json
        assert r.get_json()["message"] == "wrong username or password"
        assert "token" not in r.get_json()


def test_token_request_validation(api):
    for body in ({"username": "a"}, {"password": "x"}, {"username": "a", "password": "x", "role": "admin"},
                 {"username": "", "password": "x"}):
        r = api.client.post("/api/auth/tokens", json=body)
        assert r.status_code == 422 and r.is_json and r.get_json()["errors"], body


def test_an_expired_token_is_401(api, app):
    user = api.user("supervisor", "51")
    token = api.tokens[user.id]
    assert me(api, token).status_code == 200
    with app.app_context():
        db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == user.id)
                           .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        db.session.commit()
        db.session.remove()
    r = me(api, token)
    assert r.status_code == 401 and r.is_json
    assert api.get("/api/cases", user).status_code == 401


def test_a_revoked_token_is_401_and_other_tokens_live_on(api):
    api.user("mediator", name="sun_mediator")
    first = token_for(api, "sun_mediator").get_json()["token"]
    second = token_for(api, "sun_mediator").get_json()["token"]
    r = api.client.delete("/api/auth/tokens", headers={"Authorization": f"Bearer {first}"})
    assert r.status_code == 204
    assert me(api, first).status_code == 401
    r = api.client.delete("/api/auth/tokens", headers={"Authorization": f"Bearer {first}"})
    assert r.status_code == 401  # revoking twice: the token is no longer valid
    assert me(api, second).status_code == 200


def test_a_deactivated_user_loses_api_access(api, app):
    user = api.user("case_officer", "510104", name="gone_officer")
    token = api.tokens[user.id]
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == user.id).values(active=False))
        db.session.commit()
        db.session.remove()
    assert me(api, token).status_code == 401
    assert token_for(api, "gone_officer").status_code == 401


def test_me_without_a_token_is_401(api):
    r = api.client.get("/api/auth/me")
    assert r.status_code == 401 and r.is_json
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="mediation"'

"""The `mediation` command: users, timeline verification, the outbox sweep, demo data."""

from __future__ import annotations

import sqlalchemy as sa

from mediation import timeline
from mediation.cases.models import Case
from mediation.cases.rules import effective_categories
from mediation.extensions import db
from mediation.users import Role, User
from tests.conftest import DB_KIND

# The demo refuses outside the embedded mode; the PostgreSQL pass loads it all the same.
DEMO = ("demo", "--no-serve", *(["--outside-embedded-mode"] if DB_KIND == "postgresql" else []))


def run(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_users_create_with_password_from_stdin(app):
    r = run(app, "users", "create", "wang_officer", "--role", "case_officer", "--region", "5101",
            "--display-name", "王干部", "--password-stdin", input="a-long-password\n")
    assert r.exit_code == 0, r.output
    assert "created user wang_officer" in r.output and "region 510100" in r.output
    with app.app_context():
        user = db.session.execute(sa.select(User).where(User.username == "wang_officer")).scalar_one()
        assert (user.role, user.region, user.display_name) == ("case_officer", "510100", "王干部")
        assert user.check_password("a-long-password") and not user.check_password("a-long-passwor")
        assert "a-long-password" not in user.password_hash
        db.session.remove()
    client = app.test_client()
    r = client.post("/api/auth/tokens", json={"username": "wang_officer", "password": "a-long-password"})
    assert r.status_code == 201


def test_users_create_with_a_prompted_password(app):
    r = run(app, "users", "create", "zhou_sup", "--role", "supervisor",
            input="prompted-secret\nprompted-secret\n")
    assert r.exit_code == 0, r.output
    assert "region national" in r.output


def test_users_create_refusals_exit_non_zero_and_create_nothing(app):
    cases = [
        (["users", "create", "ab", "--role", "admin", "--password-stdin"], "username"),
        (["users", "create", "someone", "--role", "king", "--password-stdin"], "role"),
        (["users", "create", "someone", "--role", "case_officer", "--region", "5", "--password-stdin"],
         "region"),
    ]
    for args, field in cases:
        r = run(app, *args, input="a-long-password\n")
        assert r.exit_code == 1, (args, r.output)
        assert f"{field}:" in r.output
    r = run(app, "users", "create", "short_pw", "--role", "admin", "--password-stdin", input="short\n")
    assert r.exit_code == 1 and "password:" in r.output
    assert run(app, "users", "create", "twice", "--role", "admin", "--password-stdin",
               input="a-long-password\n").exit_code == 0
    r = run(app, "users", "create", "twice", "--role", "admin", "--password-stdin",
            input="a-long-password\n")
    assert r.exit_code == 1 and "already taken" in r.output
    with app.app_context():
        names = db.session.execute(sa.select(User.username)).scalars().all()
        db.session.remove()
    assert names == ["twice"]


def test_timeline_verify_on_an_empty_database(app):
    r = run(app, "timeline", "verify")
    assert r.exit_code == 0 and "ok: 0 case(s)" in r.output


def test_demo_loads_every_role_and_all_six_categories_once(app):
    r = run(app, *DEMO)
    assert r.exit_code == 0, r.output
    assert "Demo logins" in r.output and "/api/docs" in r.output
    with app.app_context():
        users = db.session.execute(sa.select(User)).scalars().all()
        assert {u.role for u in users} == {r.value for r in Role}
        cases = db.session.execute(sa.select(Case)).scalars().all()
        covered = {f.category for c in cases for f in effective_categories(c)}
        assert covered == {1, 2, 3, 4, 5, 6}
        assert len({c.region_code for c in cases}) >= 3
        assert all(c.region_code.startswith("51") for c in cases)
        assert timeline.verify() == (len(cases), [])
        count = len(cases)
        db.session.remove()
    for u in users:
        assert u.username in r.output
    r = run(app, *DEMO)  # a second load changes nothing
    assert r.exit_code == 0
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one() == count
        db.session.remove()


def test_demo_providers_are_acted_for_by_the_demo_provider_users(app):
    from referrals.models import Provider, ProviderMember

    assert run(app, *DEMO).exit_code == 0
    with app.app_context():
        linked = dict(db.session.execute(
            sa.select(User.username, Provider.kind)
            .join(ProviderMember, ProviderMember.user_id == User.id)
            .join(Provider, Provider.id == ProviderMember.provider_id)).all())
        db.session.remove()
    assert linked == {"mediator": "mediator", "lawyer": "lawyer", "counsellor": "counsellor",
                      "union": "trade_union"}


def test_reset_password_revoke_tokens_and_deactivate(app, client):
    assert run(app, "users", "create", "leaver", "--role", "case_officer", "--password-stdin",
               input="first-password-1\n").exit_code == 0

    def token(password: str):
        return client.post("/api/auth/tokens", json={"username": "leaver", "password": password})

    def me(tok: str) -> int:
        return client.get("/api/auth/me", headers={"Authorization": f"Bearer {tok}"}).status_code

    one, two = token("first-password-1").json["token"], token("first-password-1").json["token"]
    r = run(app, "users", "revoke-tokens", "leaver")
    assert r.exit_code == 0 and "revoked 2 token(s) of user leaver" in r.output
    assert (me(one), me(two)) == (401, 401)

    three = token("first-password-1").json["token"]
    r = run(app, "users", "reset-password", "leaver", "--password-stdin", input="second-password-2\n")
    assert r.exit_code == 0 and "1 token(s) revoked, sessions ended" in r.output, r.output
    assert me(three) == 401
    assert token("first-password-1").status_code == 401
    four = token("second-password-2").json["token"]
    assert me(four) == 200
    r = run(app, "users", "reset-password", "leaver", "--password-stdin", input="short\n")
    assert r.exit_code == 1 and "at least" in r.output

    r = run(app, "users", "deactivate", "leaver")
    assert r.exit_code == 0 and "1 token(s) revoked" in r.output
    assert me(four) == 401
    assert token("second-password-2").status_code == 401

    r = run(app, "users", "deactivate", "nobody")
    assert r.exit_code == 1 and "no user named nobody" in r.output

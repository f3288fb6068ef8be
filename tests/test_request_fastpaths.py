"""The per-request shortcuts answer exactly what the long way answers: the output schemas'
dump of a dict, the request check's look at a JSON body's bytes."""

from __future__ import annotations

import datetime as dt
import json

import marshmallow as ma
import pytest
import sqlalchemy as sa
from marshmallow import fields

from mediation.extensions import db
from mediation.schemas import cases as s
from mediation.schemas.base import DumpSchema
from mediation.validation import MAX_JSON_DEPTH, InputSchema, _may_offend, json_depth, nul_paths


def _stock(schema: ma.Schema, obj, many: bool | None = None):
    """marshmallow's own dump of `obj` by the same schema."""
    original = DumpSchema._serialize
    DumpSchema._serialize = ma.Schema._serialize  # type: ignore[method-assign]
    try:
        return schema.dump(obj, many=many)
    finally:
        DumpSchema._serialize = original  # type: ignore[method-assign]


def _same(schema: ma.Schema, obj, many: bool | None = None) -> None:
    fast, stock = schema.dump(obj, many=many), _stock(schema, obj, many)
    # equal, and in the same key order (the JSON answer's order when keys are not sorted)
    assert json.dumps(fast, default=str) == json.dumps(stock, default=str)


def _case() -> dict:
    return {
        "id": 7, "reference": "XF-2025-000007", "title": "t", "summary": "s", "region_code": "510104",
        "status": "intake", "departments": ["a"], "received_on": dt.date(2025, 3, 1), "accepted_on": None,
        "times_handled": 1, "livelihood_fields": [], "visits_in_person": 0, "online_complaints": 0,
        "flags": [], "categories": [{"category": 1, "name": "n", "source": "rule", "reason": "r"}],
        "assessment": None, "strategy": {"k": 1}, "strategy_note": "", "needs": ["x"],
        "needs_source": "derived", "dossier": {"background": ""},
        "petitioners": [{"id": 1, "name": "张三", "id_number": "****1", "phone": None, "groups": ["worker"],
                         "address": ""}],
        "owner": {"level": None}, "clocks": [{"name": "handling", "kind": "duty", "started_on": "2025-03-01",
                                              "due_on": None, "done_on": None, "state": "running",
                                              "days_left": 3}],
        "overdue": False, "next_deadline_on": dt.date(2025, 5, 7), "extension": None, "last_seq": 2,
        "created_at": dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC),
        "updated_at": dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC),
        "petition_count": 1, "person_count": 1, "merged_into": None,
        "action": {"listed_on": None, "reason": "", "segment": None, "counted": False},
        "petitions": [], "links": [{"case_id": 3, "kind": "repeat"}], "not_in_the_schema": 1,
    }


def test_the_case_answer_dumps_as_marshmallow_dumps_it():
    case = _case()
    _same(s.CaseOut(), case)
    _same(s.CasePage(), {"items": [case, case], "total": 2, "page": 1, "page_size": 20, "pages": 1})
    _same(s.CaseOut(), [case, case], many=True)
    partial = {k: v for k, v in case.items() if k not in ("title", "clocks", "action")}
    _same(s.CaseOut(), partial | {"petitioners": None, "categories": [], "owner": None})
    _same(s.PetitionerOut(many=True), case["petitioners"])
    _same(s.CaseOut(), {})


class _Thing:
    id, name = 5, "an object, not a dict"


class _Odd(DumpSchema):
    id = fields.Integer()
    name = fields.String(attribute="label", data_key="shown")
    nested = fields.Integer(attribute="inner.value")
    computed = fields.Method("compute")
    fallback = fields.String(dump_default="none given")
    keys = fields.Raw()  # a dict's method when the key is missing, as marshmallow reads it
    pluck = fields.Pluck(s.CategoryOut, "name")

    def compute(self, obj):
        return "computed"


@pytest.mark.parametrize("obj", [
    {"id": 1, "label": "x", "inner": {"value": 3}, "pluck": {"name": "p"}},
    {"id": None, "name": "not read: the attribute is label"},
    {},
    _Thing(),
])
def test_fields_that_read_otherwise_go_through_marshmallow(obj):
    fast = _Odd().dump(obj)
    stock = _stock(_Odd(), obj)
    assert list(fast) == list(stock)
    assert {k: v for k, v in fast.items() if k != "keys"} == {k: v for k, v in stock.items() if k != "keys"}
    assert ("keys" in fast) == ("keys" in stock)


class _Kinds(DumpSchema):
    """One field of each kind the fast read formats itself (_formatting), and look-alikes
    it must leave to the field."""

    text = fields.String(allow_none=True)
    number = fields.Integer(allow_none=True)
    flag = fields.Boolean(allow_none=True)
    raw = fields.Raw(allow_none=True)
    texts = fields.List(fields.String(allow_none=True), allow_none=True)
    numbers = fields.List(fields.Integer())
    counted = fields.Integer(as_string=True)
    email = fields.Email()  # a String subclass: asked
    decimal = fields.Float()


def test_values_the_fast_read_keeps_are_those_the_fields_give():
    import enum

    class Kind(enum.StrEnum):
        A = "a"

    class Size(enum.IntEnum):
        ONE = 1

    values = [None, "x", "", Kind.A, 5, 0, True, False, Size.ONE, 1.5, b"bytes", ["a", Kind.A, 3, None],
              [], (1, "b"), {"k": "v"}, dt.date(2025, 3, 1)]
    compared = 0
    for name in _Kinds._declared_fields:
        for value in values:
            obj = {name: value}
            try:
                stock = _stock(_Kinds(), obj)
            except (TypeError, ValueError, AttributeError):  # marshmallow refuses it: so must we
                with pytest.raises((TypeError, ValueError, AttributeError)):
                    _Kinds().dump(obj)
                continue
            # the same values of the same types (a StrEnum member is not its text)
            assert repr(_Kinds().dump(obj)) == repr(stock), (name, value)
            compared += 1
    assert compared > 80


@pytest.mark.parametrize("body", [
    b'{"a": "x"}', b'{"a": "\\u0000"}', b'{"\\u0000": 1}', b'{"a": "\\\\u0000"}',
    json.dumps({"a": "b\x00"}).encode(), json.dumps({"a": "\x00"}).encode("utf-16"),
    json.dumps([[1]] * 20).encode(), b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH,
    b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), b'{"s": "' + b"[{" * 40 + b'"}',
    b"not json", "{\"名\": \"张三\"}".encode(),
])
def test_a_body_left_unparsed_holds_nothing_the_check_refuses(body):
    if _may_offend(body):
        return  # parsed and walked, as before
    try:
        loaded = json.loads(body)
    except ValueError:
        return
    assert json_depth(loaded) <= MAX_JSON_DEPTH and not nul_paths(loaded)


def test_a_nul_or_a_deep_body_is_always_parsed():
    assert _may_offend(json.dumps({"a": "\x00"}).encode())
    assert _may_offend(json.dumps({"a": "\x00"}).encode("utf-16"))
    assert _may_offend(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert not _may_offend(b'{"a": [1, 2, {"b": "c"}]}')


# --- loading: InputSchema._deserialize -----------------------------------------------------------

def _input_schemas() -> list[type]:
    """Every input schema of the app (they all derive from InputSchema)."""
    found, todo = [], [InputSchema]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith(("mediation", "referrals", "realtime")):
                found.append(sub)
    return found


def _samples(schema: ma.Schema) -> list:
    """Inputs good and bad: nothing, an unknown key, and each field given a value of each kind."""
    kinds = [None, "x", "", 1, -1, 2**40, 1.5, True, [], ["x"], [{}], {}, {"x": 1}, "2025-03-01",
             "2025-03-01T08:00:00+08:00", "510104", "\u5f20\u4e09"]
    names = [f.data_key or n for n, f in schema.load_fields.items()]
    out: list = [{}, {"surely_unknown": 1}, [], "x", None]
    for name in names:
        for kind in kinds:
            out.append({name: kind})
    out.append({name: "x" for name in names})
    out.append({name: 1 for name in names} | {"surely_unknown": 1})
    return out


def _outcome(schema: ma.Schema, data) -> tuple:
    try:
        return ("ok", json.dumps(schema.load(data), default=str, sort_keys=False))
    except ma.ValidationError as exc:
        return ("invalid", json.dumps(exc.messages, default=str, sort_keys=False),
                json.dumps(exc.valid_data, default=str, sort_keys=False))
    except Exception as exc:  # noqa: BLE001 - the same exception either way
        return ("error", type(exc).__name__)


def test_every_input_schema_loads_as_marshmallow_loads(app):
    schemas = _input_schemas()
    assert len(schemas) > 50
    compared = 0
    with app.test_request_context():
        for cls in schemas:
            try:
                schema = cls()
            except TypeError:  # needs arguments: not an endpoint's schema
                continue
            for data in _samples(schema):
                fast = _outcome(schema, data)
                original = InputSchema._deserialize
                InputSchema._deserialize = ma.Schema._deserialize  # type: ignore[method-assign]
                try:
                    stock = _outcome(schema, data)
                finally:
                    InputSchema._deserialize = original  # type: ignore[method-assign]
                assert fast == stock, (cls.__name__, data)
                compared += 1
    assert compared > 800


# --- the bearer token's user: users._user_for_hash -----------------------------------------------

def _orm_lookup(digest: str):
    """The ORM's query of the token's user (the path a session holding objects takes)."""
    from mediation import users

    row = db.session.execute(users._TOKEN_USER, {"digest": digest}).first()
    return None if row is None else row[0]


def _columns(user) -> dict:
    from mediation.users import User

    return {c.key: getattr(user, c.key) for c in sa.inspect(User).column_attrs}


def _officer_with_token(username: str):
    """A new case officer and the stored hash of a token of theirs (both committed)."""
    from mediation import users

    user = users.create_user(username, "profile-pass-2025-x", "case_officer", "510104", "")
    db.session.commit()
    token, _ = users.issue_token(user)
    db.session.commit()
    return user, users._hash_token(token)


def test_the_token_user_of_an_empty_session_is_the_one_the_orm_loads(ctx):
    from mediation import users

    _, digest = _officer_with_token("fast_officer")
    db.session.remove()

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        found = users._user_for_hash(digest)
        assert len(statements) == 1  # one statement, and no lazy load of any column below
        state = sa.inspect(found)
        assert state.persistent and not state.expired_attributes and not state.modified
        assert found in db.session and not db.session.dirty and not db.session.new
        assert db.session.get(users.User, found.id) is found  # the session's one copy
        fast = _columns(found)
        assert len(statements) == 1
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    db.session.remove()
    stock = _columns(_orm_lookup(digest))
    assert fast == stock and fast["created_at"].tzinfo is not None
    assert [type(v) for v in fast.values()] == [type(v) for v in stock.values()]
    db.session.remove()

    # a change to it is written as a change to an ORM-loaded user is
    found = users._user_for_hash(digest)
    found.display_name = "Renamed"
    db.session.commit()
    db.session.remove()
    assert _orm_lookup(digest).display_name == "Renamed"
    db.session.remove()


def test_the_token_user_read_on_the_drivers_cursor_is_the_one_the_orm_loads(ctx, monkeypatch):
    """With no statement listener (served), PostgreSQL's lookup runs on the driver's cursor:
    the same columns, types and UTC times as the ORM's load, the user in the session."""
    from mediation import driver, users

    _, digest = _officer_with_token("driver_officer")
    db.session.remove()
    on_cursor: list[str] = []
    real = driver._on_cursor
    monkeypatch.setattr(driver, "_on_cursor",
                        lambda conn, sql, *rest: on_cursor.append(sql) or real(conn, sql, *rest))
    found = users._user_for_hash(digest)
    state = sa.inspect(found)
    assert state.persistent and not state.expired_attributes and not state.modified
    assert db.session.get(users.User, found.id) is found
    fast = _columns(found)
    db.session.remove()
    stock = _columns(_orm_lookup(digest))
    assert fast == stock
    assert [type(v) for v in fast.values()] == [type(v) for v in stock.values()]
    assert fast["created_at"].tzinfo == stock["created_at"].tzinfo == dt.UTC
    assert len(on_cursor) == (1 if db.engine.dialect.name == "postgresql" else 0)
    db.session.remove()


def test_a_session_holding_objects_gets_its_own_copy_of_the_token_user(ctx):
    from mediation import users

    user, digest = _officer_with_token("held_officer")
    # the session still holds `user`: the ORM's query answers with that very object
    assert users._user_for_hash(digest) is user
    db.session.remove()
    assert users._user_for_hash("0" * 64) is None  # no such token: nothing built


def test_a_dead_token_finds_no_user_on_either_path(ctx):
    from mediation import clock, users

    user = users.create_user("dead_officer", "profile-pass-2025-x", "case_officer", "510104", "")
    db.session.commit()
    tokens = [users.issue_token(user)[0] for _ in range(3)]
    db.session.commit()
    users.revoke_token(tokens[0])
    db.session.execute(sa.update(users.ApiToken).where(
        users.ApiToken.token_hash == users._hash_token(tokens[1])).values(expires_at=clock.now()))
    db.session.commit()
    for held in (True, False):
        if not held:
            db.session.remove()
        assert users._user_for_hash(users._hash_token(tokens[0])) is None
        assert users._user_for_hash(users._hash_token(tokens[1])) is None
        assert users._user_for_hash(users._hash_token(tokens[2])) is not None
    db.session.remove()
    db.session.execute(sa.update(users.User).where(users.User.id == user.id).values(active=False))
    db.session.commit()
    db.session.remove()
    assert users._user_for_hash(users._hash_token(tokens[2])) is None
    db.session.remove()


# --- the session cookie: login.CookieSessions.open_session ---------------------------------------

def test_a_request_opens_the_session_flask_would_open(app):
    from flask.sessions import SecureCookieSessionInterface

    from mediation.login import CookieSessions

    ours, flask_own = CookieSessions(), SecureCookieSessionInterface()
    signed = flask_own.get_signing_serializer(app).dumps({"x": 1})
    name = ours.get_cookie_name(app)
    for cookie in (None, "", "other=1", f"{name}=", f"{name}={signed}", f"other=1; {name}={signed}",
                   f"{name}=garbage", f"{name}={signed}; {name}=garbage", f"{name.upper()}={signed}"):
        headers = {} if cookie is None else {"Cookie": cookie}
        with app.test_request_context("/api/cases", headers=headers) as rc:
            mine, stock = ours.open_session(app, rc.request), flask_own.open_session(app, rc.request)
            assert type(mine) is type(stock) and dict(mine) == dict(stock), cookie
    assert dict(stock) == {}  # the upper-cased name is another cookie
    with app.test_request_context("/", headers={"Cookie": f"{name}={signed}"}) as rc:
        assert dict(ours.open_session(app, rc.request)) == {"x": 1}


# --- the log line's time: logs.UTCFormatter.formatTime -------------------------------------------

@pytest.mark.parametrize("kind", ["text", "json"])
def test_the_log_time_is_the_seconds_own_text_whatever_came_before(kind):
    import logging
    import time

    from mediation.logs import make_formatter

    formatter = make_formatter(kind)
    moments = [1764535632.0, 1764535632.999, 1764535633.0005, 1764535632.5, 0.25, 1764535633.0005,
               1893456000.0 - 0.001, 1893456000.0, 951782400.75]  # a new year, a 29 February
    for created in moments:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        stock = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(record.msecs):03d}Z"
        assert formatter.formatTime(record) == stock


def test_an_empty_session_varies_the_response_as_flask_would(app):
    from flask import Response
    from flask.sessions import SecureCookieSessionInterface

    from mediation.login import CookieSessions

    for vary in (None, "Accept", "Cookie", "accept, cookie", "Origin, Accept-Encoding"):
        for accessed in (True, False):
            answers = []
            for interface in (CookieSessions(), SecureCookieSessionInterface()):
                response = Response("x", headers={"X-Before": "1"} if vary is None else
                                    {"X-Before": "1", "Vary": vary})
                response.headers["X-After"] = "2"
                session = interface.session_class()
                session.accessed = accessed
                with app.test_request_context("/api/cases"):
                    interface.save_session(app, session, response)
                answers.append(list(response.headers.items()))
            assert answers[0] == answers[1], (vary, accessed)

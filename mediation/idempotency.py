"""Idempotency-Key: a retried POST never does the work twice.

Every POST under /api (but signing in and the disclosures of numbers, whose answers are
secrets or must be recorded each time: `EXCLUDED`) honours an
`Idempotency-Key` header. The key is claimed, the work done and the response stored in ONE
transaction, the command's own: the key's row is inserted first (a unique (user_id, key)
constraint), the view runs with its commands nested in that transaction (they commit only
in the outermost call: `mediation.transactions`), and its response is written to the row
before the one commit. So a crash can never record a response without its work, nor the
work without its response.

- A retry with the same key and the same request gets the stored response unchanged (status,
  body, Content-Type, Location), with `Idempotent-Replayed: true`.
- The same key with another request (method, path, body) is a 422.
- A duplicate sent while the first is still running waits for it: its insert of the same
  key blocks on the first transaction's uncommitted row (PostgreSQL) or on the one writer
  (SQLite), then finds the stored response and returns it. If the first fails, it rolls
  back its claim with its work and the duplicate does the work itself.
- A request that fails (an error raised: 4xx, 5xx) rolls back and leaves no key: a retry
  runs again, which is safe because nothing was done.
- The stored body is encrypted with the PII key (`mediation.pii`): a response may carry
  what is encrypted at rest where it came from.
- Keys are per user and live `MEDIATION_IDEMPOTENCY_TTL_HOURS`; the job `sweep_expired`
  deletes older ones, and an expired key counts as unused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from mediation import clock
from mediation.errors import Conflict, Invalid
from mediation.extensions import UTCDateTime, db
from mediation.pii import cipher
from mediation.settings import get as setting
from mediation.transactions import transactional

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 255
# Visible ASCII only: what a header carries intact through every proxy (a UUID fits).
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
# Headers the replay repeats; the rest (security headers, request id, cookies) are the
# replaying response's own.
KEPT_HEADERS = ("Content-Type", "Location", "ETag")
# Never stored: signing in answers a bearer token; revealing a petitioner's numbers answers
# them in clear (numbers are encrypted at rest), and every reveal and search by number is a
# disclosure recorded each time it happens.
EXCLUDED = re.compile(r"^/api/auth/|/reveal$|^/api/petitioners/search$")


class IdempotencyKey(db.Model):
    """A key a user sent with a POST, and the response its request got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY))
    # sha256 of the method, path and body: the same key for another request is refused.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int | None]
    body: Mapped[str | None] = mapped_column(sa.Text)  # Fernet, under MEDIATION_PII_KEY
    headers: Mapped[str | None] = mapped_column(sa.Text)  # JSON: KEPT_HEADERS present
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}?{request.query_string.decode()}\n"
                            .encode())
    if request.is_json:
        data = request.get_json(silent=True)
        digest.update(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                      .encode() if data is not None else request.get_data())
    elif request.files or request.form:
        # A multipart body's boundary is new on each try: compare the fields and the files.
        # A part whose name the parser cannot read comes back named None: sort it first.
        def by_name(kv: tuple[str | None, Any]) -> tuple[bool, str]:
            return kv[0] is not None, kv[0] or ""

        for name, value in sorted(request.form.items(multi=True), key=lambda kv: (*by_name(kv), kv[1])):
            digest.update(f"form {name}={value}\n".encode())
        for name, storage in sorted(request.files.items(multi=True), key=by_name):
            content = storage.stream.read()
            storage.stream.seek(0)
            digest.update(f"file {name} {storage.filename} ".encode())
            digest.update(hashlib.sha256(content).hexdigest().encode())
    else:
        digest.update(request.get_data())
    return digest.hexdigest()


def _user_id() -> int | None:
    from mediation.api.auth import bearer_token
    from mediation.users import user_for_token

    token = bearer_token()
    user = user_for_token(token) if token else None
    return user.id if user is not None else None


def _claim(user_id: int, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """The key's row: (ours, True) newly claimed in this transaction, or (theirs, False)
    stored by an earlier request (waiting for it first if it is still running)."""
    now = clock.now()
    db.session.execute(sa.delete(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key,
        IdempotencyKey.expires_at <= now))
    row = IdempotencyKey(user_id=user_id, key=key, fingerprint=fingerprint, created_at=now,
                         expires_at=now + dt.timedelta(hours=setting("MEDIATION_IDEMPOTENCY_TTL_HOURS")))
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        stored = db.session.execute(sa.select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)).scalar_one()
        return stored, False
    return row, True


def _replay(stored: IdempotencyKey, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        raise Invalid({HEADER: ["this key was used for another request: use a new key for it"]})
    if stored.status is None:  # claimed and committed without its response: not by a view
        raise Conflict("a request with this Idempotency-Key is still being processed",
                       current_state="in_progress")
    response = Response(cipher().decrypt(stored.body or ""), status=stored.status)
    for name, value in json.loads(stored.headers or "{}").items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


@transactional
def _once(user_id: int, key: str, view: Callable[..., Any], args: tuple, kwargs: dict) -> Response:
    fingerprint = _fingerprint()
    row, ours = _claim(user_id, key, fingerprint)
    if not ours:
        return _replay(row, fingerprint)
    response = current_app.make_response(view(*args, **kwargs))
    if response.status_code >= 500 or response.is_streamed:
        db.session.delete(row)  # not an answer to repeat
        return response
    row.status = response.status_code
    # Encrypted like petitioners' numbers: a response may hold what is encrypted at rest
    # where it came from (a counselling note's content, for its author).
    row.body = cipher().encrypt(response.get_data(as_text=True))
    row.headers = json.dumps({h: response.headers[h] for h in KEPT_HEADERS if h in response.headers})
    return response


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a view: a POST with an Idempotency-Key runs once per user and key."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None:
            return view(*args, **kwargs)
        user_id = _user_id()
        if user_id is None:  # the view answers 401
            return view(*args, **kwargs)
        if not KEY_PATTERN.fullmatch(key):
            raise Invalid({HEADER: [f"1 to {MAX_KEY} visible ASCII characters (no spaces)"]})
        return _once(user_id, key, view, args, kwargs)

    return wrapper


def covered(rule: str, methods: set[str] | None) -> bool:
    return "POST" in (methods or set()) and rule.startswith("/api/") and not EXCLUDED.search(rule)


def init_app(app: Flask) -> None:
    """After every API blueprint is registered: wrap each endpoint that takes a POST, and
    document the header on those operations of the OpenAPI document."""
    wrapped: set[str] = set()
    for rule in app.url_map.iter_rules():
        if covered(rule.rule, rule.methods) and rule.endpoint not in wrapped:
            app.view_functions[rule.endpoint] = idempotent(app.view_functions[rule.endpoint])
            wrapped.add(rule.endpoint)
    from mediation.extensions import api

    api.spec.components.parameter(HEADER, "header", {
        "name": HEADER, "in": "header", "required": False,
        "schema": {"type": "string", "pattern": f"^{KEY_PATTERN.pattern}$"},
        "description": (
            "Makes a retry safe: the first response to this key is stored for your user "
            "(for MEDIATION_IDEMPOTENCY_TTL_HOURS) and a retry with the same key and the "
            "same request gets it again, with `Idempotent-Replayed: true`, without the work "
            "being done twice; the same key with another request is a 422. A retry sent "
            "while the first is running waits for it. A request that failed left nothing: "
            "its retry runs again.")})
    for path, operations in api.spec._paths.items():
        post = operations.get("post")
        if post is not None and covered(path, {"POST"}):
            post.setdefault("parameters", []).append({"$ref": f"#/components/parameters/{HEADER}"})


def sweep_expired() -> int:
    """Delete the keys whose time is up (a job: beat or the embedded loop)."""
    deleted = db.session.execute(sa.delete(IdempotencyKey).where(
        IdempotencyKey.expires_at <= clock.now())).rowcount
    db.session.commit()
    return deleted

"""The application factory, made of small steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from inspect import iscoroutinefunction
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify
from flask_swagger_ui import get_swaggerui_blueprint
from werkzeug.middleware.proxy_fix import ProxyFix

from mediation import logs, registry
from mediation import settings as settings_table
from mediation.about import template_folder
from mediation.config import ConfigError, flask_config, secure_files
from mediation.errors import DomainError
from mediation.extensions import api, csrf, db, login_manager, migrate
from mediation.tasks import celery_init_app

log = logging.getLogger(__name__)


class MediationFlask(Flask):
    """Flask, remembering which functions are coroutines.

    Flask asks `inspect.iscoroutinefunction` of every hook, view and wrapper it calls, on
    every request (18 times for an API call); the answer for a function never changes. A
    bound method is remembered by its function (a view is a new instance per request). A few
    thousand entries at most: past that (callables made per call) Flask's way is used."""

    _SYNC_KNOWN_MAX = 4096

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._coroutine_functions: dict[Any, bool] = {}
        super().__init__(*args, **kwargs)

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        key = getattr(func, "__func__", func)
        try:
            is_coroutine = self._coroutine_functions[key]
        except KeyError:
            is_coroutine = iscoroutinefunction(func)
            if len(self._coroutine_functions) < self._SYNC_KNOWN_MAX:
                self._coroutine_functions[key] = is_coroutine
        except TypeError:  # not hashable
            return super().ensure_sync(func)
        return self.async_to_sync(func) if is_coroutine else func


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `config` may hold MEDIATION_* settings (they take the place of the
    environment's) and Flask config keys."""
    config = dict(config or {})
    logs.configure()  # first: what goes wrong while building the app is logged too
    instance = settings_table.instance_path(config)
    config.pop("INSTANCE_PATH", None)
    app = MediationFlask(
        "mediation",
        template_folder=str(template_folder()),
        static_folder=str(Path(__file__).parent / "static"),
        instance_path=str(Path(instance).resolve()) if instance else None,
        instance_relative_config=True,
    )
    values = settings_table.load(config, Path(app.instance_path))
    secure_files(Path(app.instance_path), values["MEDIATION_DATABASE_URL"])
    app.config.update(flask_config(values))
    app.config.update({k: v for k, v in config.items() if k not in settings_table.DECLARED})

    registry.init_app(app)  # first: everything after registers into it
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_areas(app)
    register_event_catalogue(app)  # after the areas: they declare the event types
    register_idempotency(app)  # after every API route: it wraps each POST
    register_checkpoints(app)
    register_security(app)  # last: its per-route policies attach to registered views
    celery_init_app(app)  # after the areas: they add their tasks and beat entries
    register_proxy(app)  # outermost: the Socket.IO middleware sees the client's address too
    return app


def register_proxy(app: Flask) -> None:
    """Trust `hops` proxies' X-Forwarded-For/-Proto/-Host/-Prefix (0: trust none, the
    default, since a client could set them itself)."""
    hops = app.config.get("MEDIATION_PROXY_HOPS", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,  # type: ignore[method-assign]
                                x_prefix=hops)


def register_extensions(app: Flask) -> None:
    from mediation import (
        assets,
        i18n,
        labels,
        login,
        metrics,
        outages,
        refusals,
        transactions,
        validation,
        web,
    )

    validation.init_app(app)  # first: its `int` converter bounds every route added later
    outages.init_app(app)
    logs.init_app(app)
    metrics.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db)
    login_manager.init_app(app)
    login_manager.login_view = "pages.login"
    login.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)
    labels.init_app(app)
    refusals.init_app(app)  # 403/404/409 messages in words: {{ error.message|refusal }}
    web.init_app(app)
    assets.init_app(app)
    api.init_app(app, spec_kwargs={"components": {"securitySchemes": {
        "bearerAuth": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearerAuth": []}]})
    if not getattr(db.session, "_mediation_hooks", False):
        transactions.install(db.session)
        db.session._mediation_hooks = True
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)
        elif db.engine.dialect.name == "postgresql":
            sa.event.listen(db.engine, "handle_error", _postgres_terse)
            options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
            if options.get("pool_pre_ping") and db.engine.dialect.driver == "psycopg":
                outages.quick_pre_ping(db.engine)
            if db.engine.dialect.driver == "psycopg":
                cache_long_statements()


# What psycopg's cache of parsed queries takes (see cache_long_statements).
STATEMENT_CACHE_PARAMS = 1000
STATEMENT_CACHE_LENGTH = 16384


def cache_long_statements() -> None:
    """Let psycopg keep the parsing of our statements with many parameters.

    psycopg parses a query's placeholders once and keeps the result in an LRU of 128
    queries, but only for queries of at most 50 parameters and 4,096 bytes: an ORM's
    multi-row VALUES of every length would otherwise crowd out the rest. This service's
    longer statements have a few fixed shapes (an intake's one statement writes the case,
    its petitioners, its first petition, its events and their outbox rows: one shape per
    number of petitioners), and parsing that statement afresh on every intake was about a
    tenth of an intake's CPU. The LRU stays bounded (128 entries of at most 16 KiB). The
    limits are psycopg's module constants, read at each execution; if a later psycopg
    renames them this sets nothing and only the saving is lost."""
    from psycopg import _queries

    for name, value in (("MAX_CACHED_STATEMENT_PARAMS", STATEMENT_CACHE_PARAMS),
                        ("MAX_CACHED_STATEMENT_LENGTH", STATEMENT_CACHE_LENGTH)):
        if hasattr(_queries, name):
            setattr(_queries, name, max(getattr(_queries, name), value))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    from mediation import clock

    # SQLite knows no time zones: the service's day of a timestamp, for the SQL that groups
    # by day (the KPI rollup).
    dbapi_conn.create_function("local_date", 2, clock.sqlite_local_date, deterministic=True)
    cur = dbapi_conn.cursor()
    # WAL lets readers work beside the one writer; busy_timeout waits for the writer.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _postgres_terse(context) -> None:
    # PostgreSQL's error details quote the refused row ("Failing row contains (…)", "Key
    # (username)=(…)"): the error keeps its primary message only, so names and numbers stay
    # out of exceptions and logs. Its diagnostics (SQLSTATE, the constraint's name) remain,
    # for the handler that answers it.
    orig = context.original_exception
    primary = getattr(getattr(orig, "diag", None), "message_primary", None)
    if primary:
        orig.args = (primary,)
        wrapped = context.sqlalchemy_exception  # its text was made from the full message
        if wrapped is not None and wrapped.args:
            wrapped.args = (f"({type(orig).__module__}.{type(orig).__name__}) {primary}",)


def register_blueprints(app: Flask) -> None:
    from mediation import health, pages
    from mediation.api import auth, cases, security, users
    from mediation.sessions import api as sessions_api

    for blp in (auth.blp, cases.blp, security.blp, users.blp, sessions_api.blp):
        api.register_blueprint(blp)
        csrf.exempt(blp)  # bearer tokens, not cookies: no CSRF to guard against
    # Interactive docs served entirely by the app: the default pages load from a CDN.
    docs = get_swaggerui_blueprint("/api/docs", "/api/openapi.json",
                                   # no validator badge: it would call validator.swagger.io
                                   config={"app_name": "Mediation API", "validatorUrl": None})
    app.register_blueprint(docs)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)


def register_security(app: Flask) -> None:
    from mediation import security

    security.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        return jsonify(err.payload()), err.status


def register_commands(app: Flask) -> None:
    from mediation import cli_commands

    for command in cli_commands.COMMANDS:
        app.cli.add_command(command)


def register_areas(app: Flask) -> None:
    """Each area registers what it brings into the app's registry, in this order; the one
    place `mediation` reaches into the packages built on it (referrals, realtime)."""
    import realtime
    import referrals
    from mediation import cases, departments, documents, notifications, oversight, sessions, supervision

    for area in (cases, sessions, supervision, oversight, documents, referrals, departments, realtime,
                 notifications):
        area.init_app(app)


def register_idempotency(app: Flask) -> None:
    """Every POST under /api honours an Idempotency-Key; its sweep runs as a job."""
    from mediation import idempotency
    from mediation.pii import register_encrypted
    from mediation.server import add_periodic_job
    from mediation.tasks import add_beat

    with app.app_context():
        idempotency.init_app(app)
    register_encrypted(app, idempotency.IdempotencyKey, "body")
    add_periodic_job(app, "idempotency-sweep", idempotency.sweep_expired)
    add_beat(app, "idempotency-sweep", "mediation.idempotency_sweep", 3600.0)


def register_checkpoints(app: Flask) -> None:
    """The daily signed checkpoint of every chain head, as a job (it decides whether
    today's is due)."""
    from mediation import checkpoints
    from mediation.server import add_periodic_job
    from mediation.tasks import add_beat

    add_periodic_job(app, "timeline-checkpoint", checkpoints.daily)
    add_beat(app, "timeline-checkpoint", "mediation.timeline_checkpoint", 3600.0)


def register_event_catalogue(app: Flask) -> None:
    """Publish the event catalogue in the OpenAPI document (`x-event-types`)."""
    from mediation import events

    with app.app_context():
        api.spec.options["x-event-types"] = events.describe(app)


__all__ = ["create_app", "ConfigError"]

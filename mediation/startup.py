"""Starting a process: the app, checked before it serves anything.

Every entry point — the `mediation` command (so `serve` too), gunicorn through
`mediation.wsgi`, the Celery worker and beat through `mediation.celery_worker` — builds the
app here. A configuration that cannot work (a bad setting, a database that cannot be
reached or opened) ends the process with one line `configuration error: …` on stderr and
a non-zero status, instead of a traceback or a start that fails later with 500s.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import sqlalchemy as sa
from flask import Flask

from mediation.settings import ConfigurationError

# The status `mediation` exits with on a configuration error.
EXIT_CONFIGURATION = 2


def check_database(app: Flask) -> None:
    """Connect once: raise ConfigurationError when the database cannot be reached or opened."""
    from mediation.extensions import db

    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=True)
        try:
            with db.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()
            raise ConfigurationError(
                f"cannot reach the database at {url}: {reason[0] if reason else type(exc.orig).__name__}"
            ) from None
        finally:
            db.engine.dispose()  # a process that forks next (gunicorn, Celery) starts clean


def create_checked_app(config: dict[str, Any] | None = None) -> Flask:
    """The app, with its settings checked and its database reachable (else ConfigurationError)."""
    from mediation.app import create_app

    app = create_app(config)
    check_database(app)
    return app


def fail(exc: ConfigurationError, status: int = EXIT_CONFIGURATION) -> NoReturn:
    """End the process with the one-line message."""
    print(f"configuration error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def app_or_exit(config: dict[str, Any] | None = None, status: int = EXIT_CONFIGURATION) -> Flask:
    """`create_checked_app`, or the one-line message and `status`."""
    try:
        return create_checked_app(config)
    except ConfigurationError as exc:
        fail(exc, status)

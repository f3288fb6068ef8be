"""Flask's own configuration, derived from the checked settings (`mediation.settings`).

The embedded default is SQLite with no Redis: one process on a laptop. There, a missing
secret or PII key is generated once and kept in the instance folder. Anywhere else
(PostgreSQL or Redis configured) the app refuses to start without explicit keys.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from mediation.settings import DEFAULT_CLOCKS, ConfigurationError

# The name older code and tests know the error by.
ConfigError = ConfigurationError


def flask_config(values: dict[str, Any]) -> dict[str, Any]:
    """The Flask config mapping derived from the checked settings (see settings.load)."""
    database_url = values["MEDIATION_DATABASE_URL"]
    secure = values["MEDIATION_SECURE_COOKIES"]
    if secure is None:  # cookies only over HTTPS outside the embedded mode (plain HTTP on a laptop)
        secure = not values["MEDIATION_EMBEDDED"]
    # A host that does not answer fails the start in seconds rather than hanging it.
    engine_options: dict[str, Any] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10},
                                      "pool_size": values["MEDIATION_DB_POOL_SIZE"],
                                      "max_overflow": values["MEDIATION_DB_MAX_OVERFLOW"]}
    if database_url.startswith("sqlite"):
        engine_options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # A failed statement's parameters (names, numbers, user names) stay out of exceptions
    # and so out of every log.
    engine_options["hide_parameters"] = True
    return {
        **values,
        "SECRET_KEY": values["MEDIATION_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        # Sign-in throttling counts in Redis when there is one (every process together);
        # the prefix keeps deployments (databases) sharing a Redis apart.
        "RATELIMIT_STORAGE_URI": values["MEDIATION_REDIS_URL"] or "memory://",
        "RATELIMIT_KEY_PREFIX": "mediation-" + hashlib.sha256(database_url.encode()).hexdigest()[:12],
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_SECURE": secure,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "API_TITLE": "Mediation coordination API",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        # flask-smorest's own docs pages load from a CDN; /api/docs is served locally.
        "OPENAPI_SWAGGER_UI_PATH": None,
        "WTF_CSRF_TIME_LIMIT": None,
    }


def secure_files(instance_path: Path, database_url: str) -> None:
    """The instance folder (keys, uploads, the SQLite file) 0700 and the SQLite database
    0600, at creation and at every start: they hold keys and personal data."""
    from sqlalchemy.engine import make_url

    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    instance_path.chmod(0o700)
    if not database_url.startswith("sqlite"):
        return
    name = make_url(database_url).database
    if not name or name == ":memory:":
        return
    path = Path(name)
    if not path.exists():  # made here so that SQLite never creates it world-readable
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    # SQLite gives its -wal and -shm files the database file's mode.
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if part.exists():
            part.chmod(0o600)


__all__ = ["DEFAULT_CLOCKS", "ConfigError", "ConfigurationError", "flask_config", "secure_files"]

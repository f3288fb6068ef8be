"""Flask's own configuration, derived from the checked settings (`mediation.settings`).

The embedded default is SQLite with no Redis: one process on a laptop. There, a missing
secret or PII key is generated once and kept in the instance folder. Anywhere else
(PostgreSQL or Redis configured) the app refuses to start without explicit keys.
"""

from __future__ import annotations

from typing import Any

from mediation.settings import DEFAULT_CLOCKS, ConfigurationError

# The name older code and tests know the error by.
ConfigError = ConfigurationError


def flask_config(values: dict[str, Any]) -> dict[str, Any]:
    """The Flask config mapping derived from the checked settings (see settings.load)."""
    database_url = values["MEDIATION_DATABASE_URL"]
    # A host that does not answer fails the start in seconds rather than hanging it.
    engine_options: dict[str, Any] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    if database_url.startswith("sqlite"):
        engine_options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        **values,
        "SECRET_KEY": values["MEDIATION_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
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


__all__ = ["DEFAULT_CLOCKS", "ConfigError", "ConfigurationError", "flask_config"]

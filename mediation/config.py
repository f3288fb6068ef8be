"""Configuration from `MEDIATION_*` environment variables, with safe embedded defaults.

The *embedded default* is SQLite with no Redis: one process on a laptop. There, a missing
secret or PII key is generated once and kept in the instance folder. Anywhere else
(PostgreSQL or Redis configured) the app refuses to start without explicit keys.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

# Statutory time limits of the 2022 信访工作条例, in days. Configuration, not constants:
# override any of them with MEDIATION_CLOCK_<NAME>=<days>.
DEFAULT_CLOCKS: dict[str, int] = {
    "acceptance_decision": 15,  # decide whether and where to accept, from receipt
    "handling": 60,  # handle the matter, from acceptance
    "handling_extension_max": 30,  # one extension, with approval
    "review_request": 30,  # 复查 may be requested, from the written reply
    "review_answer": 30,  # 复查 answered, from the request
    "rereview_request": 30,  # 复核 may be requested, from the review answer
    "rereview_answer": 30,  # 复核 answered, from the request
    # 五包: the owner hears progress at least monthly, meets the petitioner half-monthly.
    "owner_progress_hearing": 30,
    "owner_petitioner_meeting": 15,
}

MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    pii_keys: tuple[str, ...]
    embedded: bool


def _instance_secret(instance_path: Path, name: str, make) -> str:
    """Read a generated secret from the instance folder, creating it once (race-safe)."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(make())
    return path.read_text().strip()


def read_settings(instance_path: Path, env: dict[str, str] | None = None) -> Settings:
    """Build the settings from the environment; raise ConfigError when unsafe."""
    env = dict(os.environ if env is None else env)
    database_url = env.get("MEDIATION_DATABASE_URL") or f"sqlite:///{instance_path / 'mediation.db'}"
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    redis_url = env.get("MEDIATION_REDIS_URL") or None
    embedded = database_url.startswith("sqlite") and redis_url is None

    secret_key = env.get("MEDIATION_SECRET_KEY") or ""
    pii = env.get("MEDIATION_PII_KEY") or ""
    if embedded:
        secret_key = secret_key or _instance_secret(
            instance_path, "secret_key", lambda: secrets.token_urlsafe(48)
        )
        pii = pii or _instance_secret(
            instance_path, "pii_key", lambda: Fernet.generate_key().decode()
        )
    else:
        if len(secret_key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"MEDIATION_SECRET_KEY must be set to a random string of at least "
                f"{MIN_SECRET_LENGTH} characters outside the embedded SQLite mode"
            )
        if not pii:
            raise ConfigError(
                "MEDIATION_PII_KEY must be set outside the embedded SQLite mode: one or more "
                "Fernet keys, comma-separated, newest first "
                '(python -c "from cryptography.fernet import Fernet;'
                'print(Fernet.generate_key().decode())")'
            )
    keys = tuple(k.strip() for k in pii.split(",") if k.strip())
    if not keys:  # " , " is set but names no key: it would fail at the first number
        raise ConfigError("MEDIATION_PII_KEY names no key: one or more Fernet keys, comma-separated")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError("MEDIATION_PII_KEY holds a key that is not a Fernet key") from exc
    return Settings(database_url, redis_url, secret_key, keys, embedded)


def clocks_from_env(env: dict[str, str] | None = None) -> dict[str, int]:
    """The statutory clocks, each overridable by MEDIATION_CLOCK_<NAME>."""
    env = dict(os.environ if env is None else env)
    clocks = dict(DEFAULT_CLOCKS)
    for name in clocks:
        raw = env.get(f"MEDIATION_CLOCK_{name.upper()}")
        if raw is not None:
            try:
                clocks[name] = int(raw)
            except ValueError as exc:
                raise ConfigError(f"MEDIATION_CLOCK_{name.upper()} must be a number of days") from exc
            if clocks[name] <= 0:
                raise ConfigError(f"MEDIATION_CLOCK_{name.upper()} must be positive")
    return clocks


def flask_config(settings: Settings) -> dict[str, Any]:
    """The Flask config mapping derived from the settings."""
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if settings.database_url.startswith("sqlite"):
        engine_options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "MEDIATION_REDIS_URL": settings.redis_url,
        "MEDIATION_PII_KEYS": settings.pii_keys,
        "MEDIATION_EMBEDDED": settings.embedded,
        "MEDIATION_CLOCKS": clocks_from_env(),
        "MEDIATION_TOKEN_TTL_HOURS": int(os.environ.get("MEDIATION_TOKEN_TTL_HOURS", "12")),
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

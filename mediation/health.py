"""Liveness and readiness."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app

from mediation.extensions import db
from mediation.registry import registry

bp = Blueprint("health", __name__)

# Extra readiness checks added by the packages built on `mediation` (the Socket.IO
# listener), in the registry's `readiness_checks`: name -> fn(app) returning "ok", or a
# short reason it is not ready.
ReadinessCheck = Callable[[Flask], str]


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    registry(app).readiness_checks.register(name, check)


@bp.get("/healthz")
def healthz():
    """The process is alive, and which version it runs."""
    from mediation.about import version

    return {"status": "ok", "version": version()}


@bp.get("/readyz")
def readyz():
    """The database answers, and Redis too where one is configured."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # reported, not raised: this endpoint exists to say so
        checks["database"] = f"error: {exc.__class__.__name__}"
    finally:
        db.session.rollback()
    url = current_app.config.get("MEDIATION_REDIS_URL")
    if url:
        import redis

        try:
            redis.Redis.from_url(url, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    for name, check in registry().readiness_checks.items():
        try:
            checks[name] = check(current_app._get_current_object())
        except Exception as exc:
            checks[name] = f"error: {exc.__class__.__name__}"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503

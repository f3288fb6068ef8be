"""Liveness and readiness."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app

from mediation.extensions import db
from mediation.registry import registry

bp = Blueprint("health", __name__)

# Extra readiness checks added by the packages built on `mediation` (the Socket.IO
# listener), in the registry's `readiness_checks`: name -> fn(app) returning "ok", a
# reason starting "degraded:" (served, but something works less well: still ready), or a
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
    """Ready (200) when the database answers. Redis down degrades live delivery and
    background work but not requests (writes wait in the outbox): "degraded", still 200,
    so that a proxy keeps every process in rotation for an outage they all share."""
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
            checks["redis"] = f"degraded: {exc.__class__.__name__}"
    for name, check in registry().readiness_checks.items():
        try:
            checks[name] = check(current_app._get_current_object())
        except Exception as exc:
            checks[name] = f"error: {exc.__class__.__name__}"
    ready = all(v == "ok" or v.startswith("degraded") for v in checks.values())
    if not ready:
        return {"status": "unavailable", "checks": checks}, 503
    degraded = any(v != "ok" for v in checks.values())
    return {"status": "degraded" if degraded else "ok", "checks": checks}, 200

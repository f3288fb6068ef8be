"""Celery tasks of the sessions package (with Redis; the embedded loop calls the same
functions in-process)."""

from __future__ import annotations

from celery import shared_task

PRESENCE_SWEEP = "mediation.sessions.presence_sweep"
CESSATION_SWEEP = "mediation.sessions.cessation_sweep"


@shared_task(name=PRESENCE_SWEEP, acks_late=True, reject_on_worker_lost=True)
def presence_sweep() -> int:
    """Clear session-room presence past its heartbeat window (idempotent)."""
    from mediation.sessions import presence

    return presence.sweep()


@shared_task(name=CESSATION_SWEEP, acks_late=True, reject_on_worker_lost=True)
def cessation_sweep() -> int:
    """Record cessation of petitioning for cases quiet past the quiet period (idempotent)."""
    from mediation.sessions import followup

    return followup.sweep_cessations()

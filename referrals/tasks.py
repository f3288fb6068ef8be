"""Celery tasks of the referrals package. Each is idempotent (conditional updates decide),
acknowledged late and rejected when its worker is lost, so a killed worker loses nothing
and a re-run does nothing twice. The app context comes from the app's Task base class."""

from __future__ import annotations

from typing import Any

from celery import shared_task

TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="referrals.sweep", **TASK_OPTIONS)
def sweep(batch: int = 100) -> dict[str, int]:
    """Expire offers past their deadline exactly once, re-route them, offer waiting needs."""
    from referrals.routing import sweep as run_sweep

    return run_sweep(batch=batch).as_dict()


@shared_task(name="referrals.offer_waiting", **TASK_OPTIONS)
def offer_waiting(provider_id: int | None = None, limit: int = 100) -> int:
    """A provider freed capacity: offer needs waiting for such a provider, oldest first."""
    from referrals.routing import offer_waiting as run

    return run(provider_id=provider_id, limit=limit)

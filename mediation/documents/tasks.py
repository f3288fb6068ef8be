"""The documents' Celery tasks."""

from __future__ import annotations

from celery import shared_task

ORPHAN_SWEEP = "mediation.documents.orphan_sweep"


@shared_task(name=ORPHAN_SWEEP, acks_late=True, reject_on_worker_lost=True)
def orphan_sweep() -> int:
    from mediation.documents import commands

    return commands.sweep_orphans()

"""Supervision's Celery tasks (beat): the KPI rollup's fold."""

from __future__ import annotations

from celery import shared_task

from mediation.supervision import rollup


@shared_task(name=rollup.FOLD_TASK)
def fold_kpi_deltas() -> int:
    """Fold the pending KPI deltas into the rollup; returns how many."""
    return rollup.fold_pending()

"""Celery tasks of the outbound channels (see `outbound.py`)."""

from __future__ import annotations

from celery import shared_task

from mediation.notifications.outbound import DELIVER_TASK, SWEEP_TASK


@shared_task(name=DELIVER_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def deliver(self, delivery_id: int) -> str:
    """One attempt; a failure with attempts left is retried after its backoff. A retried or
    duplicated task claims nothing already claimed, so it never sends twice."""
    from mediation import clock
    from mediation.extensions import db
    from mediation.notifications import outbound
    from mediation.notifications.models import Delivery

    status = outbound.deliver(delivery_id)
    if status == "retry" and not self.app.conf.task_always_eager:  # embedded: the sweep retries
        d = db.session.get(Delivery, delivery_id)
        wait = max(1.0, (d.not_before - clock.now()).total_seconds()) if d and d.not_before else 30.0
        raise self.retry(countdown=wait)
    return status


@shared_task(name=SWEEP_TASK, acks_late=True, reject_on_worker_lost=True)
def sweep() -> int:
    from mediation.notifications import outbound

    return outbound.sweep_due()

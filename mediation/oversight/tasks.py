"""Oversight's Celery task (beat): the sweep that escalates overdue supervision orders."""

from __future__ import annotations

from celery import shared_task

ESCALATE = "mediation.oversight.escalate_orders"


@shared_task(name=ESCALATE, acks_late=True, reject_on_worker_lost=True)
def escalate_orders() -> int:
    from mediation.oversight import commands

    return commands.escalate_overdue()

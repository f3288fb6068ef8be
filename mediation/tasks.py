"""Celery: background work with an app context for every task.

Production (`MEDIATION_REDIS_URL` set): Redis is the broker; tasks are acknowledged late
and rejected when their worker is lost, so a killed worker loses nothing (tasks must be
idempotent). Periodic sweeps run from beat (`mediation.tasks.beat_schedule`).

Embedded default (no Redis): tasks run eagerly in the calling process, and the server's
own loop (`mediation.server`) runs the sweeps.

Start a worker and beat with the app's own instance:
    celery -A mediation.celery_worker worker --loglevel=info
    celery -A mediation.celery_worker beat --loglevel=info
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

from mediation.transactions import after_commit


def add_beat(app: Flask, name: str, task_name: str, seconds: float) -> None:
    """Have beat run `task_name` every `seconds` (the registry's `beat`; before
    `celery_init_app`, which reads them)."""
    from mediation.registry import registry

    registry(app).beat.register(name, (task_name, seconds))


def celery_init_app(app: Flask) -> Celery:
    """Create the app's Celery instance; every task runs inside this app's context."""

    class AppContextTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    from mediation.registry import registry

    add_beat(app, "timeline-publish-pending", "mediation.publish_pending", 15.0)
    redis_url = app.config.get("MEDIATION_REDIS_URL")
    celery = Celery(app.import_name, task_cls=AppContextTask)
    celery.conf.update(
        broker_url=redis_url or "memory://",
        result_backend=None,
        task_ignore_result=True,
        task_always_eager=redis_url is None,
        task_eager_propagates=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # Deadlines live in the database and are swept; no long countdowns on Redis.
        broker_transport_options={"visibility_timeout": 3600},
        beat_schedule={name: {"task": task, "schedule": secs}
                       for name, (task, secs) in registry(app).beat.items()},
        timezone="UTC",
    )
    celery.set_default()
    app.extensions["celery"] = celery
    _register_core_tasks(celery)
    _record_sweeps(celery, redis_url, {task for task, _ in registry(app).beat.values()})
    _use_the_apps_logging()
    return celery


_logging_connected = False


def _use_the_apps_logging() -> None:
    """Workers and beat log like every other process (mediation.logs: UTC time, level,
    logger, request id; MEDIATION_LOG_FORMAT and MEDIATION_LOG_LEVEL): a receiver of
    `setup_logging` keeps Celery from replacing the root logger's handlers with its own."""
    global _logging_connected
    if _logging_connected:
        return
    from celery.signals import setup_logging

    from mediation import logs

    setup_logging.connect(lambda **_kwargs: logs.configure(), weak=False)
    _logging_connected = True


def _record_sweeps(celery: Celery, redis_url: str | None, sweeps: set[str]) -> None:
    """Note each beat sweep's success where `/metrics` of any process can read it."""
    from celery.signals import task_success

    from mediation.metrics import sweep_succeeded

    def record(sender=None, **_kwargs: Any) -> None:
        if sender is not None and sender.app is celery and sender.name in sweeps:
            sweep_succeeded(sender.name, redis_url)

    task_success.connect(record, weak=False)


def _register_core_tasks(celery: Celery) -> None:
    @celery.task(name="mediation.publish_pending", shared=False)
    def publish_pending() -> int:
        """The outbox sweep: publish committed events not yet published."""
        from mediation import timeline

        total = 0
        while (n := timeline.publish()) > 0:
            total += n
        return total

    @celery.task(name="mediation.idempotency_sweep", shared=False)
    def idempotency_sweep() -> int:
        """Delete the Idempotency-Keys whose time is up."""
        from mediation import idempotency

        return idempotency.sweep_expired()

    @celery.task(name="mediation.timeline_checkpoint", shared=False)
    def timeline_checkpoint() -> str | None:
        """Today's signed checkpoint of every chain head, if not written yet."""
        from mediation import checkpoints

        path = checkpoints.daily()
        return str(path) if path else None


def enqueue_after_commit(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Send a task only once the current transaction has committed (never before)."""
    from flask import current_app

    from mediation.extensions import db


    celery: Celery = current_app.extensions["celery"]
    after_commit(db.session(), "tasks", (celery, task_name, args, kwargs), _send)


def _send(items: list[tuple[Celery, str, tuple, dict]]) -> None:
    for celery, name, args, kwargs in items:
        if celery.conf.task_always_eager:  # embedded: run here, now that the data is there
            celery.tasks[name].apply(args=args, kwargs=kwargs)
        else:
            celery.send_task(name, args=args, kwargs=kwargs)

"""Serving the app: the HTTP server and, in the embedded default, the sweep loop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)

SWEEP_SECONDS = 15.0

# Jobs the embedded loop runs; later packages add theirs (referral deadlines, reminders).
Job = Callable[[], object]


def periodic_jobs(app: Flask) -> list[Job]:
    return app.extensions.setdefault("mediation.periodic", [])


def add_periodic_job(app: Flask, job: Job) -> None:
    periodic_jobs(app).append(job)


def _sweep_loop(app: Flask, stop: threading.Event) -> None:
    from mediation import timeline

    jobs = [timeline.publish, *periodic_jobs(app)]
    while not stop.wait(SWEEP_SECONDS):
        for job in jobs:
            with app.app_context():
                try:
                    job()
                except Exception:  # one failed sweep must not end the loop; the next retries
                    log.exception("periodic job %s failed", getattr(job, "__name__", job))


def run(app: Flask, host: str, port: int) -> None:
    """Serve until interrupted. Without Redis (embedded), sweeps run in this process;
    with Redis, Celery beat runs them."""
    stop = threading.Event()
    if app.config.get("MEDIATION_REDIS_URL") is None:
        threading.Thread(target=_sweep_loop, args=(app, stop), name="sweeps", daemon=True).start()
    server = app.extensions.get("mediation.server")
    try:
        if server is not None:  # live delivery (realtime) serves through Socket.IO
            server(app, host, port)
        else:
            from werkzeug.serving import run_simple

            run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        stop.set()

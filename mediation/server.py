"""Serving the app: gunicorn outside the embedded mode, Werkzeug's threaded server in it;
and, where no Celery beat runs (no Redis), the sweep loop in the serving process."""

from __future__ import annotations

import gc
import logging
import os
import shlex
import sys
import threading
from collections.abc import Callable

from flask import Flask

from mediation.registry import registry

log = logging.getLogger(__name__)

SWEEP_SECONDS = 15.0
APP_SPEC = "mediation.wsgi:app"  # checks the settings and the database first
GUNICORN_CONF = "python:mediation.gunicorn_conf"
# Idle keep-alive HTTP connections a web process keeps beside its threads' connections
# (gunicorn's own default share: 1,000 connections minus 100 threads).
KEEPALIVE_CONNECTIONS = 900

# Jobs the embedded loop runs; the areas add theirs (referral deadlines, reminders) to the
# registry's `periodic_jobs`.
Job = Callable[[], object]
# What a serving process starts beside its requests (the Socket.IO queue listener).
ServingHook = Callable[[Flask], None]


def periodic_jobs(app: Flask) -> list[Job]:
    return registry(app).periodic_jobs.values()


def add_periodic_job(app: Flask, name: str, job: Job) -> None:
    registry(app).periodic_jobs.register(name, job)


def add_serving_hook(app: Flask, name: str, hook: ServingHook) -> None:
    registry(app).serving_hooks.register(name, hook)


def _sweep_loop(app: Flask, stop: threading.Event) -> None:
    from mediation import outages, timeline
    from mediation.metrics import sweep_succeeded

    jobs = [timeline.publish, *periodic_jobs(app)]
    while not stop.wait(SWEEP_SECONDS):
        for job in jobs:
            name = f"{getattr(job, '__module__', '')}.{getattr(job, '__name__', job)}"
            with app.app_context():
                try:
                    job()
                except Exception as exc:  # one failed sweep must not end the loop; the next retries
                    if outages.is_unavailable(exc):
                        outages.record_failure(exc, f"periodic job {name}")
                    else:
                        log.exception("periodic job %s failed", name)
                else:
                    sweep_succeeded(name, None)


def serving_started(app: Flask) -> threading.Event:
    """Run the serving hooks and, without Redis (so without beat), the sweep loop.
    Returns the event that stops the loop."""
    stop = threading.Event()
    for hook in registry(app).serving_hooks.values():
        hook(app)
    if app.config.get("MEDIATION_REDIS_URL") is None:
        threading.Thread(target=_sweep_loop, args=(app, stop), name="sweeps", daemon=True).start()
    freeze_startup_objects()
    return stop


def freeze_startup_objects() -> None:
    """Keep what the app's start made out of the collector's full passes.

    The modules, the app, its schemas and the ORM's mappings are some 440,000 objects that
    live as long as the process, and a full pass of the cyclic collector walked all of them
    each time (about 175 ms, every thread of the process stopped: a fan-out to a thousand
    sockets caught in one took that much longer). Frozen, they are never walked again, and a
    full pass walks only what requests and connections made since, as in a bare Flask app."""
    gc.collect()  # (garbage now would be kept for good)
    gc.freeze()


def worker_connections(threads: int) -> int:
    """How many connections the gthread worker may hold at once with `threads` threads: one
    per thread (an open WebSocket holds its thread for as long as it lasts) plus the idle
    keep-alive ones. gunicorn's fixed default (1,000) would leave every connection past it
    waiting unaccepted in the listen backlog, WebSockets included, whatever the threads."""
    return threads + KEEPALIVE_CONNECTIONS


def gunicorn_argv(host: str, port: int, threads: int | None = None) -> list[str]:
    """The gunicorn command line that serves this app on host:port."""
    argv = ["gunicorn", "-c", GUNICORN_CONF, "-b", f"{host}:{port}"]
    if threads:
        argv += ["--threads", str(threads), "--worker-connections", str(worker_connections(threads))]
    return [*argv, APP_SPEC]


def exec_gunicorn(host: str, port: int, threads: int | None = None) -> None:
    """Replace this process with gunicorn serving the app (never returns), or raise
    RuntimeError naming the command when gunicorn is not installed."""
    argv = gunicorn_argv(host, port, threads)
    try:
        import gunicorn  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"gunicorn is not installed; run: {shlex.join(argv)}") from exc
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *argv[1:]])


def run(app: Flask, host: str, port: int) -> None:
    """Serve with Werkzeug's threaded server until interrupted: the embedded mode only
    (one process on a laptop; `mediation serve` runs gunicorn anywhere else)."""
    stop = serving_started(app)
    try:
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        stop.set()

"""gunicorn's settings for this app: `gunicorn -c python:mediation.gunicorn_conf
mediation.wsgi:app` (what `mediation serve` runs outside the embedded mode).

One worker per process, with threads: Socket.IO keeps its sessions in one process's
memory, and in threading mode each open WebSocket holds a thread, so size
`MEDIATION_THREADS` to the connections one process should hold (the worker accepts that
many connections plus idle keep-alive ones). Scale out with more
processes behind a sticky load balancer (deploy/). Lines from gunicorn go through the
app's logging (time, level, logger; JSON with MEDIATION_LOG_FORMAT=json).
Anything here can be overridden on gunicorn's command line.
"""

from __future__ import annotations

from gunicorn import glogging

from mediation import logs, server
from mediation.settings import from_env

worker_class = "gthread"
workers = 1
threads = from_env("MEDIATION_THREADS")
# Room for a connection per thread: gunicorn's default cap (1,000 connections, WebSockets
# included) would otherwise hold the connections past it unaccepted, whatever the threads.
# (`gunicorn --threads N` by hand: pass `--worker-connections` too; `mediation serve
# --threads N` does.)
worker_connections = server.worker_connections(threads)
# Open WebSockets are requests that never finish: do not wait long for them on a stop.
graceful_timeout = from_env("MEDIATION_GRACEFUL_TIMEOUT")
# The app logs one access line per request, with its request id.
accesslog = None
logger_class = "mediation.gunicorn_conf.AppLogger"


class AppLogger(glogging.Logger):
    """gunicorn's loggers without their own handlers, through the app's one handler."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True
        logs.configure()


def post_worker_init(worker) -> None:
    """Start what a serving process runs beside the requests (the queue listener; the
    sweeps when there is no Celery beat)."""
    from mediation.server import serving_started

    app = worker.wsgi
    if hasattr(app, "extensions"):
        serving_started(app)

"""Logging: configured once per process, the same under `mediation serve`, gunicorn,
Celery and the CLI.

Every line carries the time (UTC, ISO 8601), the level, the logger and the request id
(`-` outside a request); `MEDIATION_LOG_FORMAT=json` writes one JSON object per line
instead (python-json-logger), for a log shipper. Loggers that exist before this runs
keep working: nothing is disabled, and a process whose root logger someone else already
set up (Celery's worker, an embedding program) keeps its handlers; ours is added beside
them only once. No colour codes: the lines go to files and journals as they are.

Each request gets an id: the proxy's `X-Request-ID` when it sends a sane one, else a new
one; it is on every line logged while the request runs, on the access line, and in the
response's `X-Request-ID` header.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping

from flask import Flask, g, has_request_context, request

LOG_FORMAT_ENV = "MEDIATION_LOG_FORMAT"
LOG_LEVEL_ENV = "MEDIATION_LOG_LEVEL"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

access_log = logging.getLogger("mediation.access")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            rid = "-"
            if has_request_context():
                rid = g.get("request_id", "-")
            record.request_id = rid
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the record (test runners and
    daemonisers replace it), never to a stream that has since been closed."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class UTCFormatter(logging.Formatter):
    converter = time.gmtime
    # The last second formatted and its text: every access line of that second reuses it
    # (a pair replaced whole, so a thread reads a second with its own text).
    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)  # what gmtime takes of it
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(second)))
        return f"{cached[1]}.{int(record.msecs):03d}Z"


def make_formatter(kind: str) -> logging.Formatter:
    """The formatter for `MEDIATION_LOG_FORMAT` (`text`, the default, or `json`)."""
    if kind == "json":
        from pythonjsonlogger.json import JsonFormatter

        class UTCJsonFormatter(JsonFormatter):
            converter = time.gmtime
            _second = UTCFormatter._second
            formatTime = UTCFormatter.formatTime  # noqa: N815

        return UTCJsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level",
                                                            "name": "logger"})
    return UTCFormatter(TEXT_FORMAT)


def configure(env: Mapping[str, str] | None = None) -> logging.Handler:
    """Install this process's log handler on the root logger, once; returns it."""
    from mediation.settings import from_env

    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_mediation", False):
            return handler
    kind = from_env(LOG_FORMAT_ENV, env)
    level = logging.getLevelName(from_env(LOG_LEVEL_ENV, env))
    handler = _StderrHandler()
    handler._mediation = True  # type: ignore[attr-defined]
    handler.setFormatter(make_formatter(kind))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    if root.level == logging.WARNING or root.level > level:  # Python's default, or stricter
        root.setLevel(level)
    # Werkzeug's own request lines would repeat ours without the request id.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return handler


def init_app(app: Flask) -> None:
    """Logging for this process, and a request id and an access line per request."""
    configure()

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        rid = g.get("request_id")
        if rid:
            response.headers["X-Request-ID"] = rid
            elapsed = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
            access_log.info("%s %s %s %.1fms", request.method, request.path, response.status_code,
                            elapsed)
        return response

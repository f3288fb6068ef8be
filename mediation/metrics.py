"""`/metrics` in the Prometheus text format (prometheus-client).

Per process, by design: a web process is one gunicorn worker (Socket.IO keeps its
sessions in one process's memory), so each process is scraped directly at its own port,
never through the load balancer. What each process reports:

- `mediation_http_requests_total{method,endpoint,status}` and
  `mediation_http_request_duration_seconds{method,endpoint}`: this process's requests
  (the endpoint is the URL rule, so ids do not multiply the series);
- `mediation_socketio_connections`: the Socket.IO connections this process holds;
- and, the same from every process because they are read from the shared stores at
  scrape time: `mediation_outbox_depth` and `mediation_outbox_oldest_age_seconds` (events
  committed and not yet published), `mediation_sweep_last_success_timestamp_seconds
  {sweep}` (kept in Redis by whichever process swept; in this process's memory in the
  embedded mode) and `mediation_celery_queue_length` (the broker's queue in Redis).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from mediation.about import version

log = logging.getLogger(__name__)

SWEEPS_KEY = "mediation:sweeps"  # Redis hash: sweep name -> unix time of its last success
CELERY_QUEUE = "celery"
# kombu's Redis transport keeps one list per priority step beside the plain queue.
_PRIORITY_SEP = "\x06\x16"

_local_sweeps: dict[str, float] = {}
_local_lock = threading.Lock()

# name -> fn(app) -> float | None: live gauges added by the packages built on `mediation`.
GaugeFn = Callable[[Flask], "float | None"]


def add_gauge(app: Flask, name: str, help_text: str, fn: GaugeFn) -> None:
    from mediation.registry import registry

    registry(app).gauges.register(name, (help_text, fn))


def sweep_succeeded(name: str, redis_url: str | None) -> None:
    """Record that a periodic sweep just finished; never fails the sweep itself."""
    now = time.time()
    with _local_lock:
        _local_sweeps[name] = now
    if redis_url:
        try:
            _redis(redis_url).hset(SWEEPS_KEY, name, f"{now:.3f}")
        except Exception as exc:  # the figure is late, the sweep is not failed for it
            log.warning("could not record the %s sweep's time in Redis: %s", name, exc)


_clients: dict[str, object] = {}


def _redis(url: str):
    import redis

    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return client


class _StateCollector:
    """The figures read at scrape time, in the app's context."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from mediation.extensions import db
        from mediation.timeline import EventOutbox

        app = self.app
        info = GaugeMetricFamily("mediation_build_info", "The running version", labels=["version"])
        info.add_metric([version()], 1)
        yield info
        with app.app_context():
            try:
                count, oldest = db.session.execute(
                    sa.select(sa.func.count(), sa.func.min(EventOutbox.created_at))).one()
            finally:
                db.session.remove()
        yield GaugeMetricFamily("mediation_outbox_depth",
                                "Events committed and not yet published", value=count)
        age = 0.0
        if oldest is not None:
            if oldest.tzinfo is None:  # SQLite hands back naive UTC
                import datetime as dt

                oldest = oldest.replace(tzinfo=dt.UTC)
            age = max(0.0, time.time() - oldest.timestamp())
        yield GaugeMetricFamily("mediation_outbox_oldest_age_seconds",
                                "Age of the oldest unpublished event (0 when none)", value=age)

        sweeps = GaugeMetricFamily("mediation_sweep_last_success_timestamp_seconds",
                                   "Unix time a periodic sweep last finished", labels=["sweep"])
        url = app.config.get("MEDIATION_REDIS_URL")
        last: dict[str, float] = {}
        with _local_lock:
            last.update(_local_sweeps)
        if url:
            try:
                for name, at in _redis(url).hgetall(SWEEPS_KEY).items():
                    last[name.decode()] = max(float(at), last.get(name.decode(), 0.0))
            except Exception as exc:
                log.warning("metrics: Redis did not answer for the sweep times: %s", exc)
        for name in sorted(last):
            sweeps.add_metric([name], last[name])
        yield sweeps

        if url:
            try:
                client = _redis(app.extensions["celery"].conf.broker_url)
                keys = [CELERY_QUEUE] + [f"{CELERY_QUEUE}{_PRIORITY_SEP}{p}" for p in (3, 6, 9)]
                pipe = client.pipeline()
                for key in keys:
                    pipe.llen(key)
                length = sum(pipe.execute())
                yield GaugeMetricFamily("mediation_celery_queue_length",
                                        "Tasks waiting in the Celery queue", value=length)
            except Exception as exc:
                log.warning("metrics: Redis did not answer for the Celery queue: %s", exc)

        from mediation.registry import registry

        for name, (help_text, fn) in registry(app).gauges.items():
            value = fn(app)
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value)


def init_app(app: Flask) -> None:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    requests_total = Counter("mediation_http_requests", "HTTP requests handled by this process",
                             ["method", "endpoint", "status"], registry=registry)
    latency = Histogram("mediation_http_request_duration_seconds",
                        "Time to answer an HTTP request, in this process", ["method", "endpoint"],
                        registry=registry)
    registry.register(_StateCollector(app))
    app.extensions["mediation.metrics"] = registry

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    # (method, endpoint, status) -> the two series' children: `labels()` checks and locks on
    # every call. As many entries as the metrics have series.
    children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    @app.after_request
    def _observe(response):
        started = g.get("metrics_started")
        if started is not None:
            method = request.method
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            key = (method, endpoint, response.status_code)
            pair = children.get(key)
            if pair is None:
                pair = children[key] = (requests_total.labels(method, endpoint, str(key[2])),
                                        latency.labels(method, endpoint))
            pair[0].inc()
            pair[1].observe(time.perf_counter() - started)
        return response

    app.add_url_rule("/metrics", "metrics", _metrics)


def _metrics() -> Response:
    registry = current_app.extensions["mediation.metrics"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

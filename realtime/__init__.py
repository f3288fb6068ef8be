"""Live delivery of the timeline over Socket.IO, and messaging.

`init_app` builds the app's Socket.IO server (threading mode with simple-websocket; with
`MEDIATION_REDIS_URL`, a Redis message queue joins it to the other web processes), plugs
the relay into the timeline's publisher hook, adds the messaging API, and starts
the queue listener when a process starts serving (HTTP and Socket.IO share one port:
the app's WSGI callable carries the Socket.IO middleware). Deployment on several processes: README.
"""

from __future__ import annotations

from flask import Flask
from flask_socketio import SocketIO

from mediation import settings
from mediation.events import declare
from mediation.extensions import api, csrf
from mediation.health import add_readiness_check
from mediation.metrics import add_gauge
from mediation.registry import registry
from mediation.server import add_serving_hook
from realtime import (
    events,
    messaging,
    models,  # noqa: F401 - the tables, for migrations and metadata
)
from realtime.packets import LivePacket
from realtime.queue import ListeningRedisManager, ensure_listening, listener_status
from realtime.stall import StallGuard

# Engine.IO heartbeat: a dead peer is noticed within ping_interval + ping_timeout.
PING_INTERVAL = 25
PING_TIMEOUT = 20


def init_app(app: Flask) -> None:
    from realtime import case_sections, eviction, relay, views
    from realtime.sockets import LiveNamespace

    url = app.config.get("MEDIATION_REDIS_URL")
    options: dict = {"async_mode": "threading", "ping_interval": PING_INTERVAL,
                     "ping_timeout": PING_TIMEOUT, "logger": False, "engineio_logger": False,
                     "serializer": LivePacket}
    if url:
        options["client_manager"] = ListeningRedisManager(url)
    socketio = SocketIO(app, **options)  # sets app.extensions["socketio"]
    # Outside Socket.IO's middleware: a client that stops reading is disconnected.
    app.wsgi_app = StallGuard(  # type: ignore[method-assign]
        app.wsgi_app, settings.get("MEDIATION_SOCKET_SEND_STALL_SECONDS", app))
    socketio.on_namespace(LiveNamespace("/"))
    eviction.init_app(app)  # live access ends when access ends

    declare(app, *events.ALL)
    reg = registry(app)
    messaging.register_channels(app)
    # A session room's chat, posted by `mediation.sessions.chat` (API or socket), counts
    # against the same per-user rate as every other channel.
    reg.post_checks.register("realtime.rate", messaging._check_rate)
    reg.publishers.register("realtime.relay", relay.publish)
    api.register_blueprint(views.blp)
    csrf.exempt(views.blp)
    case_sections.init_app(app)  # the case page's thread and internal notes
    add_serving_hook(app, "socketio-listener", lambda a: ensure_listening(a.extensions["socketio"].server))
    add_gauge(app, "mediation_socketio_connections", "Socket.IO connections held by this process",
              lambda a: float(len(a.extensions["socketio"].server.eio.sockets)))
    add_readiness_check(app, "socketio_listener",
                        lambda a: listener_status(a.extensions["socketio"].server))


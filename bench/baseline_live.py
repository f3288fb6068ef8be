"""The baseline for bench/live.py: a bare Flask-SocketIO app with the mediation app's async
mode and a Redis message queue, served the way `mediation serve` serves (gunicorn with the
app's settings), two processes of it sharing the queue.

    BENCH_REDIS_URL=redis://... BENCH_CHANNEL=... python bench/baseline_live.py --port P

POST /emit/<room> {"seq": n} emits `event` {"seq": n} to the room (through the queue, so a
client of the other process gets it); a client joins a room with the `join` event. Nothing
else: no database, no authentication, no timeline.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flask import Flask, request
from flask_socketio import SocketIO, join_room

# bench/ off sys.path: a bench script may shadow a project package (see baseline_app.py).
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _BENCH]


PING_INTERVAL, PING_TIMEOUT = 25, 20  # as realtime/__init__.py (not imported: a bare app)


def create_live_baseline(redis_url: str, channel: str) -> tuple[Flask, SocketIO]:
    app = Flask("bench_live_baseline")
    socketio = SocketIO(app, async_mode="threading", message_queue=redis_url, channel=channel,
                        ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
                        logger=False, engineio_logger=False)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/emit/<room>")
    def emit(room: str):
        seq = int(request.get_json()["seq"])
        socketio.emit("event", {"seq": seq}, to=room)
        return {"seq": seq}, 201

    @socketio.on("join")
    def join(data):
        join_room(str(data["room"]))
        return "ok"

    return app, socketio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app, _socketio = create_live_baseline(os.environ["BENCH_REDIS_URL"], os.environ["BENCH_CHANNEL"])
    # (its queue listener starts with the first connection; the bench warms up before it measures)
    sys.path.insert(0, str(_BENCH))
    from baseline_app import serve_with_gunicorn

    serve_with_gunicorn(app, args.host, args.port)


if __name__ == "__main__":
    main()

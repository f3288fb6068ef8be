"""The baseline for bench/intake.py: a bare Flask + Flask-SQLAlchemy app whose one POST
endpoint parses the JSON body and inserts one row, served the way `mediation serve` serves.

    BENCH_DATABASE_URL=postgresql+psycopg://... python bench/baseline_app.py --port P

"The same way" means through `mediation.server.run`, with the server callable the
mediation app registers in `app.extensions["mediation.server"]` (realtime's Socket.IO
serving, werkzeug `run_simple` threaded) and the same Flask-SocketIO middleware in front
of the app when the mediation app has one: the baseline asks a mediation app built from
the same environment what that is. Only the app differs: one route, one INSERT.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, abort, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

# Run as a script, bench/ is first on sys.path, where a bench/realtime.py would shadow the
# `realtime` package that the mediation app imports: keep bench/ off the path.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != _BENCH]

db = SQLAlchemy()


class Row(db.Model):
    __tablename__ = "bench_baseline_rows"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))


def create_baseline_app(database_url: str) -> Flask:
    app = Flask("bench_baseline")
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    db.init_app(app)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/rows")
    def insert_row():
        data = request.get_json()
        if not isinstance(data, dict) or not isinstance(data.get("title"), str):
            abort(400)
        row = Row(title=data["title"][:200], body=json.dumps(data, ensure_ascii=False),
                  created_at=dt.datetime.now(dt.UTC))
        db.session.add(row)
        db.session.flush()  # INSERT ... RETURNING id
        row_id = row.id
        db.session.commit()
        return {"id": row_id}, 201

    with app.app_context():
        Row.__table__.drop(db.engine, checkfirst=True)
        Row.__table__.create(db.engine)
    return app


def mediation_serving(database_url: str) -> tuple[object | None, str | None]:
    """How `mediation serve` serves: the server callable the mediation app registers in
    `app.extensions["mediation.server"]` (None: mediation.server's werkzeug default), and
    the async mode of its Socket.IO middleware (None: no Socket.IO). Built from the
    MEDIATION_* environment the bench gives both servers."""
    from mediation.app import create_app

    app = create_app({"MEDIATION_DATABASE_URL": database_url})
    socketio = app.extensions.get("socketio")
    return app.extensions.get("mediation.server"), getattr(socketio, "async_mode", None)


def describe_server(server, socketio_mode: str | None) -> str:
    text = "mediation.server.run → "
    if server is None:
        text += "werkzeug run_simple(threaded=True)"
    else:
        text += f"{getattr(server, '__module__', '?')}.{getattr(server, '__qualname__', server)}"
    if socketio_mode:
        text += f", WSGI wrapped by Flask-SocketIO ({socketio_mode} mode)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    database_url = os.environ["BENCH_DATABASE_URL"]

    from mediation import server as mediation_server_module
    from mediation import timeline

    app = create_baseline_app(database_url)
    server, socketio_mode = mediation_serving(database_url)
    if socketio_mode:
        # The same middleware in front of the app, so that the same server callable works.
        from flask_socketio import SocketIO

        SocketIO(app, async_mode=socketio_mode, logger=False, engineio_logger=False)
    if server is not None:
        app.extensions["mediation.server"] = server
    # mediation.server.run starts the embedded sweep loop beside the server; for the
    # baseline it has nothing to publish (no timeline), so its job is a no-op here.
    timeline.publish = lambda *a, **k: 0
    print(f"baseline served by {describe_server(server, socketio_mode)} on {args.host}:{args.port}",
          flush=True)
    mediation_server_module.run(app, args.host, args.port)


if __name__ == "__main__":
    main()

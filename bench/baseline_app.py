"""The baseline for bench/intake.py: a bare Flask + Flask-SQLAlchemy app whose one POST
endpoint parses the JSON body and inserts one row, served the way `mediation serve` serves.

    BENCH_DATABASE_URL=postgresql+psycopg://... python bench/baseline_app.py --port P

"The same way" means gunicorn with the app's gunicorn settings (mediation.gunicorn_conf:
one gthread worker) on PostgreSQL, Werkzeug's threaded server through
`mediation.server.run` on SQLite, and the same Flask-SocketIO middleware in front of the
app when the mediation app has one: the baseline asks a mediation app built from the same
environment. Only the app differs: one route, one INSERT.
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


_ROWS = Row.__table__
_BY_ID = sa.select(_ROWS.c.id, _ROWS.c.title).where(_ROWS.c.id == sa.bindparam("id"))
_NEAR = (sa.select(_ROWS.c.id, _ROWS.c.title)
         .where(_ROWS.c.id.between(sa.bindparam("lo"), sa.bindparam("hi")))
         .order_by(_ROWS.c.id.desc()).limit(5))
_INSERT = _ROWS.insert().returning(_ROWS.c.id)
_CLEAR = sa.delete(_ROWS).where(_ROWS.c.id == sa.bindparam("id"))


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

    @app.post("/floor")
    def floor():
        """The round trips an intake cannot do without, and nothing else: the token's
        lookup, the repeat check's lookup, the whole intake as if one INSERT, the commit,
        then the publication's clearing of its outbox rows and its commit. No validation,
        classification, encryption, hashing or answer beyond the bare one: the most an
        intake could reach with this stack (`bench/intake.py --floor`)."""
        data = request.get_json()
        if not isinstance(data, dict) or not isinstance(data.get("title"), str):
            abort(400)
        conn = db.session.connection()
        conn.execute(_BY_ID, {"id": 1}).first()  # the token's user, by a unique key
        conn.execute(_NEAR, {"lo": 1, "hi": 5}).all()  # the repeat check: a few rows by an index
        row_id = conn.execute(_INSERT, {"title": data["title"][:200],
                                        "body": json.dumps(data, ensure_ascii=False),
                                        "created_at": dt.datetime.now(dt.UTC)}).scalar_one()
        db.session.commit()
        db.session.connection().execute(_CLEAR, {"id": -row_id})  # the outbox row cleared
        db.session.commit()
        return {"id": row_id}, 201

    if not os.environ.get("BENCH_KEEP_TABLE"):  # a second process of the same run shares it
        with app.app_context():
            Row.__table__.drop(db.engine, checkfirst=True)
            Row.__table__.create(db.engine)
    return app


def mediation_serving(database_url: str) -> tuple[str, str | None]:
    """How `mediation serve` serves: "gunicorn" outside the embedded mode, else
    "werkzeug", and the async mode of its Socket.IO middleware (None: no Socket.IO).
    Built from the MEDIATION_* environment the bench gives both servers."""
    from mediation.app import create_app

    app = create_app({"MEDIATION_DATABASE_URL": database_url})
    socketio = app.extensions.get("socketio")
    kind = "werkzeug" if app.config["MEDIATION_EMBEDDED"] else "gunicorn"
    return kind, getattr(socketio, "async_mode", None)


def describe_server(server: str, socketio_mode: str | None) -> str:
    if server == "gunicorn":
        text = "gunicorn (mediation.gunicorn_conf: one gthread worker)"
    else:
        text = "mediation.server.run → werkzeug run_simple(threaded=True)"
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
    # mediation.server.run starts the embedded sweep loop beside the server; for the
    # baseline it has nothing to publish (no timeline), so its job is a no-op here.
    timeline.publish = lambda *a, **k: 0
    print(f"baseline served by {describe_server(server, socketio_mode)} on {args.host}:{args.port}",
          flush=True)
    if server == "werkzeug":
        from mediation import registry

        registry.init_app(app)  # mediation.server.run reads its hooks and jobs from it (none)
        mediation_server_module.run(app, args.host, args.port)
    else:  # outside the embedded mode `mediation serve` runs gunicorn with the app's settings
        serve_with_gunicorn(app, args.host, args.port)


def serve_with_gunicorn(app, host: str, port: int) -> None:
    from gunicorn.app.base import BaseApplication

    from mediation import gunicorn_conf

    class Baseline(BaseApplication):
        def load_config(self) -> None:
            for key in ("worker_class", "workers", "threads", "worker_connections", "graceful_timeout"):
                self.cfg.set(key, getattr(gunicorn_conf, key))
            self.cfg.set("bind", f"{host}:{port}")

        def load(self):
            return app

    Baseline().run()


if __name__ == "__main__":
    main()

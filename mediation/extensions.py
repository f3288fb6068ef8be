"""Extensions, created unbound here and bound to the app in `create_app`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

from mediation.api.base import MediationApi
from mediation.clock import as_utc

# Stable constraint names so that migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """A moment, stored in UTC and always read back aware, in UTC. SQLite keeps a datetime's
    digits and drops its offset, and hands back naive values: without this, a time would
    leave the API without its offset on SQLite, and one given in another zone would be
    stored as its wall-clock digits."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else as_utc(value)


# Objects keep their state after a commit: a command's result is shown from memory rather
# than reloaded row by row (each request has its own session, removed at its end).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate(directory=str(Path(__file__).parent / "migrations"), render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
api = MediationApi()

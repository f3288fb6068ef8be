"""Migrations: upgrading an empty database gives exactly the models' schema, on the suite's
database (SQLite or PostgreSQL); and the way down and up again works."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from mediation.extensions import db
from tests.conftest import DB_KIND, build_app, drop_pg_database, make_pg_database


@pytest.fixture
def fresh_app(tmp_path) -> Iterator:
    """An app on a new, empty database of the suite's kind, upgraded by build_app."""
    if DB_KIND == "postgresql":
        url = make_pg_database()
        try:
            app = build_app(url, tmp_path / "instance")
            yield app
            with app.app_context():
                db.engine.dispose()
        finally:
            drop_pg_database(url)
    else:
        app = build_app(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path / "instance")
        yield app
        with app.app_context():
            db.engine.dispose()


def schema_differences(app, metadata: sa.MetaData | None = None) -> list:
    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "compare_server_default": False})
        return compare_metadata(ctx, metadata if metadata is not None else db.metadata)


def test_upgrade_from_empty_gives_the_models_schema(fresh_app):
    assert schema_differences(fresh_app) == []
    with fresh_app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} | {"alembic_version"} == tables
        config = Config()
        config.set_main_option("script_location", fresh_app.extensions["migrate"].directory)
        script = ScriptDirectory.from_config(config)
        version = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        assert version == list(script.get_heads()) and len(version) == 1
        db.session.remove()


def test_the_comparison_sees_a_model_change_without_its_migration(fresh_app):
    changed = sa.MetaData()
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    sa.Table("cases", changed, sa.Column("priority", sa.Integer), extend_existing=True)
    diffs = schema_differences(fresh_app, changed)
    assert [(d[0], d[3].name) for d in diffs] == [("add_column", "priority")]


def test_downgrade_to_base_and_up_again(fresh_app):
    directory = fresh_app.extensions["migrate"].directory
    with fresh_app.app_context():
        downgrade(directory=directory, revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(directory=directory)
        db.engine.dispose()
    assert schema_differences(fresh_app) == []


def test_postgresql_upgrade_installs_the_append_only_trigger(pg):
    with db.engine.connect() as conn:
        names = conn.execute(sa.text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass "
            "AND NOT tgisinternal")).scalars().all()
    assert sorted(names) == ["events_append_only", "events_no_truncate"]

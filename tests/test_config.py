"""Configuration: safe embedded defaults, and a refusal to start anywhere else without
real keys."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from mediation import create_app, settings
from mediation.config import ConfigError
from tests.conftest import PG_SERVER

GOOD_SECRET = "a-good-secret-key-0123456789-abcdefghij"
GOOD_PII = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _no_mediation_env(monkeypatch):
    """Each test states its whole configuration; nothing leaks in from the environment."""
    import os

    for name in list(os.environ):
        if name.startswith("MEDIATION_") and not name.startswith("MEDIATION_TEST"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("settings", [
    {"MEDIATION_DATABASE_URL": PG_SERVER},
    {"MEDIATION_DATABASE_URL": "postgresql://postgres@127.0.0.1/x"},
    {"MEDIATION_REDIS_URL": "redis://127.0.0.1:6379/0"},  # SQLite, but with Redis
])
def test_outside_embedded_mode_keys_are_required(tmp_path, settings):
    for secret, pii, missing in ((None, GOOD_PII, "MEDIATION_SECRET_KEY"),
                                 ("short-secret", GOOD_PII, "MEDIATION_SECRET_KEY"),
                                 ("s" * 31, GOOD_PII, "MEDIATION_SECRET_KEY"),
                                 (GOOD_SECRET, None, "MEDIATION_PII_KEY"),
                                 (GOOD_SECRET, "", "MEDIATION_PII_KEY"),
                                 (GOOD_SECRET, " , ", "MEDIATION_PII_KEY"),
                                 (GOOD_SECRET, "not-a-fernet-key", "MEDIATION_PII_KEY")):
        with pytest.raises(ConfigError, match=missing):
            create_app({**settings, "MEDIATION_SECRET_KEY": secret, "MEDIATION_PII_KEY": pii,
                        "INSTANCE_PATH": str(tmp_path / "instance")})
    # nothing was generated for a deployment that must bring its own keys
    assert not (tmp_path / "instance" / "secret_key").exists()
    assert not (tmp_path / "instance" / "pii_key").exists()


def test_outside_embedded_mode_starts_with_real_keys(tmp_path):
    app = create_app({"MEDIATION_DATABASE_URL": "postgresql://postgres@127.0.0.1/x",
                      "MEDIATION_SECRET_KEY": GOOD_SECRET,
                      "MEDIATION_PII_KEY": f"{GOOD_PII}, {Fernet.generate_key().decode()}",
                      "INSTANCE_PATH": str(tmp_path)})
    assert app.config["SECRET_KEY"] == GOOD_SECRET
    assert app.config["MEDIATION_PII_KEYS"][0] == GOOD_PII and len(app.config["MEDIATION_PII_KEYS"]) == 2
    assert app.config["MEDIATION_EMBEDDED"] is False
    # plain postgresql:// is taken to mean the psycopg 3 driver we ship
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_the_environment_is_read_too(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIATION_DATABASE_URL", "postgresql://postgres@127.0.0.1/x")
    with pytest.raises(ConfigError):
        create_app({"INSTANCE_PATH": str(tmp_path)})
    monkeypatch.setenv("MEDIATION_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("MEDIATION_PII_KEY", GOOD_PII)
    assert create_app({"INSTANCE_PATH": str(tmp_path)}).config["MEDIATION_EMBEDDED"] is False


def test_the_cli_reports_a_configuration_error(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("mediation")
    env = {"PATH": "/usr/bin:/bin", "MEDIATION_DATABASE_URL": "postgresql://postgres@127.0.0.1/x",
           "MEDIATION_INSTANCE_PATH": str(tmp_path)}
    r = subprocess.run([str(script), "timeline", "verify"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert "MEDIATION_SECRET_KEY" in r.stderr


def test_embedded_default_generates_keys_once_in_the_instance_folder(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setenv("MEDIATION_INSTANCE_PATH", str(instance))
    first = create_app()
    assert first.config["MEDIATION_EMBEDDED"] is True
    assert first.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'mediation.db'}"
    secret = (instance / "secret_key").read_text().strip()
    pii = (instance / "pii_key").read_text().strip()
    assert len(secret) >= 32 and first.config["SECRET_KEY"] == secret
    Fernet(pii)  # a usable Fernet key
    assert first.config["MEDIATION_PII_KEYS"] == (pii,)
    checkpoint_key = (instance / "checkpoint_key").read_text().strip()
    assert len(checkpoint_key) >= 32 and first.config["MEDIATION_CHECKPOINT_KEY"] == checkpoint_key
    for name in ("secret_key", "pii_key", "checkpoint_key"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600
    second = create_app()
    assert second.config["MEDIATION_CHECKPOINT_KEY"] == checkpoint_key
    assert second.config["SECRET_KEY"] == secret
    assert second.config["MEDIATION_PII_KEYS"] == (pii,)


def test_embedded_mode_takes_given_keys_over_generated_ones(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "MEDIATION_SECRET_KEY": GOOD_SECRET,
                      "MEDIATION_PII_KEY": GOOD_PII})
    assert app.config["SECRET_KEY"] == GOOD_SECRET
    assert app.config["MEDIATION_PII_KEYS"] == (GOOD_PII,)
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "pii_key").exists()


def test_settings_load_directly(tmp_path):
    s = settings.load({}, tmp_path, {"MEDIATION_DATABASE_URL": "sqlite:///:memory:"})
    assert s["MEDIATION_EMBEDDED"] and s["MEDIATION_REDIS_URL"] is None
    s = settings.load({}, tmp_path, {"MEDIATION_DATABASE_URL": "sqlite:///:memory:",
                                     "MEDIATION_REDIS_URL": "redis://r:6379/0",
                                     "MEDIATION_SECRET_KEY": GOOD_SECRET,
                                     "MEDIATION_PII_KEY": GOOD_PII})
    assert not s["MEDIATION_EMBEDDED"] and s["MEDIATION_REDIS_URL"] == "redis://r:6379/0"


def test_clocks_are_configuration(tmp_path):
    clocks = settings.load({}, tmp_path, {"MEDIATION_CLOCK_HANDLING": "45",
                                          "MEDIATION_CLOCK_OWNER_PETITIONER_MEETING": "10"}
                           )["MEDIATION_CLOCKS"]
    assert clocks["handling"] == 45 and clocks["owner_petitioner_meeting"] == 10
    assert clocks["acceptance_decision"] == 15 and clocks["handling_extension_max"] == 30
    for bad in ("soon", "0", "-3"):
        with pytest.raises(ConfigError, match="MEDIATION_CLOCK_HANDLING"):
            settings.load({}, tmp_path, {"MEDIATION_CLOCK_HANDLING": bad})


def test_clock_configuration_reaches_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIATION_CLOCK_HANDLING_EXTENSION_MAX", "20")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["MEDIATION_CLOCKS"]["handling_extension_max"] == 20
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


@pytest.mark.postgres
def test_the_database_pool_is_sized_by_its_settings(tmp_path):
    """A process keeps MEDIATION_DB_POOL_SIZE connections for reuse and opens at most
    MEDIATION_DB_MAX_OVERFLOW more in a burst, closed when returned."""
    from mediation.extensions import db

    base = {"MEDIATION_DATABASE_URL": PG_SERVER, "MEDIATION_SECRET_KEY": GOOD_SECRET,
            "MEDIATION_PII_KEY": GOOD_PII}
    app = create_app({**base, "INSTANCE_PATH": str(tmp_path / "a")})
    with app.app_context():
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (10, 20)
    app = create_app({**base, "MEDIATION_DB_POOL_SIZE": "3", "MEDIATION_DB_MAX_OVERFLOW": "2",
                      "INSTANCE_PATH": str(tmp_path / "b")})
    with app.app_context():
        pool = db.engine.pool
        held = [db.engine.connect() for _ in range(5)]  # the pool's 3 and the 2 of the burst
        backends = {c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in held}
        assert len(backends) == 5 and pool.checkedout() == 5
        for c in held:
            c.close()
        assert pool.checkedin() == 3  # the burst's two closed, the pool's three kept
        again = [db.engine.connect() for _ in range(3)]
        assert {c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in again} < backends
        for c in again:
            c.close()
        db.engine.dispose()
    for bad in ("0", "many"):
        with pytest.raises(ConfigError, match="MEDIATION_DB_POOL_SIZE"):
            create_app({**base, "MEDIATION_DB_POOL_SIZE": bad, "INSTANCE_PATH": str(tmp_path / "c")})

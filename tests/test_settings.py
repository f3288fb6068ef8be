"""The settings table: every MEDIATION_* setting declared once, checked all at start, and
the README's configuration table generated from it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mediation import create_app, settings
from mediation.settings import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_mediation_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("MEDIATION_") and not name.startswith("MEDIATION_TEST"):
            monkeypatch.delenv(name)


def test_every_bad_value_is_named_in_one_error(tmp_path):
    env = {"MEDIATION_STALL_DAYS": "two weeks", "MEDIATION_REMINDER_HOUR": "24",
           "MEDIATION_REFERRAL_SWEEP_SECONDS": "-1", "MEDIATION_ROUTING_ON_INTAKE": "sometimes",
           "MEDIATION_TIMEZONE": "Mars/Olympus", "MEDIATION_MESSAGE_RATE": "lots",
           "MEDIATION_TOKEN_TTL_HOURS": "0"}
    with pytest.raises(ConfigurationError) as err:
        settings.load({}, tmp_path, env)
    assert sorted(e.split()[0] for e in err.value.errors) == sorted(env)
    assert "MEDIATION_STALL_DAYS must be a whole number, not 'two weeks'" in err.value.errors
    assert "MEDIATION_REMINDER_HOUR must be between 0 and 23, not 24" in err.value.errors
    assert "\n" not in str(err.value)
    # a broken configuration generates no keys into the instance folder
    assert not (tmp_path / "secret_key").exists()


def test_a_bad_value_stops_the_app_at_start_not_mid_request(tmp_path):
    # Supervision read this per request and raised ValueError in the middle of one.
    with pytest.raises(ConfigurationError, match="MEDIATION_DUE_SOON_DAYS"):
        create_app({"INSTANCE_PATH": str(tmp_path), "MEDIATION_DUE_SOON_DAYS": "x"})
    os.environ["MEDIATION_CESSATION_QUIET_DAYS"] = "0"
    try:
        with pytest.raises(ConfigurationError, match="MEDIATION_CESSATION_QUIET_DAYS must be"):
            create_app({"INSTANCE_PATH": str(tmp_path)})
    finally:
        del os.environ["MEDIATION_CESSATION_QUIET_DAYS"]


def test_create_app_config_takes_the_place_of_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIATION_STALL_DAYS", "21")
    monkeypatch.setenv("MEDIATION_ROUTING_ON_INTAKE", "auto")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "MEDIATION_STALL_DAYS": 30})
    assert app.config["MEDIATION_STALL_DAYS"] == 30  # given to create_app
    assert app.config["MEDIATION_ROUTING_ON_INTAKE"] == "auto"  # from the environment
    assert app.config["MEDIATION_TIMEZONE"] == "Asia/Shanghai"  # the default
    assert app.config["MEDIATION_REFERRAL_SWEEP_SECONDS"] == 60.0
    with app.app_context():
        assert settings.get("MEDIATION_STALL_DAYS") == 30
        del app.config["MEDIATION_STALL_DAYS"]
        assert settings.get("MEDIATION_STALL_DAYS") == 14
        with pytest.raises(KeyError):
            settings.get("MEDIATION_UNDECLARED")


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "must be a PostgreSQL or SQLite URL"),
    ("postgresql://u@h:port/db", "is not a database URL"),
    ("not a url", "is not a database URL"),
    ("sqlite:////no/such/folder/m.db", "folder that does not exist: /no/such/folder"),
])
def test_bad_database_urls(tmp_path, url, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        settings.load({"MEDIATION_DATABASE_URL": url}, tmp_path, {})


@pytest.mark.parametrize("url, message", [
    ("http://localhost:6379/0", "must be a redis://"),
    ("redis://localhost:63a9/0", "port that is not a number"),
    ("redis://localhost:6379/zero", "database number"),
    ("redis:///0", "names no host"),
])
def test_bad_redis_urls(tmp_path, url, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        settings.load({"MEDIATION_REDIS_URL": url}, tmp_path, {})


def test_every_number_setting_refuses_a_word(tmp_path):
    numeric = [s.name for s in settings.SETTINGS if isinstance(s.default, (int, float))]
    assert len(numeric) >= 20
    with pytest.raises(ConfigurationError) as err:
        settings.load({}, tmp_path, dict.fromkeys(numeric, "many"))
    assert sorted(e.split()[0] for e in err.value.errors) == sorted(numeric)


def test_the_environment_is_read_only_by_the_settings_module():
    offenders = []
    for package in ("mediation", "referrals", "realtime"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "settings.py" and path.parent.name == "mediation":
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"os\.environ|os\.getenv|getenv\(", text) and "migrations" not in path.parts:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_every_setting_named_in_the_code_is_declared():
    named = set()
    for package in ("mediation", "referrals", "realtime"):
        for path in (ROOT / package).rglob("*.py"):
            named |= set(re.findall(r'"(MEDIATION_[A-Z0-9_]+)"', path.read_text(encoding="utf-8")))
    derived = {"MEDIATION_CLOCKS", "MEDIATION_PII_KEYS", "MEDIATION_EMBEDDED"}
    assert named - derived - set(settings.DECLARED) == set()


def test_the_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings.replace_table(readme) == readme, "run `mediation settings doc --write README.md`"
    for setting in settings.SETTINGS:
        assert f"| `{setting.name}` |" in readme


def test_settings_doc_command_needs_no_working_configuration(tmp_path):
    script = Path(sys.executable).with_name("mediation")
    env = {"PATH": "/usr/bin:/bin", "MEDIATION_STALL_DAYS": "broken",
           "MEDIATION_INSTANCE_PATH": str(tmp_path)}
    r = subprocess.run([str(script), "settings", "doc"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == settings.markdown_table()
    copy = tmp_path / "README.md"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    copy.write_text(readme.replace("| `MEDIATION_STALL_DAYS` |", "| `MEDIATION_STALE_DAYS` |"),
                    encoding="utf-8")
    r = subprocess.run([str(script), "settings", "doc", "--write", str(copy)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert copy.read_text(encoding="utf-8") == readme

"""Fail fast and plainly: a configuration that cannot work ends every entry point — each
`mediation` command (so `serve`), gunicorn, the Celery worker and beat — with one line
`configuration error: …` on stderr and a non-zero status, never a traceback."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import click
import pytest
from cryptography.fernet import Fernet

from mediation import create_app

BIN = Path(sys.executable).parent
KEYS = {"MEDIATION_SECRET_KEY": secrets.token_urlsafe(48),
        "MEDIATION_PII_KEY": Fernet.generate_key().decode()}
# Nothing listens on port 1: "PostgreSQL down".
PG_DOWN = "postgresql://postgres@127.0.0.1:1/test"


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATION_")}
    env.update({"MEDIATION_INSTANCE_PATH": str(tmp_path / "instance"), **settings})
    return env


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _assert_one_line(r: subprocess.CompletedProcess, expected: str, *, alone: bool = True) -> None:
    assert r.returncode != 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("configuration error: ")]
    assert len(lines) == 1, r.stderr
    assert expected in lines[0]
    if alone:  # gunicorn adds its own lines ("App failed to load"); nothing else does
        assert r.stderr.strip() == lines[0]


def _cli_commands() -> list[list[str]]:
    """Every command of `mediation` (a group by its first subcommand: the app, and so the
    error, comes before the group's own parsing), plus Flask's own."""
    app = create_app({"MEDIATION_DATABASE_URL": "sqlite:///:memory:"})
    argvs = [["db", "upgrade"], ["shell"], ["routes"], ["run"]]
    for name, command in sorted(app.cli.commands.items()):
        if name == "db":
            continue
        if isinstance(command, click.Group):
            argvs.append([name, sorted(command.commands)[0]])
        else:
            argvs.append([name])
    return argvs


def test_every_cli_command_reports_a_bad_number_in_one_line(tmp_path):
    env = _env(tmp_path, MEDIATION_REMINDER_HOUR="eight")
    commands = _cli_commands()
    assert ["serve"] in commands and any(a[0] == "users" for a in commands) and len(commands) > 10
    for argv in commands:
        r = _run([str(BIN / "mediation"), *argv], env, tmp_path)
        assert r.returncode == 2, (argv, r.stderr)
        _assert_one_line(r, "MEDIATION_REMINDER_HOUR must be a whole number, not 'eight'")


def _entry_points(port: int) -> dict[str, list[str]]:
    return {
        "serve": [str(BIN / "mediation"), "serve", "--port", str(port)],
        "gunicorn": [str(BIN / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "mediation.wsgi:app"],
        "worker": [str(BIN / "celery"), "-A", "mediation.celery_worker", "worker", "--pool", "solo"],
        "beat": [str(BIN / "celery"), "-A", "mediation.celery_worker", "beat"],
    }


@pytest.mark.parametrize("settings, expected", [
    ({"MEDIATION_DATABASE_URL": "postgres//db.example/mediation"},
     "MEDIATION_DATABASE_URL is not a database URL"),
    ({"MEDIATION_DATABASE_URL": PG_DOWN, **KEYS},
     "cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:1/test"),
    ({"MEDIATION_DATABASE_URL": "sqlite:////nonexistent-folder/mediation.db"},
     "a folder that does not exist: /nonexistent-folder"),
    ({"MEDIATION_REDIS_URL": "redis://localhost:63o9/0", **KEYS},
     "MEDIATION_REDIS_URL has a port that is not a number"),
    ({"MEDIATION_REFERRAL_SWEEP_SECONDS": "1m"}, "MEDIATION_REFERRAL_SWEEP_SECONDS must be a number"),
], ids=["bad-database-url", "postgresql-down", "missing-sqlite-folder", "bad-redis-url", "bad-number"])
def test_every_entry_point_fails_fast_in_one_line(tmp_path, settings, expected):
    for name, argv in _entry_points(18700 + os.getpid() % 1000).items():
        r = _run(argv, _env(tmp_path, **settings), tmp_path)
        _assert_one_line(r, expected, alone=name != "gunicorn")
        if name == "gunicorn":  # the arbiter stops rather than booting the worker again
            assert r.returncode == 4 and "App failed to load" in r.stderr
        else:
            assert r.returncode == 2, r.stderr

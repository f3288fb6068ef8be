"""bench/profile_intake.py, the in-process intake profiler: it serves real intakes on a
fresh PostgreSQL database of its own, times the functions it is asked to, lists an intake's
statements, and drops its database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PG_SERVER

REPO = Path(__file__).resolve().parent.parent
ADMIN = PG_SERVER.replace("postgresql+psycopg://", "postgresql://", 1)  # libpq's form


def _profile_databases() -> int:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'bench_profile%'").fetchone()[0]


def _profile(*args: str) -> str:
    """The profiler's output with these arguments, on the test server (it must succeed)."""
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "profile_intake.py"), *args, "--pg-admin-url", ADMIN],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run.stdout


@pytest.mark.postgres
def test_the_profiler_times_named_functions_over_real_intakes_and_cleans_up():
    before = _profile_databases()
    out = _profile("--cases", "4", "--warmup", "2", "--phases",
                   "mediation.cases.petitions:find_candidates,mediation.timeline:append_batch",
                   "--statements")
    assert "CPU per intake:" in out and "(4 intakes after 2)" in out
    timed = {line.split()[0]: line.split()[1] for line in out.splitlines() if "per intake" in line
             and line.startswith("  ")}
    # one repeat check and one append of the first events per intake
    assert timed == {"mediation.cases.petitions:find_candidates": "1.0",
                     "mediation.timeline:append_batch": "1.0"}, out
    assert any(line.startswith("-- INSERT") or line.startswith("-- WITH") for line in out.splitlines())
    assert _profile_databases() == before


@pytest.mark.postgres
def test_the_profiler_measures_messages_posted_on_one_case():
    """--write message: bench/live.py's write (a message on one case's thread), timed the same way."""
    before = _profile_databases()
    out = _profile("--write", "message", "--cases", "3", "--warmup", "2",
                   "--phases", "mediation.permissions:require_case", "--statements")
    assert "CPU per message:" in out and "(3 messages after 2)" in out
    timed = {line.split()[0]: line.split()[1] for line in out.splitlines() if "per message" in line
             and line.startswith("  ")}
    assert timed == {"mediation.permissions:require_case": "1.0"}, out  # one case asked for per post
    statements = [line for line in out.splitlines() if line.startswith("-- ")]
    assert any("INSERT INTO events" in line for line in statements)
    assert any("read_markers" in line for line in statements)
    assert _profile_databases() == before

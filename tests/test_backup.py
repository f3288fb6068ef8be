"""The backup and restore of docs/operations.md, done as written: pg_dump of a database
with the demo's cases, piped into psql on a new database; the restored one passes
`mediation timeline verify` and `mediation reports check`, and its numbers open with the
saved PII key and with no other."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.conftest import PII_KEY, SECRET, drop_pg_database, make_pg_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
BIN = Path(sys.executable).parent


def libpq(url: str) -> str:
    """The URL pg_dump and psql take (no SQLAlchemy driver name)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def mediation(url: str, *args: str, pii_key: str = PII_KEY, tmp: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATION_")}
    env.update({"MEDIATION_DATABASE_URL": url, "MEDIATION_SECRET_KEY": SECRET,
                "MEDIATION_PII_KEY": pii_key, "MEDIATION_INSTANCE_PATH": str(tmp / "instance")})
    return subprocess.run([str(BIN / "mediation"), *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    source, target = make_pg_database(), make_pg_database()
    try:
        yield source, target
    finally:
        drop_pg_database(source)
        drop_pg_database(target)


def test_a_restored_database_verifies_and_its_numbers_open_with_the_saved_key(databases, tmp_path):
    source, target = databases
    loaded = mediation(source, "demo", "--no-serve", "--outside-embedded-mode", tmp=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    before = mediation(source, "timeline", "verify", tmp=tmp_path)
    assert before.returncode == 0 and "every chain intact" in before.stdout, before.stderr
    cases = before.stdout.split("ok: ")[1].split(" ")[0]
    assert int(cases) >= 6

    # The documented backup: a plain dump, restored into a new, empty database.
    dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", libpq(source)],
                          capture_output=True, timeout=300)
    assert dump.returncode == 0, dump.stderr.decode()
    restore = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", libpq(target)],
                             input=dump.stdout, capture_output=True, timeout=300)
    assert restore.returncode == 0, restore.stderr.decode()

    verified = mediation(target, "timeline", "verify", tmp=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert f"ok: {cases} case(s), every chain intact" in verified.stdout
    checked = mediation(target, "reports", "check", tmp=tmp_path)
    assert checked.returncode == 0 and "the rollup agrees with the base tables" in checked.stdout, (
        checked.stdout + checked.stderr)
    # The restored database is at the latest revision: an upgrade finds nothing to do.
    upgraded = mediation(target, "db", "upgrade", tmp=tmp_path)
    assert upgraded.returncode == 0 and "Running upgrade" not in upgraded.stdout + upgraded.stderr

    # Without the saved key the numbers are unreadable; with it they are re-encrypted fine.
    other = mediation(target, "pii", "rotate", pii_key=Fernet.generate_key().decode(), tmp=tmp_path)
    assert other.returncode != 0
    rotated = mediation(target, "pii", "rotate", tmp=tmp_path)
    assert rotated.returncode == 0 and "re-encrypted" in rotated.stdout, rotated.stderr
    assert int(rotated.stdout.split("re-encrypted ")[1].split(" ")[0]) > 0

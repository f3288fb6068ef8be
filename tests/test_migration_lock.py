"""Several processes starting at once against one new PostgreSQL database all come up:
migrations take an advisory lock, so one migrates while the others wait."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.conftest import SECRET, drop_pg_database, make_pg_database

MEDIATION = str(Path(sys.executable).with_name("mediation"))
LOCK_KEY = 1835361385  # mediation/migrations/env.py


@pytest.fixture
def fresh_pg(tmp_path):
    url = make_pg_database()
    env = dict(os.environ, MEDIATION_DATABASE_URL=url, MEDIATION_SECRET_KEY=SECRET,
               MEDIATION_PII_KEY=Fernet.generate_key().decode(),
               MEDIATION_INSTANCE_PATH=str(tmp_path))
    env.pop("MEDIATION_REDIS_URL", None)
    yield url, env
    drop_pg_database(url)


def _upgrade(env):
    return subprocess.Popen([MEDIATION, "db", "upgrade"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_upgrade_waits_for_the_migration_lock(fresh_pg):
    url, env = fresh_pg
    engine = sa.create_engine(url)
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        proc = _upgrade(env)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=8)  # it must still be waiting for the lock
        with engine.connect() as other:
            assert "events" not in sa.inspect(other).get_table_names()
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        holder.commit()
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    with engine.connect() as conn:
        assert "events" in sa.inspect(conn).get_table_names()
    engine.dispose()


def test_concurrent_upgrades_all_succeed(fresh_pg):
    url, env = fresh_pg
    procs = [_upgrade(env) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert len(conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()) == 1
    engine.dispose()

"""events: TRUNCATE refused too (a statement-level trigger beside the row-level one)

Revision ID: 0013_events_no_truncate
Revises: 0012_idempotency_keys
Create Date: 2026-11-29 23:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013_events_no_truncate'
down_revision = '0012_idempotency_keys'
branch_labels = None
depends_on = None


# TRUNCATE fires no row-level trigger: without this, `TRUNCATE events` emptied the
# append-only timeline. The function is 0001's (it raises, naming the operation). SQLite
# has no TRUNCATE, and no trigger there would stop whoever can write the file: the signed
# checkpoints (`mediation timeline checkpoint`) are what catch a shortened chain there.
def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
                   "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")

"""petitioners.change_xid: on PostgreSQL, the transaction that last wrote a petitioner row
(set by a trigger; a case moved to another region touches its petitioners), so the repeat
check's in-process copy of a county's names re-reads only what changed since it last looked

Revision ID: 0032_petitioner_change_xid
Revises: 0031_provider_change_xid
Create Date: 2026-11-30 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0032_petitioner_change_xid'
down_revision = '0031_provider_change_xid'
branch_labels = None
depends_on = None

PG_UP = """
CREATE OR REPLACE FUNCTION petitioners_stamp_change() RETURNS trigger AS $$
BEGIN
    NEW.change_xid := txid_current();
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER petitioners_stamp_change BEFORE INSERT OR UPDATE ON petitioners
    FOR EACH ROW EXECUTE FUNCTION petitioners_stamp_change();

CREATE OR REPLACE FUNCTION cases_region_touch_petitioners() RETURNS trigger AS $$
BEGIN
    UPDATE petitioners SET change_xid = 0 WHERE case_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER cases_region_touch_petitioners AFTER UPDATE OF region_code ON cases
    FOR EACH ROW WHEN (NEW.region_code IS DISTINCT FROM OLD.region_code)
    EXECUTE FUNCTION cases_region_touch_petitioners();
"""

PG_DOWN = """
DROP TRIGGER IF EXISTS cases_region_touch_petitioners ON cases;
DROP TRIGGER IF EXISTS petitioners_stamp_change ON petitioners;
DROP FUNCTION IF EXISTS cases_region_touch_petitioners();
DROP FUNCTION IF EXISTS petitioners_stamp_change();
"""


def upgrade():
    with op.batch_alter_table('petitioners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_xid', sa.BigInteger(), server_default='0',
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_petitioners_change_xid'), ['change_xid'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_UP)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DOWN)
    with op.batch_alter_table('petitioners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_petitioners_change_xid'))
        batch_op.drop_column('change_xid')

"""providers.change_xid: on PostgreSQL, the transaction that last changed a provider, its
regions or the answers to its referrals (set by triggers), so the routing's in-process
directory re-reads only what changed since it last looked

Revision ID: 0031_provider_change_xid
Revises: 0030_order_departments
Create Date: 2026-11-30 05:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0031_provider_change_xid'
down_revision = '0030_order_departments'
branch_labels = None
depends_on = None

# Every write of a provider row stamps it with the writer's transaction id (64-bit, never
# reused). A change of its regions, and a referral of it created, moved or accepted, touch
# the provider's row, which stamps it too; every other answer (declined, expired, withdrawn,
# completed) gives its place back in the same transaction, which writes the row anyway (and
# the sweep's bulk expiry takes no provider lock inside its UPDATE). Rows stamped below the
# oldest transaction still running when a reader's snapshot was taken were written by
# finished transactions: a reader has seen them once it has read everything stamped at or
# above its previous horizon. Rows deleted (never by the application) are counted in the
# sequence providers_deletions, and a TRUNCATE gives the table a new file: a reader that
# sees either change reads the whole directory again.
PG_UP = """
CREATE OR REPLACE FUNCTION providers_stamp_change() RETURNS trigger AS $$
BEGIN
    NEW.change_xid := txid_current();
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER providers_stamp_change BEFORE INSERT OR UPDATE ON providers
    FOR EACH ROW EXECUTE FUNCTION providers_stamp_change();

CREATE OR REPLACE FUNCTION providers_touch() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE providers SET change_xid = 0 WHERE id = OLD.provider_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.provider_id IS DISTINCT FROM OLD.provider_id) THEN
        UPDATE providers SET change_xid = 0 WHERE id = NEW.provider_id;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER provider_regions_touch_provider AFTER INSERT OR UPDATE OR DELETE ON provider_regions
    FOR EACH ROW EXECUTE FUNCTION providers_touch();
CREATE TRIGGER referrals_touch_provider AFTER INSERT OR DELETE ON referrals
    FOR EACH ROW EXECUTE FUNCTION providers_touch();
CREATE SEQUENCE providers_deletions;
CREATE OR REPLACE FUNCTION providers_count_deletion() RETURNS trigger AS $$
BEGIN
    PERFORM nextval('providers_deletions');
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER providers_count_deletion AFTER DELETE ON providers
    FOR EACH STATEMENT EXECUTE FUNCTION providers_count_deletion();
CREATE TRIGGER referrals_moved_or_accepted_touch_provider
    AFTER UPDATE OF provider_id, offered_at, status ON referrals FOR EACH ROW
    WHEN (NEW.provider_id IS DISTINCT FROM OLD.provider_id
          OR NEW.offered_at IS DISTINCT FROM OLD.offered_at
          OR (NEW.status = 'accepted' AND OLD.status IS DISTINCT FROM 'accepted'))
    EXECUTE FUNCTION providers_touch();
"""

PG_DOWN = """
DROP TRIGGER IF EXISTS referrals_moved_or_accepted_touch_provider ON referrals;
DROP TRIGGER IF EXISTS referrals_touch_provider ON referrals;
DROP TRIGGER IF EXISTS provider_regions_touch_provider ON provider_regions;
DROP TRIGGER IF EXISTS providers_count_deletion ON providers;
DROP TRIGGER IF EXISTS providers_stamp_change ON providers;
DROP FUNCTION IF EXISTS providers_touch();
DROP FUNCTION IF EXISTS providers_stamp_change();
DROP FUNCTION IF EXISTS providers_count_deletion();
DROP SEQUENCE IF EXISTS providers_deletions;
"""


def upgrade():
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_xid', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.create_index(batch_op.f('ix_providers_change_xid'), ['change_xid'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_UP)
        op.execute("UPDATE providers SET change_xid = 0")  # stamped by the trigger


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DOWN)
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_providers_change_xid'))
        batch_op.drop_column('change_xid')

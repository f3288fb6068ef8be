"""events: the index on case_id alone goes; the unique index on (case_id, seq) answers every
read by case (its first column), and each event written kept one more index entry for it

Revision ID: 0035_events_drop_case_id_index
Revises: 0034_referrals_case_id_status
Create Date: 2026-12-02 07:20:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0035_events_drop_case_id_index'
down_revision = '0034_referrals_case_id_status'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_case_id')


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_case_id', ['case_id'], unique=False)

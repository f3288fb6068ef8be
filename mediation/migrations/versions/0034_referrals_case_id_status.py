"""referrals: the index on case_id becomes one on (case_id, status), so a case's declined or
expired referrals (the history the ranking excludes) are read by the case whatever the
planner guesses of how many referrals have that status

Revision ID: 0034_referrals_case_id_status
Revises: 0033_notifications_user_newest
Create Date: 2026-12-01 05:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0034_referrals_case_id_status'
down_revision = '0033_notifications_user_newest'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_case_id_status', ['case_id', 'status'], unique=False)
        batch_op.drop_index('ix_referrals_case_id')


def downgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_case_id', ['case_id'], unique=False)
        batch_op.drop_index('ix_referrals_case_id_status')

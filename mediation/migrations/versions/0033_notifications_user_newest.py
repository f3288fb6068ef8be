"""notifications: an index on (user_id, id) for a user's list, newest first a page at a
time, read by index whatever the planner guesses of how many rows a user has

Revision ID: 0033_notifications_user_newest
Revises: 0032_petitioner_change_xid
Create Date: 2026-12-01 05:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0033_notifications_user_newest'
down_revision = '0032_petitioner_change_xid'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_newest', ['user_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_newest')

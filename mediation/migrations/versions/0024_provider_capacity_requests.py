"""provider capacity requests: a member asks for another capacity, an editor decides

Revision ID: 0024_provider_capacity_requests
Revises: 0023_oversight
Create Date: 2026-11-30 02:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0024_provider_capacity_requests'
down_revision = '0023_oversight'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_capacity', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('capacity_request_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('capacity_requested_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.drop_column('capacity_requested_at')
        batch_op.drop_column('capacity_request_note')
        batch_op.drop_column('requested_capacity')

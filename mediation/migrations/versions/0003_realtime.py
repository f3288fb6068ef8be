"""realtime: read markers, and an index for the per-user message rate limit

Revision ID: 0003_realtime
Revises: 0002_referrals
Create Date: 2026-11-29 03:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_realtime'
down_revision = '0002_referrals'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('read_markers',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_read_markers_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_read_markers_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'case_id', name=op.f('pk_read_markers'))
    )
    # A plain CREATE INDEX: no table rebuild, so the events' append-only trigger is untouched.
    op.create_index('ix_events_actor_id_at', 'events', ['actor_id', 'at'], unique=False)


def downgrade():
    op.drop_index('ix_events_actor_id_at', table_name='events')
    op.drop_table('read_markers')

"""presence: who has a session room open (one row per socket connection in a room)

Revision ID: 0006_presence
Revises: 0005_supervision
Create Date: 2026-11-29 05:35:41.491615

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_presence'
down_revision = '0005_supervision'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('session_presence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['mediation_sessions.id'], name=op.f('fk_session_presence_session_id_mediation_sessions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_session_presence_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_presence')),
    sa.UniqueConstraint('session_id', 'sid', name='uq_session_presence_session_sid')
    )
    with op.batch_alter_table('session_presence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_presence_seen_at'), ['seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_session_presence_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_session_presence_sid'), ['sid'], unique=False)



def downgrade():
    with op.batch_alter_table('session_presence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_presence_sid'))
        batch_op.drop_index(batch_op.f('ix_session_presence_session_id'))
        batch_op.drop_index(batch_op.f('ix_session_presence_seen_at'))

    op.drop_table('session_presence')

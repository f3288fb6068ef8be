"""pii search audit: every search by number (who, why, how many), security alerts, and the
throttle's fixed windows (when there is no Redis)

Revision ID: 0010_pii_search_audit
Revises: 0009_signature_accounts
Create Date: 2026-11-29 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_pii_search_audit'
down_revision = '0009_signature_accounts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pii_searches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('results', sa.Integer(), nullable=True),
    sa.Column('refused', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pii_searches_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pii_searches'))
    )
    with op.batch_alter_table('pii_searches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pii_searches_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pii_searches_user_id'), ['user_id'], unique=False)

    op.create_table('security_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_security_alerts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_alerts'))
    )
    with op.batch_alter_table('security_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_alerts_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_alerts_user_id'), ['user_id'], unique=False)

    op.create_table('throttle_windows',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_throttle_windows'))
    )


def downgrade():
    op.drop_table('throttle_windows')
    with op.batch_alter_table('security_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_alerts_user_id'))
        batch_op.drop_index(batch_op.f('ix_security_alerts_at'))
    op.drop_table('security_alerts')
    with op.batch_alter_table('pii_searches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pii_searches_user_id'))
        batch_op.drop_index(batch_op.f('ix_pii_searches_at'))
    op.drop_table('pii_searches')

"""session generation: a number per user that the pages' session cookie must carry, so
that logging out ends the sessions signed in before

Revision ID: 0011_session_generation
Revises: 0010_pii_search_audit
Create Date: 2026-11-29 22:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_session_generation'
down_revision = '0010_pii_search_audit'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_generation')

"""query codes: a petitioner's code for the public query page (only its hash)

Revision ID: 0021_query_codes
Revises: 0020_kpi_deltas
Create Date: 2026-11-30 00:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0021_query_codes'
down_revision = '0020_kpi_deltas'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('query_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('petitioner_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consented_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_query_codes_case_id_cases')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_query_codes_issued_by_id_users')),
    sa.ForeignKeyConstraint(['petitioner_id'], ['petitioners.id'],
                            name=op.f('fk_query_codes_petitioner_id_petitioners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_query_codes_code_hash'))
    )
    with op.batch_alter_table('query_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_query_codes_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_query_codes_petitioner_id'), ['petitioner_id'], unique=False)


def downgrade():
    with op.batch_alter_table('query_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_query_codes_petitioner_id'))
        batch_op.drop_index(batch_op.f('ix_query_codes_case_id'))
    op.drop_table('query_codes')

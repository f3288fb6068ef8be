"""agreement numbers: each final agreement's kind, issuer and document number (文号),
numbered per issuer per year

Revision ID: 0027_agreement_numbers
Revises: 0026_party_channels
Create Date: 2026-11-30 02:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0027_agreement_numbers'
down_revision = '0026_party_channels'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agreement_numbers',
    sa.Column('issuer_key', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('issuer_key', 'year', name=op.f('pk_agreement_numbers'))
    )
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('issuer', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('document_no', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_column('document_no')
        batch_op.drop_column('issuer')
        batch_op.drop_column('kind')
    op.drop_table('agreement_numbers')

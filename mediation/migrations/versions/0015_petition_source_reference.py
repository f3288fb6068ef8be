"""petitions: the ledger reference a repeat petition was imported under

Revision ID: 0015_petition_source_reference
Revises: 0014_repeat_petitions
Create Date: 2026-11-30 00:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015_petition_source_reference'
down_revision = '0014_repeat_petitions'
branch_labels = None
depends_on = None


# A ledger row taken as a repeat petition makes no case: its reference is kept on the
# petition, so that importing the same file again skips the row instead of adding it twice.
def upgrade():
    with op.batch_alter_table("petitions") as batch:
        batch.add_column(sa.Column("source_reference", sa.String(32), nullable=True))
        batch.create_index("ix_petitions_source_reference", ["source_reference"], unique=True)


def downgrade():
    with op.batch_alter_table("petitions") as batch:
        batch.drop_index("ix_petitions_source_reference")
        batch.drop_column("source_reference")

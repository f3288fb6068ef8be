"""signature accounts: one account signs for one signer of an agreement at most

Revision ID: 0009_signature_accounts
Revises: 0008_kpi_rollup
Create Date: 2026-11-29 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_signature_accounts'
down_revision = '0008_kpi_rollup'
branch_labels = None
depends_on = None


def upgrade():
    # On an agreement where one account already signed twice, someone stood in for
    # another signer: that needs a decision by people, not a silent fix here.
    doubled = op.get_bind().execute(sa.text(
        "SELECT agreement_id FROM agreement_signatures WHERE user_id IS NOT NULL "
        "GROUP BY agreement_id, user_id HAVING COUNT(*) > 1")).scalars().all()
    if doubled:
        raise RuntimeError(
            "one account signed for several signers of agreements "
            f"{sorted(set(doubled))}; those signatures prove nothing: remove them by hand "
            "(after recording why) and have the parties sign again, then upgrade")
    op.create_index('uq_agreement_signatures_account', 'agreement_signatures',
                    ['agreement_id', 'user_id'], unique=True)


def downgrade():
    op.drop_index('uq_agreement_signatures_account', table_name='agreement_signatures')

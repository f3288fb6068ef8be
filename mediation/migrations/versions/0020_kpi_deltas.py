"""kpi_deltas: the writes' changes to the KPI rollup, appended and folded in the background

Revision ID: 0020_kpi_deltas
Revises: 0019_notification_deliveries
Create Date: 2026-11-30 00:05:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020_kpi_deltas'
down_revision = '0019_notification_deliveries'
branch_labels = None
depends_on = None

METRICS = ("cases", "resolved", "reasonable", "reasonable_resolved", "ceased", "answers", "satisfied")


# Writers append here instead of updating the hot kpi_rollup rows; the fold moves them over.
def upgrade():
    op.create_table('kpi_deltas',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('dim', sa.String(length=4), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    *(sa.Column(m, sa.Integer(), nullable=False) for m in METRICS),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kpi_deltas'))
    )


def downgrade():
    keys = "grain, day, dim, region_code, department"
    cols = ", ".join(METRICS)
    op.execute(f"""
        INSERT INTO kpi_rollup ({keys}, {cols})
        SELECT {keys}, {", ".join(f"SUM({m})" for m in METRICS)} FROM kpi_deltas WHERE 1 = 1 GROUP BY {keys}
        ON CONFLICT ({keys}) DO UPDATE SET {", ".join(f"{m} = kpi_rollup.{m} + excluded.{m}" for m in METRICS)}""")
    op.drop_table('kpi_deltas')

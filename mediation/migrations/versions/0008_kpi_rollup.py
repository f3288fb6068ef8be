"""kpi rollup: each case's KPI steps and their sums per day, month, region and department,
an index on the events that date a case's state, and the rollup built for existing rows

Revision ID: 0008_kpi_rollup
Revises: 0007_reminders
Create Date: 2026-11-29 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_kpi_rollup'
down_revision = '0007_reminders'
branch_labels = None
depends_on = None

METRICS = ("cases", "resolved", "reasonable", "reasonable_resolved", "ceased", "answers", "satisfied")
TIMELINE_TYPES = ("case.resolved", "case.closed", "case.reopened", "case.petitioning_ceased",
                  "case.petitioning_resumed")


def _metrics():
    return [sa.Column(m, sa.Integer(), nullable=False) for m in METRICS]


def upgrade():
    op.create_table('kpi_case_steps',
    sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    *_metrics(),
    sa.PrimaryKeyConstraint('case_id', 'day', name=op.f('pk_kpi_case_steps'))
    )
    op.create_table('kpi_rollup',
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('dim', sa.String(length=4), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    *_metrics(),
    sa.PrimaryKeyConstraint('grain', 'day', 'dim', 'region_code', 'department', name=op.f('pk_kpi_rollup'))
    )
    where = sa.column('type').in_(TIMELINE_TYPES)
    op.create_index('ix_events_kpi_dated', 'events', ['case_id', 'type', 'seq', 'at'], unique=False,
                    postgresql_where=where, sqlite_where=where)
    # Existing rows: the same SQL derivation as `mediation reports rebuild`.
    from mediation.supervision.rollup import rebuild

    rebuild(op.get_bind())


def downgrade():
    op.drop_index('ix_events_kpi_dated', table_name='events')
    op.drop_table('kpi_rollup')
    op.drop_table('kpi_case_steps')

"""action listing: 纳入专项行动 by an explicit decision with its date; concluded cases have no
running statutory clock

Revision ID: 0029_action_listing
Revises: 0028_saved_views
Create Date: 2026-11-30 02:10:00.000000

Existing rows (decided here, documented in mediation/supervision/README.md):
- a case with a category (category_mask <> 0) was in the action as the ledger held it: it
  stays in, listed on its acceptance day (else its registration day), never later than the
  day the row was entered (Beijing day); an uncategorised case is not in the action until
  an officer lists it with a reason;
- a resolved or closed case's statutory clocks have ended: its next_deadline_on is cleared
  (one definition of overdue, mediation/cases/rules.py);
- the KPI rollup is derived again from the base tables (by env.py after this revision:
  KPI_ROLLUP_REBUILT_AFTER).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0029_action_listing'
down_revision = '0028_saved_views'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('action_listed_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('action_reason', sa.Text(), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_cases_action_listed_on'), ['action_listed_on'], unique=False)
    with op.batch_alter_table('kpi_case_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('increment', sa.Boolean(), nullable=False, server_default=sa.false()))

    conn = op.get_bind()
    if conn.dialect.name == 'postgresql':
        entered = "CAST(timezone('Asia/Shanghai', created_at) AS DATE)"
        listed = f"LEAST(COALESCE(accepted_on, received_on, {entered}), {entered})"
    else:
        entered = "date(created_at, '+8 hours')"
        listed = f"min(COALESCE(accepted_on, received_on, {entered}), {entered})"
    op.execute(f"UPDATE cases SET action_listed_on = {listed} WHERE category_mask <> 0")
    op.execute("UPDATE cases SET next_deadline_on = NULL WHERE status IN ('resolved', 'closed')")
    # The KPI rollup is then derived again from the base tables by env.py, in this same
    # transaction (KPI_ROLLUP_REBUILT_AFTER): a migration imports no application code.


def downgrade():
    # The increment's rows go; the figures need `mediation reports rebuild` by the old code.
    op.execute("DELETE FROM kpi_rollup WHERE dim IN ('newc', 'newd')")
    op.execute("DELETE FROM kpi_deltas WHERE dim IN ('newc', 'newd')")
    with op.batch_alter_table('kpi_case_steps', schema=None) as batch_op:
        batch_op.drop_column('increment')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_action_listed_on'))
        batch_op.drop_column('action_reason')
        batch_op.drop_column('action_listed_on')

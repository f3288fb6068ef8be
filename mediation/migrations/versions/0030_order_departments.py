"""supervision orders to departments: an order on an overdue hand-over is addressed to the
department (department_id) rather than to a person; handover_id becomes a foreign key

Revision ID: 0030_order_departments
Revises: 0029_action_listing
Create Date: 2026-11-30 02:25:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0030_order_departments'
down_revision = '0029_action_listing'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('supervision_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department_id', sa.Integer(), nullable=True))
        batch_op.alter_column('addressee_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_supervision_orders_department_id'), ['department_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_supervision_orders_department_id_departments'),
                                    'departments', ['department_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_supervision_orders_handover_id_handovers'),
                                    'handovers', ['handover_id'], ['id'])


def downgrade():
    with op.batch_alter_table('supervision_orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_supervision_orders_handover_id_handovers'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_supervision_orders_department_id_departments'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_supervision_orders_department_id'))
        batch_op.alter_column('addressee_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('department_id')

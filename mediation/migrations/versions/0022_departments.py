"""departments (责任单位), their users, hand-overs (交办) and replies (办理回复)

Revision ID: 0022_departments
Revises: 0021_query_codes
Create Date: 2026-11-30 02:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0022_departments'
down_revision = '0021_query_codes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('region_code', 'name', name=op.f('uq_departments_region_code'))
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_departments_region_code'), ['region_code'], unique=False)

    op.create_table('department_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                            name=op.f('fk_department_members_department_id_departments')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_department_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_department_members')),
    sa.UniqueConstraint('user_id', name=op.f('uq_department_members_user_id'))
    )
    with op.batch_alter_table('department_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_members_department_id'), ['department_id'],
                              unique=False)

    op.create_table('handovers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('matter', sa.String(length=200), nullable=False),
    sa.Column('ask', sa.Text(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('rounds', sa.Integer(), nullable=False),
    sa.Column('return_reason', sa.Text(), nullable=False),
    sa.Column('withdraw_reason', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_handovers_case_id_cases')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                            name=op.f('fk_handovers_department_id_departments')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_handovers_created_by_id_users')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'],
                            name=op.f('fk_handovers_acknowledged_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handovers'))
    )
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handovers_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_handovers_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_handovers_status'), ['status'], unique=False)

    op.create_table('handover_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handover_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('replied_by_id', sa.Integer(), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['handover_id'], ['handovers.id'],
                            name=op.f('fk_handover_replies_handover_id_handovers')),
    sa.ForeignKeyConstraint(['replied_by_id'], ['users.id'],
                            name=op.f('fk_handover_replies_replied_by_id_users')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'],
                            name=op.f('fk_handover_replies_decided_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handover_replies'))
    )
    with op.batch_alter_table('handover_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handover_replies_handover_id'), ['handover_id'], unique=False)


def downgrade():
    with op.batch_alter_table('handover_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handover_replies_handover_id'))
    op.drop_table('handover_replies')
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handovers_status'))
        batch_op.drop_index(batch_op.f('ix_handovers_department_id'))
        batch_op.drop_index(batch_op.f('ix_handovers_case_id'))
    op.drop_table('handovers')
    with op.batch_alter_table('department_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_members_department_id'))
    op.drop_table('department_members')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_departments_region_code'))
    op.drop_table('departments')

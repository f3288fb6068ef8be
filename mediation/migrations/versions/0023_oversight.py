"""oversight: responsible people per region, task forces, supervision orders, warning
talks and accountability records

Revision ID: 0023_oversight
Revises: 0022_departments
Create Date: 2026-11-30 02:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023_oversight'
down_revision = '0022_departments'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('region_responsibles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('named_by_id', sa.Integer(), nullable=True),
    sa.Column('named_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['named_by_id'], ['users.id'], name=op.f('fk_region_responsibles_named_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_region_responsibles_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_region_responsibles')),
    sa.UniqueConstraint('region_code', 'kind', name='uq_region_responsibles_region_kind')
    )
    with op.batch_alter_table('region_responsibles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_responsibles_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_region_responsibles_user_id'), ['user_id'], unique=False)

    op.create_table('task_force_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_task_force_members_added_by_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_task_force_members_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_task_force_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_force_members')),
    sa.UniqueConstraint('case_id', 'user_id', name='uq_task_force_members_case_user')
    )
    with op.batch_alter_table('task_force_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_force_members_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_force_members_user_id'), ['user_id'], unique=False)

    op.create_table('supervision_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=12), nullable=False),
    sa.Column('handover_id', sa.Integer(), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('addressee_id', sa.Integer(), nullable=False),
    sa.Column('addressee_capacity', sa.String(length=12), nullable=False),
    sa.Column('requirement', sa.Text(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answered_on', sa.Date(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['addressee_id'], ['users.id'], name=op.f('fk_supervision_orders_addressee_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_supervision_orders_case_id_cases')),
    sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_supervision_orders_issued_by_id_users')),
    sa.ForeignKeyConstraint(['parent_id'], ['supervision_orders.id'],
                            name=op.f('fk_supervision_orders_parent_id_supervision_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_orders'))
    )
    with op.batch_alter_table('supervision_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_orders_addressee_id'), ['addressee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_orders_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_orders_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_orders_handover_id'), ['handover_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_orders_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_orders_state'), ['state'], unique=False)

    op.create_table('accountability_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject_kind', sa.String(length=12), nullable=False),
    sa.Column('subject_user_id', sa.Integer(), nullable=True),
    sa.Column('department', sa.String(length=100), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                            name=op.f('fk_accountability_records_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['subject_user_id'], ['users.id'],
                            name=op.f('fk_accountability_records_subject_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accountability_records'))
    )
    with op.batch_alter_table('accountability_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accountability_records_decided_on'), ['decided_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_accountability_records_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_accountability_records_subject_user_id'), ['subject_user_id'],
                              unique=False)

    op.create_table('accountability_cases',
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_accountability_cases_case_id_cases')),
    sa.ForeignKeyConstraint(['record_id'], ['accountability_records.id'],
                            name=op.f('fk_accountability_cases_record_id_accountability_records')),
    sa.PrimaryKeyConstraint('record_id', 'case_id', name=op.f('pk_accountability_cases'))
    )
    with op.batch_alter_table('accountability_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accountability_cases_case_id'), ['case_id'], unique=False)


def downgrade():
    with op.batch_alter_table('accountability_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accountability_cases_case_id'))
    op.drop_table('accountability_cases')
    with op.batch_alter_table('accountability_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accountability_records_subject_user_id'))
        batch_op.drop_index(batch_op.f('ix_accountability_records_region_code'))
        batch_op.drop_index(batch_op.f('ix_accountability_records_decided_on'))
    op.drop_table('accountability_records')
    with op.batch_alter_table('supervision_orders', schema=None) as batch_op:
        for name in ('state', 'region_code', 'handover_id', 'due_on', 'case_id', 'addressee_id'):
            batch_op.drop_index(batch_op.f(f'ix_supervision_orders_{name}'))
    op.drop_table('supervision_orders')
    with op.batch_alter_table('task_force_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_force_members_user_id'))
        batch_op.drop_index(batch_op.f('ix_task_force_members_case_id'))
    op.drop_table('task_force_members')
    with op.batch_alter_table('region_responsibles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_region_responsibles_user_id'))
        batch_op.drop_index(batch_op.f('ix_region_responsibles_region_code'))
    op.drop_table('region_responsibles')

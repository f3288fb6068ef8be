"""sessions: follow-up visits (回访), scheduled after an agreement or a resolution

Revision ID: 0018_followup_visits
Revises: 0017_documents
Create Date: 2026-11-30 00:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0018_followup_visits'
down_revision = '0017_documents'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'followup_visits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('basis', sa.String(40), nullable=False),
        sa.Column('agreement_id', sa.Integer(), nullable=True),
        sa.Column('offset_days', sa.Integer(), nullable=True),
        sa.Column('due_on', sa.Date(), nullable=True),
        sa.Column('visited_on', sa.Date(), nullable=True),
        sa.Column('method', sa.String(16), nullable=True),
        sa.Column('visited_whom', sa.String(200), nullable=True),
        sa.Column('findings', sa.Text(), nullable=True),
        sa.Column('honoured', sa.String(16), nullable=True),
        sa.Column('satisfaction', sa.Integer(), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('satisfaction IS NULL OR (satisfaction BETWEEN 1 AND 5)',
                           name=op.f('ck_followup_visits_satisfaction_1_to_5')),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_followup_visits_case_id_cases')),
        sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'],
                                name=op.f('fk_followup_visits_agreement_id_agreements')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                                name=op.f('fk_followup_visits_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_followup_visits')),
        sa.UniqueConstraint('case_id', 'basis', 'offset_days', name='uq_followup_visits_schedule'),
    )
    with op.batch_alter_table('followup_visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_followup_visits_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_followup_visits_due_on'), ['due_on'], unique=False)


def downgrade():
    with op.batch_alter_table('followup_visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followup_visits_due_on'))
        batch_op.drop_index(batch_op.f('ix_followup_visits_case_id'))
    op.drop_table('followup_visits')

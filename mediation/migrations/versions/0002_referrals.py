"""referrals: provider directory, routing needs, referrals, opinions, counselling notes, support records

Revision ID: 0002_referrals
Revises: 0001_foundation
Create Date: 2026-11-29 02:55:10.374916

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_referrals'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('mediation_type', sa.String(length=20), nullable=True),
    sa.Column('specialities', sa.JSON(), nullable=False),
    sa.Column('conflicts', sa.JSON(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('load', sa.Integer(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('away_until', sa.Date(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('last_offered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_providers_capacity_not_negative')),
    sa.CheckConstraint('load >= 0', name=op.f('ck_providers_load_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_providers'))
    )
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_providers_kind'), ['kind'], unique=False)

    op.create_table('provider_members',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_provider_members_provider_id_providers')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_provider_members_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_provider_members'))
    )
    with op.batch_alter_table('provider_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_members_provider_id'), ['provider_id'], unique=False)

    op.create_table('provider_regions',
    sa.Column('region_prefix', sa.String(length=6), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_provider_regions_provider_id_providers')),
    sa.PrimaryKeyConstraint('region_prefix', 'provider_id', name=op.f('pk_provider_regions'))
    )
    with op.batch_alter_table('provider_regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_regions_provider_id'), ['provider_id'], unique=False)

    op.create_table('routing_needs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('need', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('failed_offers', sa.Integer(), nullable=False),
    sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_routing_needs_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_needs')),
    sa.UniqueConstraint('case_id', 'need', name='uq_routing_needs_case_need')
    )
    with op.batch_alter_table('routing_needs', schema=None) as batch_op:
        batch_op.create_index('ix_routing_needs_state_waiting_since', ['state', 'waiting_since'], unique=False)

    op.create_table('referrals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('routing_need_id', sa.Integer(), nullable=False),
    sa.Column('need', sa.String(length=32), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('live_key', sa.String(length=48), nullable=True),
    sa.Column('offered_by_id', sa.Integer(), nullable=True),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('respond_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decline_reason', sa.String(length=32), nullable=True),
    sa.Column('decline_note', sa.Text(), nullable=True),
    sa.Column('withdraw_reason', sa.Text(), nullable=True),
    sa.Column('withdrawn_by_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('outcome_note', sa.Text(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_referrals_case_id_cases')),
    sa.ForeignKeyConstraint(['offered_by_id'], ['users.id'], name=op.f('fk_referrals_offered_by_id_users')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_referrals_provider_id_providers')),
    sa.ForeignKeyConstraint(['routing_need_id'], ['routing_needs.id'], name=op.f('fk_referrals_routing_need_id_routing_needs')),
    sa.ForeignKeyConstraint(['withdrawn_by_id'], ['users.id'], name=op.f('fk_referrals_withdrawn_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('live_key', name=op.f('uq_referrals_live_key'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_referrals_provider_id_offered_at', ['provider_id', 'offered_at'], unique=False)
        batch_op.create_index('ix_referrals_provider_id_status', ['provider_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_routing_need_id'), ['routing_need_id'], unique=False)
        batch_op.create_index('ix_referrals_status_respond_by', ['status', 'respond_by'], unique=False)

    op.create_table('counselling_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('session_on', sa.Date(), nullable=False),
    sa.Column('risk_level', sa.String(length=10), nullable=False),
    sa.Column('content_enc', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_counselling_notes_author_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_counselling_notes_case_id_cases')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_counselling_notes_provider_id_providers')),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], name=op.f('fk_counselling_notes_referral_id_referrals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counselling_notes'))
    )
    with op.batch_alter_table('counselling_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counselling_notes_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counselling_notes_referral_id'), ['referral_id'], unique=False)

    op.create_table('legal_opinions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.JSON(), nullable=False),
    sa.Column('recommendation', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_legal_opinions_author_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_legal_opinions_case_id_cases')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_legal_opinions_provider_id_providers')),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], name=op.f('fk_legal_opinions_referral_id_referrals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_opinions'))
    )
    with op.batch_alter_table('legal_opinions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legal_opinions_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_legal_opinions_referral_id'), ['referral_id'], unique=False)

    op.create_table('support_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('given_on', sa.Date(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_support_records_author_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_support_records_case_id_cases')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_support_records_provider_id_providers')),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], name=op.f('fk_support_records_referral_id_referrals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_records'))
    )
    with op.batch_alter_table('support_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_records_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_records_referral_id'), ['referral_id'], unique=False)



def downgrade():
    with op.batch_alter_table('support_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_records_referral_id'))
        batch_op.drop_index(batch_op.f('ix_support_records_case_id'))

    op.drop_table('support_records')
    with op.batch_alter_table('legal_opinions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_legal_opinions_referral_id'))
        batch_op.drop_index(batch_op.f('ix_legal_opinions_case_id'))

    op.drop_table('legal_opinions')
    with op.batch_alter_table('counselling_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counselling_notes_referral_id'))
        batch_op.drop_index(batch_op.f('ix_counselling_notes_case_id'))

    op.drop_table('counselling_notes')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_status_respond_by')
        batch_op.drop_index(batch_op.f('ix_referrals_routing_need_id'))
        batch_op.drop_index('ix_referrals_provider_id_status')
        batch_op.drop_index('ix_referrals_provider_id_offered_at')
        batch_op.drop_index(batch_op.f('ix_referrals_case_id'))

    op.drop_table('referrals')
    with op.batch_alter_table('routing_needs', schema=None) as batch_op:
        batch_op.drop_index('ix_routing_needs_state_waiting_since')

    op.drop_table('routing_needs')
    with op.batch_alter_table('provider_regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_regions_provider_id'))

    op.drop_table('provider_regions')
    with op.batch_alter_table('provider_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_members_provider_id'))

    op.drop_table('provider_members')
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_providers_kind'))

    op.drop_table('providers')

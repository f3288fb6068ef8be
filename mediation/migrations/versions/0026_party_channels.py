"""party channels: respondents (被申请人) with their own query codes, parties' consents
(on the query page, or recorded by an officer from paper), and delivery rows for messages
to parties without an account (receipt and survey SMS)

Revision ID: 0026_party_channels
Revises: 0024_provider_capacity_requests
Create Date: 2026-11-30 02:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0026_party_channels'
down_revision = '0024_provider_capacity_requests'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_respondents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('unit', sa.String(length=200), nullable=False),
    sa.Column('phone_enc', sa.Text(), nullable=True),
    sa.Column('phone_tail', sa.String(length=4), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_respondents_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                            name=op.f('fk_case_respondents_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_respondents'))
    )
    with op.batch_alter_table('case_respondents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_respondents_case_id'), ['case_id'], unique=False)
    op.create_table('party_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('petitioner_id', sa.Integer(), nullable=True),
    sa.Column('respondent_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('given_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_party_consents_case_id_cases')),
    sa.ForeignKeyConstraint(['petitioner_id'], ['petitioners.id'],
                            name=op.f('fk_party_consents_petitioner_id_petitioners')),
    sa.ForeignKeyConstraint(['respondent_id'], ['case_respondents.id'],
                            name=op.f('fk_party_consents_respondent_id_case_respondents')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                            name=op.f('fk_party_consents_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_party_consents')),
    sa.UniqueConstraint('petitioner_id', name=op.f('uq_party_consents_petitioner_id')),
    sa.UniqueConstraint('respondent_id', name=op.f('uq_party_consents_respondent_id'))
    )
    with op.batch_alter_table('party_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_party_consents_case_id'), ['case_id'], unique=False)
    with op.batch_alter_table('query_codes', schema=None) as batch_op:
        batch_op.alter_column('petitioner_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('respondent_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_query_codes_respondent_id'), ['respondent_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_query_codes_respondent_id_case_respondents'),
                                    'case_respondents', ['respondent_id'], ['id'])
    # Consents given on the query page before this table: one row each, as they were (the
    # day in Beijing time, the service's day).
    import datetime as dt
    from zoneinfo import ZoneInfo

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT case_id, petitioner_id, MIN(consented_at) FROM query_codes "
                                "WHERE consented_at IS NOT NULL GROUP BY case_id, petitioner_id")).all()
    for case_id, petitioner_id, at in rows:
        if isinstance(at, str):
            at = dt.datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        conn.execute(sa.text(
            "INSERT INTO party_consents (case_id, petitioner_id, method, given_on, note, recorded_at) "
            "VALUES (:c, :p, 'query_page', :d, '', :at)"),
            {"c": case_id, "p": petitioner_id, "d": at.astimezone(ZoneInfo("Asia/Shanghai")).date(),
             "at": at})
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.alter_column('notification_id',
                              existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                              nullable=True)
        batch_op.add_column(sa.Column('case_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('template', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('subject', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('party', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('message_cipher', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_notification_deliveries_case_id_cases'),
                                    'cases', ['case_id'], ['id'])
        batch_op.create_unique_constraint('uq_notification_deliveries_party',
                                          ['subject', 'party', 'channel'])


def downgrade():
    op.execute(sa.text("DELETE FROM notification_deliveries WHERE notification_id IS NULL"))
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notification_deliveries_party', type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_notification_deliveries_case_id_cases'), type_='foreignkey')
        batch_op.drop_column('message_cipher')
        batch_op.drop_column('party')
        batch_op.drop_column('subject')
        batch_op.drop_column('template')
        batch_op.drop_column('case_id')
        batch_op.alter_column('notification_id',
                              existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                              nullable=False)
    op.execute(sa.text("DELETE FROM query_codes WHERE respondent_id IS NOT NULL"))
    with op.batch_alter_table('query_codes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_query_codes_respondent_id_case_respondents'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_query_codes_respondent_id'))
        batch_op.drop_column('respondent_id')
        batch_op.alter_column('petitioner_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('party_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_party_consents_case_id'))
    op.drop_table('party_consents')
    with op.batch_alter_table('case_respondents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_respondents_case_id'))
    op.drop_table('case_respondents')

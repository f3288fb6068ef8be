"""petitions (件次/人次, channel, level, 越级访), case links, merged cases

Revision ID: 0014_repeat_petitions
Revises: 0013_events_no_truncate
Create Date: 2026-11-30 00:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014_repeat_petitions'
down_revision = '0013_events_no_truncate'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "petitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("head_count", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("skip_level", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_petitions_case_id_cases"),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["users.id"],
                                name="fk_petitions_recorded_by_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_petitions"),
    )
    op.create_index("ix_petitions_case_id", "petitions", ["case_id"])
    op.create_index("ix_petitions_received_on", "petitions", ["received_on"])
    op.create_table(
        "case_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_links_case_id_cases"),
        sa.ForeignKeyConstraint(["other_id"], ["cases.id"], name="fk_case_links_other_id_cases"),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"], name="fk_case_links_by_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_case_links"),
        sa.UniqueConstraint("case_id", "other_id", "kind", name="uq_case_links_case_id"),
    )
    op.create_index("ix_case_links_case_id", "case_links", ["case_id"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("petition_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("person_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_cases_merged_into_id_cases", "cases", ["merged_into_id"], ["id"])
        batch.create_index("ix_cases_merged_into_id", ["merged_into_id"])


def downgrade():
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_merged_into_id")
        batch.drop_constraint("fk_cases_merged_into_id_cases", type_="foreignkey")
        batch.drop_column("merged_into_id")
        batch.drop_column("person_count")
        batch.drop_column("petition_count")
    op.drop_table("case_links")
    op.drop_table("petitions")

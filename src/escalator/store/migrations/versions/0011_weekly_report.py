"""The weekly report: each case's topic words, kept from its note, and one row per week sent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Cases raised before this have no topics kept: the report counts them by their trigger words.
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("topics", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "weekly_reports",
        sa.Column("week", sa.Date(), primary_key=True),
        sa.Column("started_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("weekly_reports")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("topics")

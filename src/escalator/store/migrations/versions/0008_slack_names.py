"""The Slack IDs of the names a policy uses (`#billing`, `@alex`), for starting while Slack is away.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_names",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("slack_id", sa.String(40), nullable=False),
        sa.Column("resolved_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slack_names")

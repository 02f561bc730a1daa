"""Privacy: when a case's personal details were erased, and which Slack message each delivery posted.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("escalations", sa.Column("personal_data_removed_at", UtcDateTime()))
    op.add_column("outbox", sa.Column("posted_channel", sa.String(32)))
    op.add_column("outbox", sa.Column("posted_ts", sa.String(32)))
    op.create_index("ix_outbox_escalation_id", "outbox", ["escalation_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_escalation_id", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("posted_ts")
        batch.drop_column("posted_channel")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("personal_data_removed_at")

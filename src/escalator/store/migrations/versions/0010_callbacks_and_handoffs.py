"""Promised callbacks (when, how, made or missed) and handoffs (each case's count, and who held the
case when each handoff was made).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("escalations", sa.Column("callback_at", UtcDateTime()))
    op.add_column("escalations", sa.Column("callback_via", sa.String(16)))
    op.add_column("escalations", sa.Column("callback_done_at", UtcDateTime()))
    op.add_column("escalations", sa.Column("callback_done_by", sa.String(32)))
    op.add_column("escalations", sa.Column("callback_missed_at", UtcDateTime()))
    op.add_column("escalations", sa.Column("handoffs", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_escalations_callback_missed_at", "escalations", ["callback_missed_at"])
    op.add_column("escalation_events", sa.Column("from_path", sa.String(50)))
    # The handoffs made before this upgrade, counted from the history (where their path is unknown).
    op.execute(
        "UPDATE escalations SET handoffs = (SELECT count(*) FROM escalation_events "
        "WHERE escalation_events.escalation_id = escalations.id "
        "AND escalation_events.action IN ('reassign', 'move'))"
    )


def downgrade() -> None:
    with op.batch_alter_table("escalation_events") as batch:
        batch.drop_column("from_path")
    op.drop_index("ix_escalations_callback_missed_at", "escalations")
    with op.batch_alter_table("escalations") as batch:
        for column in (
            "handoffs",
            "callback_missed_at",
            "callback_done_by",
            "callback_done_at",
            "callback_via",
            "callback_at",
        ):
            batch.drop_column(column)

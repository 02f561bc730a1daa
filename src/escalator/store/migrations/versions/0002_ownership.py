"""Ownership: owner and lifecycle columns, the audit trail, and requests already handled.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("approval", sa.String(16), nullable=False, server_default="not_needed"))
        batch.add_column(sa.Column("approval_by", sa.String(32)))
        batch.add_column(sa.Column("owner_user_id", sa.String(32)))
        batch.add_column(sa.Column("claimed_at", UtcDateTime()))
        batch.add_column(sa.Column("first_update_at", UtcDateTime()))
        batch.add_column(sa.Column("resolved_at", UtcDateTime()))
        batch.add_column(sa.Column("closed_at", UtcDateTime()))
        batch.add_column(sa.Column("handback_done", sa.Text()))
        batch.add_column(sa.Column("handback_for_customer", sa.Text()))
        batch.add_column(sa.Column("csat", sa.Integer()))
        batch.add_column(sa.Column("cancel_reason", sa.Text()))
        batch.add_column(sa.Column("conversation_channel_id", sa.String(32)))
    with op.batch_alter_table("escalations") as batch:
        batch.alter_column("approval", server_default=None)

    op.create_table(
        "escalation_events",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor_user_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("target", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_events"),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name="fk_escalation_events_escalation_id_escalations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_escalation_events_escalation_id_id", "escalation_events", ["escalation_id", "id"])

    op.create_table(
        "handled_requests",
        sa.Column("key", sa.String(255)),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_handled_requests"),
    )


def downgrade() -> None:
    op.drop_table("handled_requests")
    op.drop_table("escalation_events")
    with op.batch_alter_table("escalations") as batch:
        for column in (
            "conversation_channel_id",
            "cancel_reason",
            "csat",
            "handback_for_customer",
            "handback_done",
            "closed_at",
            "resolved_at",
            "first_update_at",
            "claimed_at",
            "owner_user_id",
            "approval_by",
            "approval",
        ):
            batch.drop_column(column)

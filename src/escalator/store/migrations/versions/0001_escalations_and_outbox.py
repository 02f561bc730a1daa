"""Escalations and the outbox of messages to Slack.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import DecimalText, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("raised_at", UtcDateTime(), nullable=False),
        sa.Column("team_id", sa.String(32)),
        sa.Column("agent_user_id", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("source_channel_id", sa.String(32)),
        sa.Column("source_message_ts", sa.String(32)),
        sa.Column("customer_name", sa.String(150), nullable=False),
        sa.Column("account_number", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("steps_taken", sa.Text(), nullable=False),
        sa.Column("desired_outcome", sa.Text(), nullable=False),
        sa.Column("customer_tone", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Text()),
        sa.Column("deadline_at", UtcDateTime()),
        sa.Column("customer_consent", sa.Boolean(), nullable=False),
        sa.Column("refund_amount", DecimalText()),
        sa.Column("path_key", sa.String(50), nullable=False),
        sa.Column("escalation_type", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("trigger_words", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("routed_channel_id", sa.String(32), nullable=False),
        sa.Column("after_hours", sa.Boolean(), nullable=False),
        sa.Column("acknowledge_by", UtcDateTime(), nullable=False),
        sa.Column("first_update_by", UtcDateTime(), nullable=False),
        sa.Column("resolve_by", UtcDateTime(), nullable=False),
        sa.Column("card_channel_id", sa.String(32)),
        sa.Column("card_ts", sa.String(32)),
        sa.Column("delivery_problem", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_escalations"),
        sa.UniqueConstraint("idempotency_key", name="uq_escalations_idempotency_key"),
    )
    op.create_index("ix_escalations_state_raised_at", "escalations", ["state", "raised_at"])
    op.create_index("ix_escalations_card_channel_id_card_ts", "escalations", ["card_channel_id", "card_ts"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("escalation_id", sa.Integer()),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(255)),
        sa.Column("delivered_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name="fk_outbox_escalation_id_escalations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_outbox_status_due_at", "outbox", ["status", "due_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("escalations")

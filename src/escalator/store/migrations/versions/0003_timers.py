"""Timers: durable reminders and SLA clocks, mutes, and when each target was breached.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("acknowledge_breached_at", UtcDateTime()))
        batch.add_column(sa.Column("first_update_breached_at", UtcDateTime()))
        batch.add_column(sa.Column("resolve_breached_at", UtcDateTime()))

    op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("fired_at", UtcDateTime()),
        sa.Column("last_error", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name="fk_timers_escalation_id_escalations",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_timers_status_due_at", "timers", ["status", "due_at"])
    op.create_index("ix_timers_escalation_id_kind", "timers", ["escalation_id", "kind"])

    op.create_table(
        "mutes",
        sa.Column("escalation_id", sa.Integer()),
        sa.Column("user_id", sa.String(32)),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("escalation_id", "user_id", name="pk_mutes"),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name="fk_mutes_escalation_id_escalations",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("mutes")
    op.drop_table("timers")
    with op.batch_alter_table("escalations") as batch:
        for column in ("resolve_breached_at", "first_update_breached_at", "acknowledge_breached_at"):
            batch.drop_column(column)

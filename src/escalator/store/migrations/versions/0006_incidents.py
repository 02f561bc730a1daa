"""Incidents: declared incidents, suggested ones, and which escalations belong to them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("declared_at", UtcDateTime(), nullable=False),
        sa.Column("declared_by", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.Column("path_key", sa.String(50)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.Text()),
        sa.Column("customer_line", sa.Text()),
        sa.Column("resolved_at", UtcDateTime()),
        sa.Column("resolved_by", sa.String(32)),
        sa.Column("card_channel_id", sa.String(32)),
        sa.Column("card_ts", sa.String(32)),
        sa.Column("card_rendered_at", UtcDateTime()),
        sa.Column("card_update_waiting", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_state", "incidents", ["state"])
    op.create_index("ix_incidents_declared_at", "incidents", ["declared_at"])
    op.create_table(
        "incident_suggestions",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.Column("path_key", sa.String(50), nullable=False),
        sa.Column("first_raised_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("incident_id", sa.Integer()),
        sa.Column("posts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_suggestions"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_incident_suggestions_incident_id_incidents"
        ),
    )
    op.create_index(
        "ix_incident_suggestions_path_key_created_at", "incident_suggestions", ["path_key", "created_at"]
    )
    # Plain columns, added in place: a foreign key would make SQLite copy the whole table, and dropping
    # the old copy fails while timers, history and outbox rows point at its cases. Incidents and
    # suggestions are never deleted, so nothing can dangle.
    op.add_column("escalations", sa.Column("incident_id", sa.Integer()))
    op.add_column("escalations", sa.Column("suggestion_id", sa.Integer()))
    op.create_index("ix_escalations_incident_id", "escalations", ["incident_id"])
    op.create_index("ix_escalations_path_key_raised_at", "escalations", ["path_key", "raised_at"])


def downgrade() -> None:
    op.drop_index("ix_escalations_path_key_raised_at", "escalations")
    op.drop_index("ix_escalations_incident_id", "escalations")
    op.drop_column("escalations", "suggestion_id")
    op.drop_column("escalations", "incident_id")
    op.drop_table("incident_suggestions")
    op.drop_table("incidents")

"""The authority chain and key accounts: the step a refund waits for and why it is asked; a key
account's tier and the priority the agent chose before the tier raised it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("refund_reason", sa.Text()))
        batch.add_column(sa.Column("approval_level", sa.Integer()))
        batch.add_column(sa.Column("key_account_tier", sa.String(50)))
        batch.add_column(sa.Column("requested_priority", sa.String(2)))
    # Refunds waiting from before the chain wait for the supervisors, as they did.
    op.execute("UPDATE escalations SET approval_level = 1 WHERE approval = 'pending'")


def downgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("requested_priority")
        batch.drop_column("key_account_tier")
        batch.drop_column("approval_level")
        batch.drop_column("refund_reason")

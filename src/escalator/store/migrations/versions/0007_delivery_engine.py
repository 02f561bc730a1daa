"""The delivery engine: outbox lanes, urgency and pace keys; shared rate limits; dead messages; card
versions; delivery processes' heartbeats.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from escalator.store.types import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The rules of escalator.domain.messages as they stood when this migration was written, for the messages
# still waiting at the upgrade.
_EDITS = "('update_card', 'retire_card', 'erase_message', 'update_incident_card', 'update_suggestion')"
_VIEWS = (
    "('update_card', 'thread_note', 'retire_card', 'post_digest', 'post_digest_chart', "
    "'update_incident_card', 'incident_note', 'update_suggestion')"
)
_BACKGROUND = "('publish_home', 'erase_message')"
_CARDS = "('post_card', 'post_incident_card')"
_TO_AGENT = "('tell_agent_next_steps', 'tell_agent_owner', 'hand_back', 'incident_joined')"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("outbox", sa.Column("lane", sa.String(80), nullable=False, server_default=""))
    op.add_column("outbox", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("outbox", sa.Column("pace_key", sa.String(80), nullable=False, server_default=""))
    op.add_column("outbox", sa.Column("doubt", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("escalations", sa.Column("card_version", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_outbox_pending_lane",
        "outbox",
        ["lane", "id"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.Column("tolerance", sa.Float(), nullable=False),
        sa.Column("paused_until", sa.Float(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_rate_limits"),
    )
    op.create_table(
        "delivery_processes",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_delivery_processes"),
    )
    op.execute("UPDATE outbox SET status = 'dead' WHERE status = 'failed'")
    # The card's fallback to the supervisors is now part of posting the card.
    op.execute("UPDATE outbox SET kind = 'post_card' WHERE kind = 'alert_supervisors'")
    # Every message gets its lane, urgency and pace key (a dead one may be retried; a delivered digest
    # is found in its lane by its chart), in SQL, so that `escalator migrate --sql` prints it too.
    field = _json_field(op.get_context().dialect.name)
    lanes = [
        ("('publish_home')", f"'home:' || {field('user')}"),
        ("('post_incident_card', 'incident_note')", f"'incident:' || {field('incident')}"),
        ("('update_incident_card')", f"'incident:' || {field('incident')} || ':' || 'card'"),
        ("('incident_update_for_agent')", f"'incident:' || {field('incident')} || ':' || {field('user')}"),
        ("('incident_suggestion', 'update_suggestion')", f"'suggestion:' || {field('suggestion')}"),
        ("('post_digest', 'post_digest_chart')", f"'digest:' || {field('day')}"),
    ]
    for kinds, lane in lanes:
        op.execute(f"UPDATE outbox SET lane = {lane} WHERE kind IN {kinds}")
    op.execute(
        "UPDATE outbox SET lane = 'case:' || escalation_id WHERE lane = '' AND escalation_id IS NOT NULL"
    )
    op.execute("UPDATE outbox SET lane = 'message:' || id WHERE lane = ''")
    op.execute(
        f"UPDATE outbox SET priority = CASE WHEN kind IN {_BACKGROUND} THEN 3 WHEN kind IN {_VIEWS} THEN 2 "
        f"WHEN kind IN {_CARDS} THEN 0 ELSE 1 END"
    )
    case_column = "(SELECT {} FROM escalations e WHERE e.id = outbox.escalation_id)"
    paced = [
        (_EDITS, "'edit'"),
        ("('publish_home')", "'home'"),
        ("('post_digest_chart')", "'upload'"),
        (_TO_AGENT, "'post:' || " + case_column.format("agent_user_id")),
        ("('timer_notice', 'incident_suggestion')", f"'post:' || {field('to')}"),
        ("('incident_update_for_agent')", f"'post:' || {field('user')}"),
    ]
    for kinds, key in paced:
        op.execute(f"UPDATE outbox SET pace_key = {key} WHERE kind IN {kinds}")
    op.execute(
        "UPDATE outbox SET pace_key = 'post:' || "
        + case_column.format("COALESCE(e.card_channel_id, e.routed_channel_id)")
        + " WHERE pace_key = '' AND escalation_id IS NOT NULL"
    )
    op.execute("UPDATE outbox SET pace_key = 'post:unknown' WHERE pace_key = ''")
    # The version before knew no doubt: a message tried before may have reached Slack. Look first.
    op.execute("UPDATE outbox SET doubt = (attempts > 0 OR lease_until IS NOT NULL) WHERE status = 'pending'")


def _json_field(dialect: str):  # type: ignore[no-untyped-def]
    if dialect == "postgresql":
        return lambda name: f"(payload ->> '{name}')"
    return lambda name: f"json_extract(payload, '$.{name}')"


def downgrade() -> None:
    connection = op.get_bind()
    connection.execute(sa.text("UPDATE outbox SET status = 'failed' WHERE status IN ('dead', 'dropped')"))
    op.drop_table("delivery_processes")
    op.drop_table("rate_limits")
    op.drop_index("ix_outbox_pending_lane", "outbox")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("card_version")
    with op.batch_alter_table("outbox") as batch:
        for column in ("doubt", "pace_key", "priority", "lane", "failures"):
            batch.drop_column(column)

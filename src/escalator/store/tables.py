"""The schema, and the mapping of the domain's plain classes onto it.

Migrations in migrations/versions/ create these tables; this module only describes them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.orm import registry

from escalator.domain.escalation import Approval, CallbackVia, Escalation, EscalationType, Origin, State
from escalator.domain.history import HistoryEntry
from escalator.domain.incidents import Incident, IncidentState, IncidentSuggestion, SuggestionState
from escalator.policy import Priority
from escalator.store.types import DecimalText, UtcDateTime, enum_column_type

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

escalations = Table(
    "escalations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("team_id", String(32)),
    Column("agent_user_id", String(32), nullable=False),
    Column("origin", enum_column_type(Origin), nullable=False),
    # One escalation per submitted form, however often Slack or a double click delivers it.
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("source_channel_id", String(32)),
    Column("source_message_ts", String(32)),
    Column("customer_name", String(150), nullable=False),
    Column("account_number", String(64), nullable=False),
    Column("summary", Text, nullable=False),
    Column("steps_taken", Text, nullable=False),
    Column("desired_outcome", Text, nullable=False),
    Column("customer_tone", Text, nullable=False),
    Column("deadline", Text),
    Column("deadline_at", UtcDateTime),
    Column("customer_consent", Boolean, nullable=False),
    Column("refund_amount", DecimalText),
    Column("refund_reason", Text),
    Column("path_key", String(50), nullable=False),
    Column("escalation_type", enum_column_type(EscalationType), nullable=False),
    Column("priority", enum_column_type(Priority, length=2), nullable=False),
    Column("trigger_words", JSON, nullable=False),
    Column("topics", JSON, nullable=False, server_default="[]"),
    Column("approval", enum_column_type(Approval), nullable=False),
    Column("approval_by", String(32)),
    # The step of the authority chain the refund waits for (1: the supervisors; 2…: authority.levels).
    Column("approval_level", Integer),
    Column("key_account_tier", String(50)),
    Column("requested_priority", enum_column_type(Priority, length=2)),
    Column("state", enum_column_type(State), nullable=False),
    Column("owner_user_id", String(32)),
    Column("claimed_at", UtcDateTime),
    Column("first_update_at", UtcDateTime),
    Column("resolved_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("handback_done", Text),
    Column("handback_for_customer", Text),
    Column("csat", Integer),
    Column("cancel_reason", Text),
    Column("acknowledge_breached_at", UtcDateTime),
    Column("first_update_breached_at", UtcDateTime),
    Column("resolve_breached_at", UtcDateTime),
    Column("conversation_channel_id", String(32)),
    Column("routed_channel_id", String(32), nullable=False),
    Column("after_hours", Boolean, nullable=False),
    Column("acknowledge_by", UtcDateTime, nullable=False),
    Column("first_update_by", UtcDateTime, nullable=False),
    Column("resolve_by", UtcDateTime, nullable=False),
    Column("card_channel_id", String(32)),
    Column("card_ts", String(32)),
    Column("card_version", Integer, nullable=False, server_default="0"),
    Column("delivery_problem", String(64)),
    Column("personal_data_removed_at", UtcDateTime),
    # Part of an incident: no card of its own; the incident's card speaks for it. (No foreign keys: see
    # migration 0006; incidents and suggestions are never deleted.)
    Column("incident_id", Integer),
    # In a cluster suggested as an incident (so it is suggested once).
    Column("suggestion_id", Integer),
    # A callback promised on the form: when and how; made (or the loop closed), or missed.
    Column("callback_at", UtcDateTime),
    Column("callback_via", enum_column_type(CallbackVia)),
    Column("callback_done_at", UtcDateTime),
    Column("callback_done_by", String(32)),
    Column("callback_missed_at", UtcDateTime),
    Column("handoffs", Integer, nullable=False, server_default="0"),  # reassignments and moves
    Index(None, "state", "raised_at"),
    Index(None, "card_channel_id", "card_ts"),
    # What the digest and exports aggregate by.
    Index(None, "raised_at"),
    Index(None, "claimed_at"),
    Index(None, "resolved_at"),
    Index(None, "closed_at"),
    Index(None, "account_number", "raised_at"),
    Index(None, "incident_id"),
    Index(None, "path_key", "raised_at"),
    Index(None, "callback_missed_at"),
)

# Messages to Slack that must arrive: written in the same transaction as the change they report,
# delivered after commit, retried until Slack takes them (see escalator.delivery).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escalation_id", Integer, ForeignKey("escalations.id", ondelete="CASCADE")),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    # pending → delivered; or dead (Slack refused it for good, or its retries ran out) → pending again
    # (`escalator outbox retry`) or dropped.
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime),
    Column("attempts", Integer, nullable=False),  # every try, rate-limited ones included
    Column("failures", Integer, nullable=False, server_default="0"),  # tries that count towards giving up
    Column("last_error", String(255)),
    Column("delivered_at", UtcDateTime),
    # The message it posted, so it can be erased when the customer's details must go.
    Column("posted_channel", String(32)),
    Column("posted_ts", String(32)),
    # Messages of one lane reach Slack in the order queued (see escalator.domain.messages).
    Column("lane", String(80), nullable=False),
    Column("priority", Integer, nullable=False),
    # The stream of Slack's rate limits its first call is paced by (`post:C0123`, `edit`, …).
    Column("pace_key", String(80), nullable=False),
    # An earlier try may have reached Slack (its answer was lost): look before posting again.
    Column("doubt", Boolean, nullable=False, server_default=false()),
    Index(None, "status", "due_at"),
    Index(None, "escalation_id"),
    # The head of each lane, among pending messages only.
    Index(
        "ix_outbox_pending_lane",
        "lane",
        "id",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

# Slack's rate limits as every process and machine of the app has used them: one row per pace key, a
# generic cell-rate algorithm's "theoretical arrival time", and the pause a 429 or an outage asked for.
# Times are seconds since the epoch.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("tat", Float, nullable=False),
    Column("tolerance", Float, nullable=False),  # how far ahead of now `tat` may run: the burst
    Column("paused_until", Float, nullable=False),
    Column("failures", Integer, nullable=False),  # calls in a row that failed for now (5xx, timeouts)
)

# Each delivery process says it is alive, every tick, so `escalator check` and /metrics can tell when
# none runs.
delivery_processes = Table(
    "delivery_processes",
    metadata,
    Column("name", String(100), primary_key=True),  # host:pid
    Column("started_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
)

# The Slack IDs the policy's names (`#billing`, `@alex`, `@billing-team`) were last found to have: a
# process that starts while Slack cannot be asked uses these.
slack_names = Table(
    "slack_names",
    metadata,
    Column("kind", String(20), primary_key=True),  # channel, user or usergroup
    Column("name", String(255), primary_key=True),  # as the policy writes it
    Column("slack_id", String(40), nullable=False),
    Column("resolved_at", UtcDateTime, nullable=False),
)

# The audit trail: every transition, who made it, when, from which state to which, and why.
escalation_events = Table(
    "escalation_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escalation_id", Integer, ForeignKey("escalations.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_user_id", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("note", Text),
    Column("target", String(64)),
    Column("from_path", String(50)),  # a handoff's: the path (or `supervisors`) that passed the case on
    Index(None, "escalation_id", "id"),
    Index(None, "at"),
)

# Requests already acted on (Events API event_id, view id, action identity): Slack may deliver one
# twice, to any worker, and the second must change nothing.
handled_requests = Table(
    "handled_requests",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
)

# Durable timers: what the bot must do later. Only pending ones are read, through (status, due_at),
# so a tick costs what is due, not what is stored.
timers = Table(
    "timers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escalation_id", Integer, ForeignKey("escalations.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("fired_at", UtcDateTime),
    Column("last_error", String(255)),
    Index(None, "status", "due_at"),
    Index(None, "escalation_id", "kind"),
)

# People who muted the nudges for one case.
mutes = Table(
    "mutes",
    metadata,
    Column("escalation_id", Integer, ForeignKey("escalations.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
)

# How many contacts the team handled each day, told by the phone system or help desk.
contact_volumes = Table(
    "contact_volumes",
    metadata,
    Column("day", Date, primary_key=True),
    Column("contacts", Integer, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

# One row per daily digest started, so that one worker alone posts it.
digests = Table(
    "digests",
    metadata,
    Column("day", Date, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
)

# One row per weekly report started (the Monday its week began), so that one worker alone sends it.
weekly_reports = Table(
    "weekly_reports",
    metadata,
    Column("week", Date, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
)

# Incidents: one outage, many callers (see escalator.domain.incidents).
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("declared_at", UtcDateTime, nullable=False),
    Column("declared_by", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("words", JSON, nullable=False),
    Column("path_key", String(50)),
    Column("state", enum_column_type(IncidentState), nullable=False),
    Column("status", Text),
    Column("customer_line", Text),
    Column("resolved_at", UtcDateTime),
    Column("resolved_by", String(32)),
    Column("card_channel_id", String(32)),
    Column("card_ts", String(32)),
    Column("card_rendered_at", UtcDateTime),
    Column("card_update_waiting", Boolean, nullable=False),
    Index(None, "state"),
    Index(None, "declared_at"),
)

incident_suggestions = Table(
    "incident_suggestions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("title", String(200), nullable=False),
    Column("words", JSON, nullable=False),
    Column("path_key", String(50), nullable=False),
    Column("first_raised_at", UtcDateTime, nullable=False),
    Column("state", enum_column_type(SuggestionState), nullable=False),
    Column("decided_by", String(32)),
    Column("incident_id", Integer, ForeignKey("incidents.id")),
    Column("posts", JSON, nullable=False),
    Index(None, "path_key", "created_at"),
)

mapper_registry = registry(metadata=metadata)
mapper_registry.map_imperatively(Escalation, escalations)
mapper_registry.map_imperatively(HistoryEntry, escalation_events)
mapper_registry.map_imperatively(Incident, incidents)
mapper_registry.map_imperatively(IncidentSuggestion, incident_suggestions)

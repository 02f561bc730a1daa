"""The audit trail of an escalation: one entry per transition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Who the bot's own steps (a breach re-escalating a case, say) are recorded as.
SYSTEM_ACTOR = "escalator"


@dataclass
class HistoryEntry:
    escalation_id: int
    at: datetime
    actor_user_id: str
    action: str
    to_state: str
    from_state: str | None = None
    note: str | None = None  # as typed by the person, or said by the app; shown as text
    target: str | None = None  # the new owner of a reassignment, the destination of a move
    # A handoff's: who held the case when it was passed on (a path's key, or the supervisors).
    from_path: str | None = None
    id: int | None = None

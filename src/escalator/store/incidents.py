"""The queries incidents need: open incidents, their linked escalations, recent look-alikes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from escalator.domain.escalation import Escalation, State
from escalator.domain.incidents import Incident, IncidentState, IncidentSuggestion, SuggestionState
from escalator.store import tables  # noqa: F401  (maps the classes before the queries below use them)

# Any fixed number: with the path, the PostgreSQL advisory lock that lets one transaction at a time place
# a new escalation of that path among incidents, so two workers never suggest or declare a cluster twice.
_PLACING_LOCK = 7_311_043
_ACTIVE = (State.open, State.claimed)
# Every new case runs these two while its form waits: built once (building a statement costs more than
# running it on a small table).
_OPEN = select(Incident).where(Incident.state == IncidentState.open).order_by(Incident.id.desc())
_RECENT_SUGGESTIONS = (
    select(IncidentSuggestion)
    .where(
        IncidentSuggestion.path_key == bindparam("path_key"),
        IncidentSuggestion.created_at >= bindparam("since"),
        IncidentSuggestion.state != SuggestionState.declared,
    )
    .order_by(IncidentSuggestion.id.desc())
)


class IncidentRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def lock_placement(self, path_key: str) -> None:
        """Serialise placing escalations among incidents, path by path: clusters and incidents belong to
        one path, so cases on other paths need not wait (SQLite: its one writer serialises anyway)."""
        if self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(
                text("SELECT pg_advisory_xact_lock(:key, hashtext(:path))"),
                {"key": _PLACING_LOCK, "path": path_key},
            )

    def add(self, incident: Incident) -> Incident:
        self._session.add(incident)
        self._session.flush()
        return incident

    def get(self, incident_id: int) -> Incident | None:
        return self._session.get(Incident, incident_id)

    def get_for_update(self, incident_id: int) -> Incident | None:
        return self._session.get(Incident, incident_id, with_for_update=True, populate_existing=True)

    def open_ones(self) -> list[Incident]:
        """Open incidents, the newest first."""
        return list(self._session.scalars(_OPEN))

    def linked(
        self, incident_id: int, *, active_only: bool = False, agent: str | None = None
    ) -> list[Escalation]:
        query = select(Escalation).where(Escalation.incident_id == incident_id)
        if agent is not None:
            query = query.where(Escalation.agent_user_id == agent)
        if active_only:
            query = query.where(Escalation.state.in_(_ACTIVE))
        return list(self._session.scalars(query.order_by(Escalation.id)))

    def linked_count(self, incident_id: int) -> int:
        query = select(func.count()).where(Escalation.incident_id == incident_id)
        return int(self._session.scalar(query) or 0)

    def recent_on_path(self, path_key: str, since: datetime, exclude: int) -> list[Escalation]:
        """Escalations on a path raised since `since`, in no incident or suggestion yet."""
        query = select(Escalation).where(
            Escalation.path_key == path_key,
            Escalation.raised_at >= since,
            Escalation.incident_id.is_(None),
            Escalation.suggestion_id.is_(None),
            Escalation.state.in_(_ACTIVE),
            Escalation.id != exclude,
        )
        return list(self._session.scalars(query.order_by(Escalation.id)))

    def add_suggestion(self, suggestion: IncidentSuggestion) -> IncidentSuggestion:
        self._session.add(suggestion)
        self._session.flush()
        return suggestion

    def suggestion(self, suggestion_id: int, *, for_update: bool = False) -> IncidentSuggestion | None:
        return self._session.get(
            IncidentSuggestion, suggestion_id, with_for_update=for_update, populate_existing=for_update
        )

    def recent_suggestions(self, path_key: str, since: datetime) -> list[IncidentSuggestion]:
        """Suggestions on a path made since `since` and not declared: a cluster is suggested once."""
        return list(self._session.scalars(_RECENT_SUGGESTIONS, {"path_key": path_key, "since": since}))

    def in_suggestion(self, suggestion_id: int) -> list[Escalation]:
        query = select(Escalation).where(Escalation.suggestion_id == suggestion_id).order_by(Escalation.id)
        return list(self._session.scalars(query))

    def record_card(self, incident_id: int, channel_id: str, ts: str, now: datetime) -> None:
        self._session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(card_channel_id=channel_id, card_ts=ts, card_rendered_at=now)
            .execution_options(synchronize_session=False)
        )

    def record_suggestion_post(self, suggestion_id: int, channel_id: str, ts: str) -> None:
        suggestion = self.suggestion(suggestion_id, for_update=True)
        if suggestion is not None:
            suggestion.posts = [*suggestion.posts, [channel_id, ts]]

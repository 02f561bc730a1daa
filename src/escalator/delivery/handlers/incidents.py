"""Incidents' messages: the incident card and its updates and notes, the suggestions, the agents' notes."""

from __future__ import annotations

from escalator.delivery.handlers.base import Delivering, Handler
from escalator.delivery.pacer import Paced
from escalator.delivery.poster import Sent
from escalator.domain.messages import Message, lane
from escalator.services.incidents import (
    CARD_UPDATE_SPACING,
    card_rendering,
    load_incident,
    load_incident_cases,
    load_suggestion,
)
from escalator.slack.rendering.incidents import (
    render_incident_card,
    render_incident_joined,
    render_incident_note,
    render_incident_update_for_agent,
    render_suggestion,
)
from escalator.store.database import Transaction
from escalator.store.repositories import OutboxMessage


def handlers(delivering: Delivering) -> dict[Message, Handler]:
    incidents = IncidentMessages(delivering)
    return {
        Message.post_incident_card: Handler(incidents.post_card, record=incidents.record_card),
        Message.update_incident_card: Handler(incidents.update_card),
        Message.incident_note: Handler(incidents.note),
        Message.incident_suggestion: Handler(incidents.suggestion, record=incidents.record_suggestion),
        Message.update_suggestion: Handler(incidents.update_suggestion),
        Message.incident_joined: Handler(incidents.joined),
        Message.incident_update_for_agent: Handler(incidents.update_for_agent),
    }


class IncidentMessages:
    def __init__(self, delivering: Delivering) -> None:
        self._d = delivering
        self._policy = delivering.policy

    def post_card(self, message: OutboxMessage) -> Sent | None:
        """The incident's card, in incident.channel, mentioning the responders. An update of it follows
        in its lane, for the cases that join while it is being posted."""
        if self._policy.incident is None:
            return None
        incident, linked = load_incident_cases(self._d.store, int(message.payload["incident"]))
        if incident.card_ts is not None:
            return None
        card = render_incident_card(incident, linked, self._policy)
        return self._d.poster.post(message, self._policy.incident.channel, card.as_params())

    def record_card(self, tx: Transaction, message: OutboxMessage, sent: Sent) -> None:
        incident_id = int(message.payload["incident"])
        tx.incidents.record_card(incident_id, sent.channel, sent.ts, self._d.clock.now())

    def update_card(self, message: OutboxMessage) -> Sent | None:
        """Rendered from the state when it is sent: one update shows every case joined since the last,
        and no two are less than CARD_UPDATE_SPACING apart."""
        incident_id = int(message.payload["incident"])
        now = self._d.clock.now()
        # Asked before reading the incident: a card no longer on its way is recorded by then, if posted.
        with self._d.store.reading() as tx:
            card_on_its_way = tx.outbox.waiting_in(
                lane(Message.post_incident_card, None, message.payload), Message.post_incident_card
            )
        if card_on_its_way:
            raise Paced(f"the card of incident {incident_id}", now + CARD_UPDATE_SPACING)
        incident = load_incident(self._d.store, incident_id)
        if incident.card_ts is None:
            return None  # its card never made it: nothing to update
        if incident.card_rendered_at is not None:
            next_render = incident.card_rendered_at + CARD_UPDATE_SPACING
            if now < next_render:
                raise Paced(f"incident card {incident.reference}", next_render)
        taken = card_rendering(self._d.store, self._d.clock, incident_id)
        if taken is None:
            return None
        incident, linked = taken
        card = render_incident_card(incident, linked, self._policy)
        self._d.gateway.call(
            "chat.update", channel=incident.card_channel_id, ts=incident.card_ts, **card.as_params()
        )
        return None

    def note(self, message: OutboxMessage) -> Sent | None:
        incident = load_incident(self._d.store, int(message.payload["incident"]))
        if incident.card_ts is None:
            return None
        payload = message.payload
        note = render_incident_note(
            str(payload["by"]),
            bool(payload["resolved"]),
            str(payload["status"]),
            str(payload["customer_line"]),
        )
        return self._d.poster.post(
            message, str(incident.card_channel_id), note.as_params(), thread_ts=incident.card_ts
        )

    def suggestion(self, message: OutboxMessage) -> Sent | None:
        suggestion, members = load_suggestion(self._d.store, int(message.payload["suggestion"]))
        shown = render_suggestion(suggestion, members, self._policy)
        return self._d.poster.post(message, str(message.payload["to"]), shown.as_params())

    def record_suggestion(self, tx: Transaction, message: OutboxMessage, sent: Sent) -> None:
        tx.incidents.record_suggestion_post(int(message.payload["suggestion"]), sent.channel, sent.ts)

    def update_suggestion(self, message: OutboxMessage) -> Sent | None:
        suggestion, members = load_suggestion(self._d.store, int(message.payload["suggestion"]))
        shown = render_suggestion(suggestion, members, self._policy)
        for channel, ts in suggestion.posts:
            self._d.gateway.call("chat.update", channel=channel, ts=ts, **shown.as_params())
        return None

    def joined(self, message: OutboxMessage) -> Sent | None:
        escalation = self._d.escalation(message)
        incident = load_incident(self._d.store, int(message.payload["incident"]))
        if escalation.incident_id != incident.id:
            return None  # taken out of it again since
        note = render_incident_joined(escalation, incident)
        return self._d.poster.post(message, escalation.agent_user_id, note.as_params())

    def update_for_agent(self, message: OutboxMessage) -> Sent | None:
        agent = str(message.payload["user"])
        incident, linked = load_incident_cases(self._d.store, int(message.payload["incident"]), agent)
        cases = [e for e in linked if not e.is_finished]
        line = render_incident_update_for_agent(incident, cases, str(message.payload["line"]))
        return self._d.poster.post(message, agent, line.as_params())

"""Names of the messages services leave in the outbox for the Slack layer to deliver."""

from enum import StrEnum


class Message(StrEnum):
    post_card = "post_card"  # the handoff card, to the channel the escalation was routed to
    tell_agent_next_steps = "tell_agent_next_steps"  # privately: who has it and by when
    alert_supervisors = "alert_supervisors"  # the card could not reach its channel

"""Names of the messages services leave in the outbox for the Slack layer to deliver."""

from enum import StrEnum


class Message(StrEnum):
    post_card = "post_card"  # the handoff card, to the channel the escalation is routed to
    tell_agent_next_steps = "tell_agent_next_steps"  # privately: who has it and by when
    alert_supervisors = "alert_supervisors"  # the card could not reach its channel
    update_card = "update_card"  # re-render the card in place from the escalation's state
    thread_note = "thread_note"  # one history entry, in the card's thread
    warm_transfer = "warm_transfer"  # the introduction, where the agent and the owner talk
    tell_agent_owner = "tell_agent_owner"  # privately: who has the case, and where to talk to them
    hand_back = "hand_back"  # the handback note to the agent, with the buttons to close the loop
    retire_card = "retire_card"  # the card in a channel the escalation has moved away from
    publish_home = "publish_home"  # the App Home of the person in the payload, after a change of theirs
    post_digest = "post_digest"  # the daily digest for the day in the payload, to digest.channel
    post_digest_chart = "post_digest_chart"  # its chart of the last fortnight, in the digest's thread
    erase_message = "erase_message"  # a message about a case whose customer's details were erased
    timer_notice = "timer_notice"  # a nudge, breach or reminder, to a person, the channel or the supervisors
    post_incident_card = (
        "post_incident_card"  # the incident's card, to incident.channel, naming the responders
    )
    update_incident_card = "update_incident_card"  # re-render it: at most once a second, however many join
    incident_note = "incident_note"  # a status update or the resolution, in the incident card's thread
    incident_suggestion = "incident_suggestion"  # "Possible incident", to the channel in the payload
    update_suggestion = "update_suggestion"  # the suggestion's messages, once declared or dismissed
    incident_joined = "incident_joined"  # privately to the agent: their case is part of an incident
    incident_update_for_agent = "incident_update_for_agent"  # privately: the latest line for the customer

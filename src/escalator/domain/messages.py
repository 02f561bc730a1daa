"""The messages the app leaves for Slack, and the rules of their delivery that belong to the process:
which ones must arrive in order (a lane), which ones people are waiting for (urgency), and which
stream of Slack's limits each one competes in (its pace key)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Any

from escalator.domain.escalation import Escalation


class Form(StrEnum):
    """What a message does in Slack, which decides the limit it is paced by."""

    post = "post"  # a new message in one conversation: about one a second in each
    edit = "edit"  # rewriting a message already posted
    home = "home"  # a person's App Home
    upload = "upload"  # a file, in a thread


class Urgency(IntEnum):
    """Lower goes first, whatever waits."""

    card = 0  # a card the specialists act on: paced by its channel, it never holds the others up long
    waited_for = 1  # someone is waiting for it: a private notice, a handback, a reminder
    view = 2  # keeps what people see in step: card updates, thread notes, the digest
    background = 3  # App Home refreshes, erasures


class Message(StrEnum):
    post_card = "post_card"  # the handoff card, to the channel the escalation is routed to
    tell_agent_next_steps = "tell_agent_next_steps"  # privately: where the card is, who has it, by when
    update_card = "update_card"  # re-render the card in place from the escalation's state
    thread_note = "thread_note"  # one history entry, in the card's thread
    warm_transfer = "warm_transfer"  # the introduction, where the agent and the owner talk
    tell_agent_owner = "tell_agent_owner"  # privately: who has the case, and where to talk to them
    hand_back = "hand_back"  # the handback note to the agent, with the buttons to close the loop
    retire_card = "retire_card"  # the card in a channel the escalation has moved away from
    publish_home = "publish_home"  # the App Home of the person in the payload, after a change of theirs
    post_digest = "post_digest"  # the daily digest for the day in the payload, to digest.channel
    post_digest_chart = "post_digest_chart"  # its chart of the last fortnight, in the digest's thread
    post_weekly_report = "post_weekly_report"  # the week's report, to the audience in the payload
    weekly_report_csv = "weekly_report_csv"  # its CSV, in the report's thread
    erase_message = "erase_message"  # a message about a case whose customer's details were erased
    timer_notice = "timer_notice"  # a nudge, breach or reminder, to a person, the channel or the supervisors
    post_incident_card = "post_incident_card"  # the incident's card, to incident.channel, naming responders
    update_incident_card = "update_incident_card"  # re-render it: at most once a second, however many join
    incident_note = "incident_note"  # a status update or the resolution, in the incident card's thread
    incident_suggestion = "incident_suggestion"  # "Possible incident", to the channel in the payload
    update_suggestion = "update_suggestion"  # the suggestion's messages, once declared or dismissed
    incident_joined = "incident_joined"  # privately to the agent: their case is part of an incident
    incident_update_for_agent = "incident_update_for_agent"  # privately: the latest line for the customer
    delivery_failed = "delivery_failed"  # to the supervisors: a message Slack refused for good
    approval_request = "approval_request"  # privately, to the approver in the payload: decide a refund
    refund_decided = "refund_decided"  # privately, to the agent: the refund was approved or declined
    close_approval_requests = "close_approval_requests"  # the approvers' requests: the decision, no buttons

    @property
    def form(self) -> Form:
        return _FORMS.get(self, Form.post)

    @property
    def urgency(self) -> Urgency:
        return _URGENCY.get(self, Urgency.waited_for)

    @property
    def latest_only(self) -> bool:
        """Rendered from the state when sent: of several waiting in one lane, sending the newest is
        enough, and the others are coalesced into it."""
        return self in _LATEST_ONLY


_FORMS = {
    Message.update_card: Form.edit,
    Message.retire_card: Form.edit,
    Message.erase_message: Form.edit,
    Message.update_incident_card: Form.edit,
    Message.update_suggestion: Form.edit,
    Message.close_approval_requests: Form.edit,
    Message.publish_home: Form.home,
    Message.post_digest_chart: Form.upload,
    Message.weekly_report_csv: Form.upload,
}
_URGENCY = {
    Message.post_card: Urgency.card,
    Message.post_incident_card: Urgency.card,
    Message.update_card: Urgency.view,
    Message.thread_note: Urgency.view,
    Message.retire_card: Urgency.view,
    Message.post_digest: Urgency.view,
    Message.post_digest_chart: Urgency.view,
    Message.post_weekly_report: Urgency.view,
    Message.weekly_report_csv: Urgency.view,
    Message.update_incident_card: Urgency.view,
    Message.incident_note: Urgency.view,
    Message.update_suggestion: Urgency.view,
    Message.close_approval_requests: Urgency.view,
    Message.publish_home: Urgency.background,
    Message.erase_message: Urgency.background,
}
_LATEST_ONLY = frozenset({Message.update_card, Message.publish_home, Message.update_suggestion})

_INCIDENT_LANE = frozenset({Message.post_incident_card, Message.incident_note})
_SUGGESTION_LANE = frozenset({Message.incident_suggestion, Message.update_suggestion})
_DIGEST_LANE = frozenset({Message.post_digest, Message.post_digest_chart})
_WEEKLY_LANE = frozenset({Message.post_weekly_report, Message.weekly_report_csv})


def lane(kind: Message, escalation_id: int | None, payload: Mapping[str, Any]) -> str:
    """The messages that must reach Slack in the order they were queued: one case's card, its thread
    notes and its agent's notices; one incident's card and notes (its card's updates wait for the card
    themselves); one person's Home; one digest; one weekly report for one audience."""
    if kind is Message.publish_home:
        return f"home:{payload['user']}"
    if kind is Message.update_incident_card:
        return f"incident:{payload['incident']}:card"  # its own: a spaced update holds up no note
    if kind in _INCIDENT_LANE:
        return f"incident:{payload['incident']}"
    if kind is Message.incident_update_for_agent:
        return f"incident:{payload['incident']}:{payload['user']}"
    if kind in _SUGGESTION_LANE:
        return f"suggestion:{payload['suggestion']}"
    if kind in _DIGEST_LANE:
        return f"digest:{payload['day']}"
    if kind in _WEEKLY_LANE:
        return f"weekly:{payload['week']}:{payload['audience']}"
    if kind is Message.delivery_failed:
        return f"alert:{payload['message']}"  # alone: whatever holds up the lane it reports on
    if escalation_id is not None:
        return f"case:{escalation_id}"
    raise ValueError(f"{kind.value} needs an escalation to belong to")


def pace_key(kind: Message, to: str | None) -> str:
    """The stream of Slack's limits a message's first call competes in: posts, per conversation; the
    others, one stream per form. `to` is the channel or person a post goes to."""
    if kind.form is Form.post:
        if not to:
            raise ValueError(f"{kind.value} is posted: say to whom")
        return f"post:{to}"
    return kind.form.value


def recipient(key: str) -> str | None:
    """Whom a message with this pace key is posted to (None for an edit, a Home, an upload)."""
    return key.removeprefix("post:") if key.startswith("post:") else None


_TO_AGENT = frozenset(
    {
        Message.tell_agent_next_steps,
        Message.tell_agent_owner,
        Message.hand_back,
        Message.incident_joined,
        Message.refund_decided,
    }
)
_IN_CARD_THREAD = frozenset({Message.thread_note, Message.warm_transfer})


def addressee(kind: Message, escalation: Escalation, payload: Mapping[str, Any]) -> str | None:
    """Where a case's posted message goes, as far as its state says when it is queued: its channel,
    its card's thread, its agent, the approver it asks. None when it is not posted, or when the
    payload says and the message is queued apart (a reminder)."""
    if kind.form is not Form.post:
        return None
    if kind is Message.approval_request:
        return str(payload["to"])
    if kind is Message.post_card:
        return escalation.routed_channel_id
    if kind in _TO_AGENT:
        return escalation.agent_user_id
    if kind in _IN_CARD_THREAD:
        return escalation.card_channel_id or escalation.routed_channel_id
    return None

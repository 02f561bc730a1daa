"""One case's messages: its card (and the supervisors' copy when its channel refuses it), the card's
updates and thread notes, the warm transfer, the agent's private notices, reminders, erasures."""

from __future__ import annotations

import logging

from escalator.delivery.handlers.base import Delivering, Handler
from escalator.delivery.poster import Sent
from escalator.domain.escalation import Approval, Escalation, State
from escalator.domain.messages import Message, recipient
from escalator.domain.privacy import for_channel
from escalator.domain.routing import fallback_channel
from escalator.domain.timers import ACKNOWLEDGE_TIMERS, OWNER_NUDGES, TimerKind
from escalator.policy import WarmTransfer
from escalator.services.ownership import SUPERVISORS
from escalator.slack.gateway import SlackCallFailed
from escalator.slack.rendering.approvals import render_approval_request, render_refund_decided
from escalator.slack.rendering.card import (
    render_card,
    render_delivery_alert,
    render_erased_message,
    render_retired_card,
)
from escalator.slack.rendering.intake import render_next_steps
from escalator.slack.rendering.ownership import (
    render_hand_back,
    render_owner_told_agent,
    render_thread_note,
    render_warm_transfer,
)
from escalator.slack.rendering.reminders import render_notice
from escalator.store.database import Transaction
from escalator.store.repositories import OutboxMessage

log = logging.getLogger(__name__)

# What chat.update answers for a message that is no longer there to overwrite.
_ALREADY_GONE = frozenset({"message_not_found", "channel_not_found", "is_archived", "cant_update_message"})


def handlers(delivering: Delivering) -> dict[Message, Handler]:
    cases = CaseMessages(delivering)
    return {
        Message.post_card: Handler(cases.post_card, record=cases.record_card, on_dead=cases.card_refused),
        Message.tell_agent_next_steps: Handler(cases.tell_agent_next_steps),
        Message.update_card: Handler(cases.update_card),
        Message.thread_note: Handler(cases.thread_note),
        Message.warm_transfer: Handler(cases.warm_transfer, record=cases.record_group_dm),
        Message.tell_agent_owner: Handler(cases.tell_agent_owner),
        Message.hand_back: Handler(cases.hand_back),
        Message.retire_card: Handler(cases.retire_card),
        Message.timer_notice: Handler(cases.timer_notice),
        Message.erase_message: Handler(cases.erase_message),
        Message.approval_request: Handler(cases.approval_request),
        Message.refund_decided: Handler(cases.refund_decided),
        Message.close_approval_requests: Handler(cases.close_approval_requests),
    }


def _card_version(message: OutboxMessage, escalation: Escalation) -> int:
    """Which card a message belongs to (messages queued before versions existed: the current one)."""
    return int(message.payload.get("card", escalation.card_version))


class CaseMessages:
    def __init__(self, delivering: Delivering) -> None:
        self._d = delivering
        self._policy = delivering.policy

    def post_card(self, message: OutboxMessage) -> Sent | None:
        """To the channel the case is routed to; if Slack refuses that channel for good, to the
        supervisors, with the problem and its fix, so the case is never lost."""
        escalation = self._d.escalation(message)
        if _card_version(message, escalation) != escalation.card_version:
            # The case moved since: the move queued its own card. An earlier try may have posted this
            # one all the same (its answer lost): found, it is recorded as stale, and so retired.
            earlier = recipient(message.pace_key)
            return self._d.poster.find(message, earlier) if message.doubt and earlier else None
        if escalation.card_posted:
            return None
        channel = escalation.routed_channel_id
        try:
            card = render_card(escalation, self._policy, self._d.clock.now())
            return self._d.poster.post(message, channel, card.as_params())
        except SlackCallFailed as refused:
            fallback = fallback_channel(channel, self._policy)
            if refused.transient or fallback is None:
                raise
            alert = render_delivery_alert(
                escalation, self._policy, self._d.clock.now(), channel, refused.error
            )
            try:
                sent = self._d.poster.post(message, fallback, alert.as_params())
            except SlackCallFailed as also_refused:
                if also_refused.transient:
                    raise
                raise refused from None  # what the agent must hear of is the case's own channel
            return Sent(sent.channel, sent.ts, detour=refused.error)

    def record_card(self, tx: Transaction, message: OutboxMessage, sent: Sent) -> None:
        escalation_id = message.escalation_id or 0
        current = tx.escalations.get(escalation_id)
        if current is None:
            return
        version = _card_version(message, current)
        if not tx.escalations.record_card(escalation_id, version, sent.channel, sent.ts, sent.detour):
            # The case moved while this card was on its way: it must not stay up as if it were current.
            log.info("%s moved while its card was posted: retiring %s", current.reference, sent.ts)
            payload = {"channel": sent.channel, "ts": sent.ts, "to": current.routed_channel_id}
            tx.outbox.add(Message.retire_card, self._d.clock.now(), escalation_id, payload)

    def card_refused(self, tx: Transaction, message: OutboxMessage, error: str) -> None:
        escalation = tx.escalations.get(message.escalation_id or 0)
        if escalation is not None:
            version = _card_version(message, escalation)
            tx.escalations.record_delivery_problem(escalation.id or 0, version, error)

    def tell_agent_next_steps(self, message: OutboxMessage) -> Sent | None:
        escalation = self._d.escalation(message)
        if _card_version(message, escalation) != escalation.card_version:
            return None  # about a card the case has left: the move sends its own
        if not escalation.card_posted and not escalation.delivery_problem:
            return None
        # A DM from the app (the channel is the user's ID) stays in the agent's Messages tab.
        notice = render_next_steps(escalation, self._policy, self._d.clock.now())
        return self._d.poster.post(message, escalation.agent_user_id, notice.as_params())

    def update_card(self, message: OutboxMessage) -> Sent | None:
        escalation = self._d.escalation(message)
        if escalation.card_posted:
            card = render_card(escalation, self._policy, self._d.clock.now())
            self._edit(escalation.card_channel_id, escalation.card_ts, card.as_params())
        return None  # without a card yet, the card to be posted shows the current state

    def thread_note(self, message: OutboxMessage) -> Sent | None:
        escalation = self._d.escalation(message)
        if not escalation.card_posted:
            log.info("%s has no card to note %s under", escalation.reference, message.kind.value)
            return None
        with self._d.store.reading() as tx:
            entry = tx.history.get(int(message.payload["entry_id"]))
        if entry is None:
            return None
        note = render_thread_note(entry, escalation, self._policy)
        return self._in_card_thread(message, escalation, note.as_params())

    def warm_transfer(self, message: OutboxMessage) -> Sent | None:
        """Seed step 5: one shared place for the agent and the new owner, with the customer introduced."""
        escalation = self._d.escalation(message)
        if escalation.owner_user_id in (None, escalation.agent_user_id):
            return None  # unclaimed again since, or the agent took it: nobody to introduce
        # The group DM is the agent's and the owner's alone; the card's thread is the channel's.
        if self._group_dm:
            intro = render_warm_transfer(escalation)
            users = f"{escalation.agent_user_id},{escalation.owner_user_id}"
            group_dm = str(self._d.gateway.call("conversations.open", users=users)["channel"]["id"])
            return self._d.poster.post(message, group_dm, intro.as_params())
        if not escalation.card_posted:
            return None
        intro = render_warm_transfer(for_channel(escalation, self._policy.privacy))
        return self._in_card_thread(message, escalation, intro.as_params())

    def record_group_dm(self, tx: Transaction, message: OutboxMessage, sent: Sent) -> None:
        if self._group_dm:
            tx.escalations.record_conversation(message.escalation_id or 0, sent.channel)

    def tell_agent_owner(self, message: OutboxMessage) -> Sent | None:
        """The agent's pointer to the warm transfer: a message of its own, so a failure here never
        repeats the introduction."""
        escalation = self._d.escalation(message)
        if escalation.owner_user_id in (None, escalation.agent_user_id):
            return None
        if self._group_dm and escalation.conversation_channel_id:
            where = f"in <#{escalation.conversation_channel_id}>"
        elif escalation.card_posted:
            where = f"in the thread of the card in <#{escalation.card_channel_id}>"
        else:
            return None
        notice = render_owner_told_agent(escalation, where)
        return self._d.poster.post(message, escalation.agent_user_id, notice.as_params())

    def hand_back(self, message: OutboxMessage) -> Sent | None:
        escalation = self._d.escalation(message)
        handback = render_hand_back(escalation)
        return self._d.poster.post(message, escalation.agent_user_id, handback.as_params())

    def retire_card(self, message: OutboxMessage) -> Sent | None:
        escalation = self._d.escalation(message)
        moved = render_retired_card(escalation, str(message.payload["to"]))
        self._edit(str(message.payload["channel"]), str(message.payload["ts"]), moved.as_params())
        return None

    def erase_message(self, message: OutboxMessage) -> Sent | None:
        """Overwrite a message that may name the customer; one deleted by hand since is already gone."""
        erased = render_erased_message(self._d.escalation(message))
        try:
            self._edit(str(message.payload["channel"]), str(message.payload["ts"]), erased.as_params())
        except SlackCallFailed as exc:
            if exc.transient or exc.error not in _ALREADY_GONE:
                raise
        return None

    def timer_notice(self, message: OutboxMessage) -> Sent | None:
        escalation = self._d.escalation(message)
        to, kind = str(message.payload["to"]), TimerKind(message.payload["kind"])
        returned = bool(message.payload.get("returned"))
        if kind in OWNER_NUDGES and not returned and to != escalation.owner_user_id:
            return None  # the case changed hands since the timer fired: the nudge is not theirs any more
        if kind in ACKNOWLEDGE_TIMERS and to[0] in "UW" and escalation.state is not State.open:
            return None  # the person on duty was asked to pick it up, and someone has since
        on_duty = tuple(str(user) for user in message.payload.get("on_duty", []))
        notice = render_notice(
            escalation, self._policy, kind, to, int(message.payload.get("reminder", 1)), returned, on_duty
        )
        # A channel, the supervisors, or a person (the app's DM with them).
        channel = self._policy.supervisors.channel if to == SUPERVISORS else to
        return self._d.poster.post(message, channel, notice.as_params())

    def approval_request(self, message: OutboxMessage) -> Sent | None:
        """To one approver of the level the refund waits for, in the app's DM with them."""
        escalation = self._d.escalation(message)
        if escalation.approval is not Approval.pending:
            return None  # decided (or the case erased) before this went out: nothing left to ask
        request = render_approval_request(escalation, self._policy)
        return self._d.poster.post(message, str(message.payload["to"]), request.as_params())

    def refund_decided(self, message: OutboxMessage) -> Sent | None:
        escalation = self._d.escalation(message)
        notice = render_refund_decided(escalation, self._policy)
        return self._d.poster.post(message, escalation.agent_user_id, notice.as_params())

    def close_approval_requests(self, message: OutboxMessage) -> Sent | None:
        """Each request an approver got now says how it was decided, without its buttons (the same
        edit again, if this is tried again, changes nothing)."""
        escalation = self._d.escalation(message)
        with self._d.store.reading() as tx:
            requests = tx.outbox.posted_of_kind(escalation.id or 0, Message.approval_request)
        decided = render_refund_decided(escalation, self._policy, for_agent=False)
        for channel, ts in requests:
            self._edit(channel, ts, decided.as_params())
        return None

    @property
    def _group_dm(self) -> bool:
        return self._policy.warm_transfer is WarmTransfer.group_dm

    def _in_card_thread(self, message: OutboxMessage, escalation: Escalation, content: dict) -> Sent:
        channel, ts = str(escalation.card_channel_id), str(escalation.card_ts)
        return self._d.poster.post(message, channel, content, thread_ts=ts)

    def _edit(self, channel: str | None, ts: str | None, content: dict) -> None:
        self._d.gateway.call("chat.update", channel=channel, ts=ts, **content)

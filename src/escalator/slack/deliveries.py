"""How each kind of outbox message reaches Slack: render from state, send through the gateway."""

from __future__ import annotations

from datetime import date
from typing import Any

from escalator.clock import Clock
from escalator.domain.escalation import Escalation
from escalator.domain.privacy import for_channel
from escalator.domain.timers import OWNER_NUDGES, TimerKind
from escalator.policy import Policy, WarmTransfer
from escalator.services.deliver_card import (
    card_posted,
    card_refused,
    load_escalation,
    load_history_entry,
    superseded,
    warm_transfer_made,
)
from escalator.services.digest import Digests, digest_posted
from escalator.services.home import home_for
from escalator.services.incidents import (
    card_rendering,
    incident_card_posted,
    load_incident,
    load_incident_cases,
    load_suggestion,
    suggestion_posted,
)
from escalator.services.messages import Message
from escalator.services.ownership import SUPERVISORS
from escalator.slack.directory import Directory
from escalator.slack.gateway import SlackCallFailed, SlackGateway
from escalator.slack.outbox import DeliveryNotReady, FollowUp, Handler
from escalator.slack.posting import Delivery, Poster
from escalator.slack.rendering.card import (
    render_card,
    render_delivery_alert,
    render_erased_message,
    render_retired_card,
)
from escalator.slack.rendering.chart import render_trend_chart
from escalator.slack.rendering.digest import render_digest
from escalator.slack.rendering.engine import SlackMessage
from escalator.slack.rendering.home import render_home
from escalator.slack.rendering.incidents import (
    render_incident_card,
    render_incident_joined,
    render_incident_note,
    render_incident_update_for_agent,
    render_suggestion,
)
from escalator.slack.rendering.intake import render_next_steps
from escalator.slack.rendering.ownership import (
    render_hand_back,
    render_owner_told_agent,
    render_thread_note,
    render_warm_transfer,
)
from escalator.slack.rendering.reminders import render_notice
from escalator.store.database import Store, Transaction
from escalator.store.repositories import OutboxMessage

# What chat.update answers for a message that is no longer there to overwrite.
_ALREADY_GONE = frozenset({"message_not_found", "channel_not_found", "is_archived", "cant_update_message"})


class Deliveries:
    def __init__(
        self, gateway: SlackGateway, store: Store, policy: Policy, clock: Clock, directory: Directory
    ) -> None:
        self._gateway = gateway
        self._poster = Poster(gateway)
        # What each message in delivery posted (channel, ts), until it is recorded as delivered.
        self._posted: dict[int, tuple[str, str]] = {}
        self._directory = directory
        self._store = store
        self._policy = policy
        self._clock = clock
        self._digests = Digests(store, policy, clock)

    def handlers(self) -> dict[str, Handler]:
        return {
            Message.post_card: self.post_card,
            Message.alert_supervisors: self.alert_supervisors,
            Message.tell_agent_next_steps: self.tell_agent_next_steps,
            Message.update_card: self.update_card,
            Message.thread_note: self.thread_note,
            Message.warm_transfer: self.warm_transfer,
            Message.hand_back: self.hand_back,
            Message.tell_agent_owner: self.tell_agent_owner,
            Message.retire_card: self.retire_card,
            Message.timer_notice: self.timer_notice,
            Message.erase_message: self.erase_message,
            Message.post_digest: self.post_digest,
            Message.post_digest_chart: self.post_digest_chart,
            Message.publish_home: self.publish_home,
            Message.post_incident_card: self.post_incident_card,
            Message.update_incident_card: self.update_incident_card,
            Message.incident_note: self.incident_note,
            Message.incident_suggestion: self.incident_suggestion,
            Message.update_suggestion: self.update_suggestion,
            Message.incident_joined: self.incident_joined,
            Message.incident_update_for_agent: self.incident_update_for_agent,
        }

    def post_card(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        if escalation.card_posted:
            return None
        return self._post_card_to(
            message, escalation.routed_channel_id, render_card(escalation, self._policy), escalation
        )

    def alert_supervisors(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        if escalation.card_posted:
            return None
        alert = render_delivery_alert(
            escalation, self._policy, str(message.payload.get("failed_channel", ""))
        )
        return self._post_card_to(message, self._policy.supervisors.channel, alert, escalation)

    def tell_agent_next_steps(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        # A DM from the app (the channel is the user's ID) stays in the agent's Messages tab.
        self._send(message, escalation.agent_user_id, render_next_steps(escalation, self._policy))
        return None

    def update_card(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        if not escalation.card_posted or superseded(self._store, message):
            return None  # the card still to be posted, or the next update, will show the current state
        card = render_card(escalation, self._policy)
        self._gateway.call(
            "chat.update", channel=escalation.card_channel_id, ts=escalation.card_ts, **card.as_params()
        )
        return None

    def thread_note(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        entry = load_history_entry(self._store, int(message.payload["entry_id"]))
        note = render_thread_note(entry, escalation, self._policy)
        channel, ts = self._card_thread(escalation)
        self._send(message, channel, note, thread_ts=ts)
        return None

    def warm_transfer(self, message: OutboxMessage) -> FollowUp | None:
        """Seed step 5: one shared place for the agent and the new owner, with the customer introduced."""
        escalation = self._escalation(message)
        if escalation.owner_user_id in (None, escalation.agent_user_id):
            return None  # unclaimed again since, or the agent took it: nobody to introduce
        # The group DM is the agent's and the owner's alone; the card's thread is the channel's.
        private = self._policy.warm_transfer is WarmTransfer.group_dm
        intro = render_warm_transfer(escalation if private else for_channel(escalation, self._policy.privacy))
        escalation_id, group_dm = escalation.id or 0, None
        if private:
            users = f"{escalation.agent_user_id},{escalation.owner_user_id}"
            group_dm = str(self._gateway.call("conversations.open", users=users)["channel"]["id"])
            self._send(message, group_dm, intro)
            where = f"in <#{group_dm}>"
        else:
            channel, ts = self._card_thread(escalation)
            self._send(message, channel, intro, thread_ts=ts)
            where = f"in the thread of the card in <#{channel}>"
        # The agent's pointer is a message of its own, so a failure there never repeats the intro.
        return lambda tx: warm_transfer_made(tx, self._clock, escalation_id, where, group_dm)

    def tell_agent_owner(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        if escalation.owner_user_id is not None:
            self._send(
                message,
                escalation.agent_user_id,
                render_owner_told_agent(escalation, str(message.payload["where"])),
            )
        return None

    def hand_back(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        self._send(message, escalation.agent_user_id, render_hand_back(escalation))
        return None

    def retire_card(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        moved = render_retired_card(escalation, str(message.payload["to"]))
        self._gateway.call(
            "chat.update", channel=message.payload["channel"], ts=message.payload["ts"], **moved.as_params()
        )
        return None

    def erase_message(self, message: OutboxMessage) -> FollowUp | None:
        """Overwrite a message that may name the customer; one deleted by hand since is already gone."""
        erased = render_erased_message(self._escalation(message))
        try:
            self._gateway.call(
                "chat.update",
                channel=message.payload["channel"],
                ts=message.payload["ts"],
                **erased.as_params(),
            )
        except SlackCallFailed as exc:
            if exc.transient or exc.error not in _ALREADY_GONE:
                raise
        return None

    def timer_notice(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        to, kind = str(message.payload["to"]), TimerKind(message.payload["kind"])
        returned = bool(message.payload.get("returned"))
        if kind in OWNER_NUDGES and not returned and to != escalation.owner_user_id:
            return None  # the case changed hands since the timer fired: the nudge is not theirs any more
        notice = render_notice(
            escalation, self._policy, kind, to, int(message.payload.get("reminder", 1)), returned
        )
        # A channel, the supervisors, or a person (the app's DM with them).
        self._send(message, self._policy.supervisors.channel if to == SUPERVISORS else to, notice)
        return None

    def publish_home(self, message: OutboxMessage) -> FollowUp | None:
        if superseded(self._store, message, for_user=True):
            return None  # a later refresh of the same person's Home is queued: it shows all of this
        actor = self._directory.actor(str(message.payload["user"]))
        home = home_for(self._store, self._policy, self._clock, actor)
        self._gateway.call("views.publish", user_id=actor.user_id, view=render_home(home, self._policy))
        return None

    def post_digest(self, message: OutboxMessage) -> FollowUp | None:
        """Built when delivered, from the data then: the numbers are the store's, not a snapshot's."""
        if self._policy.digest is None:
            return None
        day = date.fromisoformat(str(message.payload["day"]))
        posted = self._send(
            message, self._policy.digest.channel, render_digest(self._digests.build(day), self._policy)
        )
        ts = str(posted["ts"])
        return lambda tx: digest_posted(tx, self._clock, day, ts)

    def post_digest_chart(self, message: OutboxMessage) -> FollowUp | None:
        if self._policy.digest is None:
            return None
        day = date.fromisoformat(str(message.payload["day"]))
        self._gateway.upload_file(
            self._policy.digest.channel,
            filename=f"escalations-{day.isoformat()}.png",
            content=render_trend_chart(self._digests.trend(day)),
            title=f"Escalations, the 14 days to {day:%d %B %Y}",
            thread_ts=str(message.payload["ts"]),
        )
        return None

    def post_incident_card(self, message: OutboxMessage) -> FollowUp | None:
        """The incident's card, in incident.channel, mentioning the responders."""
        if self._policy.incident is None:
            return None
        incident_id = int(message.payload["incident"])
        incident, linked = load_incident_cases(self._store, incident_id)
        if incident.card_ts is not None:
            return None
        card = render_incident_card(incident, linked, self._policy)
        posted = self._send(message, self._policy.incident.channel, card)
        channel, ts = str(posted["channel"]), str(posted["ts"])
        return lambda tx: incident_card_posted(tx, self._clock, incident_id, channel, ts)

    def update_incident_card(self, message: OutboxMessage) -> FollowUp | None:
        """Rendered from the state when it is sent: one update shows every case joined since the last."""
        taken = card_rendering(self._store, self._clock, int(message.payload["incident"]))
        if taken is None or taken[0].card_ts is None:
            return None
        incident, linked = taken
        card = render_incident_card(incident, linked, self._policy)
        self._gateway.call(
            "chat.update", channel=incident.card_channel_id, ts=incident.card_ts, **card.as_params()
        )
        return None

    def incident_note(self, message: OutboxMessage) -> FollowUp | None:
        incident = load_incident(self._store, int(message.payload["incident"]))
        if incident.card_ts is None:
            raise DeliveryNotReady(f"{incident.reference} has no card yet")
        payload = message.payload
        note = render_incident_note(
            str(payload["by"]),
            bool(payload["resolved"]),
            str(payload["status"]),
            str(payload["customer_line"]),
        )
        self._send(message, str(incident.card_channel_id), note, thread_ts=incident.card_ts)
        return None

    def incident_suggestion(self, message: OutboxMessage) -> FollowUp | None:
        suggestion_id = int(message.payload["suggestion"])
        suggestion, members = load_suggestion(self._store, suggestion_id)
        shown = render_suggestion(suggestion, members, self._policy)
        posted = self._send(message, str(message.payload["to"]), shown)
        channel, ts = str(posted["channel"]), str(posted["ts"])
        return lambda tx: suggestion_posted(tx, suggestion_id, channel, ts)

    def update_suggestion(self, message: OutboxMessage) -> FollowUp | None:
        suggestion, members = load_suggestion(self._store, int(message.payload["suggestion"]))
        shown = render_suggestion(suggestion, members, self._policy)
        for channel, ts in suggestion.posts:
            self._gateway.call("chat.update", channel=channel, ts=ts, **shown.as_params())
        return None

    def incident_joined(self, message: OutboxMessage) -> FollowUp | None:
        escalation = self._escalation(message)
        incident = load_incident(self._store, int(message.payload["incident"]))
        if escalation.incident_id != incident.id:
            return None  # taken out of it again since
        self._send(message, escalation.agent_user_id, render_incident_joined(escalation, incident))
        return None

    def incident_update_for_agent(self, message: OutboxMessage) -> FollowUp | None:
        agent = str(message.payload["user"])
        incident, linked = load_incident_cases(self._store, int(message.payload["incident"]), agent)
        cases = [e for e in linked if not e.is_finished]
        line = render_incident_update_for_agent(incident, cases, str(message.payload["line"]))
        self._send(message, agent, line)
        return None

    def _card_thread(self, escalation: Escalation) -> tuple[str, str]:
        if not escalation.card_posted:
            raise DeliveryNotReady(f"{escalation.reference} has no card yet")
        return str(escalation.card_channel_id), str(escalation.card_ts)

    def _escalation(self, message: OutboxMessage) -> Escalation:
        if message.escalation_id is None:
            raise LookupError(f"outbox message {message.id} names no escalation")
        return load_escalation(self._store, message.escalation_id)

    def _post_card_to(
        self, message: OutboxMessage, channel: str, card: SlackMessage, escalation: Escalation
    ) -> FollowUp:
        escalation_id = escalation.id or 0
        try:
            response = self._send(message, channel, card)
        except SlackCallFailed as exc:
            if exc.transient:
                raise
            problem = exc.error
            return lambda tx: card_refused(tx, self._policy, self._clock, escalation_id, channel, problem)
        posted_channel, ts = str(response["channel"]), str(response["ts"])
        return lambda tx: card_posted(tx, self._clock, escalation_id, posted_channel, ts)

    def _send(
        self, message: OutboxMessage, channel: str, content: SlackMessage, thread_ts: str | None = None
    ) -> dict[str, Any]:
        delivery = Delivery(message.id, message.created_at, retry=message.attempts > 1)
        posted = self._poster.post(delivery, channel, content.as_params(), thread_ts)
        self._posted[message.id] = (str(posted["channel"]), str(posted["ts"]))
        return posted

    def record_posted(self, tx: Transaction, message: OutboxMessage) -> None:
        """With the message marked delivered: where it was posted, so it can be erased if the
        customer's details must go."""
        posted = self._posted.pop(message.id, None)
        if posted is not None:
            tx.outbox.record_post(message.id, *posted)

"""Incident use cases: place a new escalation among incidents, suggest one, declare, dismiss, post a
status, resolve, and take a case out. One transaction each; what Slack must be told goes in the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from escalator.clock import Clock
from escalator.domain.escalation import Approval, Escalation, EscalationType, State
from escalator.domain.history import HistoryEntry
from escalator.domain.incidents import (
    SHARED_WORDS,
    TITLE_LENGTH,
    Incident,
    IncidentState,
    IncidentSuggestion,
    SuggestionState,
    alike,
    case_words,
    check_responder,
    cluster_title,
    matches,
)
from escalator.domain.lifecycle import Action, Actor, Refused, is_supervisor
from escalator.domain.messages import Message
from escalator.domain.sla import Target
from escalator.domain.timers import SLA_TIMERS, TimerKind, target_timers
from escalator.policy import Policy
from escalator.services.ownership import new_card, queue, resolving, transition
from escalator.store.database import Store, Transaction

_ACTIVE = (State.open, State.claimed)
# However many escalations join at once, the incident card is updated at most this often.
CARD_UPDATE_SPACING = timedelta(seconds=1)
TITLE_WORDS = 6  # of a summary, for an incident declared from one escalation
OPEN_LIST_TTL = timedelta(seconds=5)  # how long the form's list of open incidents is reused


@dataclass(frozen=True)
class IncidentChoice:
    """What the agent said in the form: an open incident to join, or that it is none."""

    join: int | None = None
    none: bool = False


@dataclass(frozen=True)
class Placement:
    """Where a new escalation stands: its own card, or part of an incident."""

    incident: Incident | None
    outbox_ids: list[int]


@dataclass(frozen=True)
class IncidentOutcome:
    incident: Incident
    outbox_ids: list[int]
    resolving: int = 0  # open cases left to resolve with it (Reminders resolves them, one at a time)


def place(
    tx: Transaction, policy: Policy, escalation: Escalation, choice: IncidentChoice, now: datetime
) -> Placement:
    """In the transaction that stores a new escalation: join the incident the agent picked, declare one
    (type incident), join an open one it matches, or else count it towards a suggestion."""
    if policy.incident is None:
        return Placement(None, [])
    if escalation.approval is Approval.pending:
        return Placement(None, [])  # a supervisor decides its refund with its card's buttons: it keeps one
    tx.incidents.lock_placement(escalation.path_key)
    incident = _incident_for(tx, escalation, choice)
    if incident is None and escalation.escalation_type is EscalationType.incident and not choice.none:
        words = case_words(escalation)[:TITLE_WORDS]
        incident = tx.incidents.add(
            Incident(
                declared_at=now,
                declared_by=escalation.agent_user_id,
                title=(" ".join(words) or f"declared with {escalation.reference}")[:TITLE_LENGTH],
                words=words,
                path_key=escalation.path_key,
            )
        )
        ids = _queue_incident_card(tx, policy, incident, now)
        return Placement(incident, ids + _join(tx, incident, escalation, escalation.agent_user_id, now))
    if incident is not None:
        return Placement(incident, _join(tx, incident, escalation, escalation.agent_user_id, now))
    return Placement(None, _count_towards_suggestion(tx, policy, escalation, now))


def _incident_for(tx: Transaction, escalation: Escalation, choice: IncidentChoice) -> Incident | None:
    if choice.none:
        return None
    if choice.join is not None:
        picked = tx.incidents.get_for_update(choice.join)
        if picked is not None and picked.is_open:
            return picked
    match = next((i for i in tx.incidents.open_ones() if matches(i, escalation)), None)
    if match is None or match.id is None:
        return None
    # Locked, and read afresh: it may have been resolved meanwhile, and whether a card update is
    # already queued must not be a stale answer.
    locked = tx.incidents.get_for_update(match.id)
    return locked if locked is not None and locked.is_open else None


def _count_towards_suggestion(
    tx: Transaction, policy: Policy, escalation: Escalation, now: datetime
) -> list[int]:
    """One suggestion per cluster: a look-alike of a recent suggestion joins it quietly; otherwise, the
    threshold reached by look-alikes within the window makes a new one."""
    assert policy.incident is not None
    detect = policy.incident.detect
    if detect is None:
        return []
    since = now - detect.within
    words = case_words(escalation)
    for suggestion in tx.incidents.recent_suggestions(escalation.path_key, since):
        shared = set(suggestion.words) & set(words)
        if suggestion.words and len(shared) >= min(SHARED_WORDS, len(suggestion.words)):
            escalation.suggestion_id = suggestion.id
            return []
    cluster = [
        e
        for e in tx.incidents.recent_on_path(escalation.path_key, since, exclude=escalation.id or 0)
        if alike(words, escalation.trigger_words, e)
    ]
    cluster.append(escalation)
    if len(cluster) < detect.threshold:
        return []
    title, common = cluster_title(escalation, cluster)
    suggestion = tx.incidents.add_suggestion(
        IncidentSuggestion(
            created_at=now,
            title=title,
            words=common,
            path_key=escalation.path_key,
            first_raised_at=min(e.raised_at for e in cluster),
        )
    )
    for member in cluster:
        member.suggestion_id = suggestion.id
    channels = dict.fromkeys([policy.supervisors.channel, policy.incident.channel])
    return [
        tx.outbox.add(
            Message.incident_suggestion, now, None, {"suggestion": suggestion.id, "to": channel}, to=channel
        )
        for channel in channels
    ]


def _queue_incident_card(tx: Transaction, policy: Policy, incident: Incident, now: datetime) -> list[int]:
    """Its card, then one update of it for the cases that join while the card is on its way (so those
    need not queue one each)."""
    assert policy.incident is not None
    incident.card_update_waiting = True
    payload = {"incident": incident.id}
    return [
        tx.outbox.add(Message.post_incident_card, now, None, payload, to=policy.incident.channel),
        tx.outbox.add(Message.update_incident_card, now, None, dict(payload)),
    ]


def _join(
    tx: Transaction, incident: Incident, escalation: Escalation, actor: str, now: datetime
) -> list[int]:
    """Link one escalation: its SLA clocks stop (the incident's responders have it), its agent hears."""
    escalation.incident_id = incident.id
    escalation_id = escalation.id or 0
    tx.timers.cancel(escalation_id, SLA_TIMERS)
    tx.history.add(
        HistoryEntry(
            escalation_id=escalation_id,
            at=now,
            actor_user_id=actor,
            action=Action.join_incident.value,
            from_state=escalation.state.value,
            to_state=escalation.state.value,
            target=incident.reference,
        )
    )
    messages: list[tuple[Message, dict[str, Any]]] = [(Message.incident_joined, {"incident": incident.id})]
    if escalation.card_posted:
        messages.append((Message.update_card, {}))
    return queue(tx, escalation, messages, now) + schedule_card_update(tx, incident, now)


def schedule_card_update(tx: Transaction, incident: Incident, now: datetime) -> list[int]:
    """Queue one re-render of the incident card, unless one is queued that has not rendered yet (it
    will show this change too); at least a second after the last render."""
    if incident.card_ts is None or incident.card_update_waiting:
        return []  # the card, still to be posted, or the update already queued shows the current state
    incident.card_update_waiting = True
    last = incident.card_rendered_at
    due = max(now, last + CARD_UPDATE_SPACING) if last else now
    return [tx.outbox.add(Message.update_incident_card, due, None, {"incident": incident.id})]


class Incidents:
    def __init__(self, store: Store, policy: Policy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._listed: tuple[datetime, list[Incident]] | None = None

    def open_ones(self) -> list[Incident]:
        """The open incidents for the handoff form's menu. Every /escalate opens the form, so the list
        is kept a few seconds; a case that matches an incident the menu missed still joins it on submit."""
        now, listed = self._clock.now(), self._listed
        if listed is not None and now - listed[0] < OPEN_LIST_TTL:
            return listed[1]
        with self._store.reading() as tx:
            incidents = tx.incidents.open_ones()
        self._listed = (now, incidents)
        return incidents

    def get(self, incident_id: int) -> Incident | None:
        with self._store.reading() as tx:
            return tx.incidents.get(incident_id)

    def permitted(self, incident_id: int, actor: Actor) -> Incident:
        """Check before opening a form. Raises Refused."""
        check_responder(actor, self._policy)
        incident = self.get(incident_id)
        if incident is None:
            raise Refused("That incident no longer exists.")
        if not incident.is_open:
            raise Refused(f"{incident.reference} is already resolved.")
        return incident

    def declare(self, key: str, suggestion_id: int, actor: Actor) -> IncidentOutcome | None:
        """Declare the suggested cluster an incident: its card, its responders told, its cases linked."""
        check_responder(actor, self._policy)
        now = self._clock.now()
        with self._store.transaction() as tx:
            if not tx.handled.first_time(key, now):
                return None
            suggestion = self._pending(tx, suggestion_id)
            # Cases of its path being stored now are placed before, or after, this: none is missed.
            tx.incidents.lock_placement(suggestion.path_key)
            incident = tx.incidents.add(
                Incident(
                    declared_at=now,
                    declared_by=actor.user_id,
                    title=suggestion.title,
                    words=suggestion.words,
                    path_key=suggestion.path_key,
                )
            )
            suggestion.state, suggestion.decided_by = SuggestionState.declared, actor.user_id
            suggestion.incident_id = incident.id
            ids = _queue_incident_card(tx, self._policy, incident, now)
            ids.append(tx.outbox.add(Message.update_suggestion, now, None, {"suggestion": suggestion.id}))
            for member in tx.incidents.in_suggestion(suggestion.id or 0):
                escalation = tx.escalations.get_for_update(member.id or 0)  # as it is now, held
                if escalation and escalation.state in _ACTIVE and escalation.incident_id is None:
                    ids += _join(tx, incident, escalation, actor.user_id, now)
        return IncidentOutcome(incident, ids)

    def dismiss(self, key: str, suggestion_id: int, actor: Actor) -> list[int]:
        check_responder(actor, self._policy)
        now = self._clock.now()
        with self._store.transaction() as tx:
            if not tx.handled.first_time(key, now):
                return []
            suggestion = self._pending(tx, suggestion_id)
            suggestion.state, suggestion.decided_by = SuggestionState.dismissed, actor.user_id
            return [tx.outbox.add(Message.update_suggestion, now, None, {"suggestion": suggestion.id})]

    def post_status(
        self, key: str, incident_id: int, actor: Actor, status: str, customer_line: str
    ) -> IncidentOutcome | None:
        """The responders' latest word: on the card and in its thread; the line for customers goes to
        every agent with a case in the incident."""
        return self._change(key, incident_id, actor, status, customer_line, resolve=False)

    def resolve(
        self, key: str, incident_id: int, actor: Actor, done: str, for_customer: str
    ) -> IncidentOutcome | None:
        """Fixed: every open case in it is resolved with the line for customers, which reaches its agent
        with the buttons to close the loop, and the close-the-loop reminders start."""
        return self._change(key, incident_id, actor, done, for_customer, resolve=True)

    def leave(self, key: str, escalation_id: int, actor: Actor) -> list[int]:
        """The agent (or a supervisor) says a case is not part of the incident: it gets its own card,
        and its specialists a fresh clock to acknowledge it."""
        now = self._clock.now()
        with self._store.transaction() as tx:
            if not tx.handled.first_time(key, now):
                return []
            # The incident first, then the case: the order resolving takes them in, so the two never
            # wait on each other.
            seen = tx.escalations.get(escalation_id)
            incident = tx.incidents.get_for_update(seen.incident_id) if seen and seen.incident_id else None
            escalation = tx.escalations.get_for_update(escalation_id)
            if escalation is None:
                raise Refused("That escalation no longer exists.")
            if escalation.agent_user_id != actor.user_id and not is_supervisor(actor, self._policy):
                raise Refused(
                    "Only the agent who raised it, or a supervisor, can take it out of an incident."
                )
            if escalation.incident_id is None or incident is None or incident.id != escalation.incident_id:
                raise Refused(f"{escalation.reference} is not part of an incident.")
            if escalation.state not in (State.open, State.claimed):
                raise Refused(f"{escalation.reference} is already {escalation.state.value}.")
            escalation.incident_id = None
            entry = tx.history.add(
                HistoryEntry(
                    escalation_id=escalation_id,
                    at=now,
                    actor_user_id=actor.user_id,
                    action=Action.leave_incident.value,
                    from_state=escalation.state.value,
                    to_state=escalation.state.value,
                    target=incident.reference,
                )
            )
            acknowledge = target_timers(Target.acknowledge, now, escalation, self._policy)
            resolve = target_timers(Target.resolve, escalation.raised_at, escalation, self._policy)
            tx.timers.add_many(
                escalation_id,
                [(k, due, {}) for k, due in acknowledge] + [(k, max(due, now), {}) for k, due in resolve],
            )
            if escalation.card_posted:
                messages = [(Message.update_card, {}), (Message.thread_note, {"entry_id": entry.id})]
            else:
                messages = new_card(escalation)
            return queue(tx, escalation, messages, now) + schedule_card_update(tx, incident, now)

    def _change(
        self, key: str, incident_id: int, actor: Actor, status: str, customer_line: str, *, resolve: bool
    ) -> IncidentOutcome | None:
        check_responder(actor, self._policy)
        now = self._clock.now()
        with self._store.transaction() as tx:
            if not tx.handled.first_time(key, now):
                return None
            incident = tx.incidents.get_for_update(incident_id)
            if incident is None:
                raise Refused("That incident no longer exists.")
            if not incident.is_open:
                raise Refused(f"{incident.reference} is already resolved.")
            incident.status, incident.customer_line = status, customer_line
            # The note carries its own texts: a later update must not rewrite what this one said.
            note = {
                "incident": incident_id,
                "by": actor.user_id,
                "resolved": resolve,
                "status": status,
                "customer_line": customer_line,
            }
            assert self._policy.incident is not None
            ids = [tx.outbox.add(Message.incident_note, now, None, note, to=self._policy.incident.channel)]
            linked = tx.incidents.linked(incident_id, active_only=True)
            if resolve:
                incident.state, incident.resolved_at, incident.resolved_by = (
                    IncidentState.resolved,
                    now,
                    actor.user_id,
                )
                # Hundreds of cases would keep the person's form (and every lock on them) waiting:
                # each is resolved in a transaction of its own, by a timer that is due at once and
                # survives any process stopping half-way.
                resolution = {
                    "incident": incident_id,
                    "by": actor.user_id,
                    "status": status,
                    "line": customer_line,
                }
                tx.timers.add_for_each(
                    [e.id or 0 for e in linked], TimerKind.incident_resolved, now, resolution
                )
                ids += schedule_card_update(tx, incident, now)
                return IncidentOutcome(incident, ids, resolving=len(linked))
            else:
                # One statement for every agent's note, however many cases: the form waits on it.
                agents = sorted({e.agent_user_id for e in linked})
                ids += tx.outbox.add_many(
                    now,
                    [
                        (
                            Message.incident_update_for_agent,
                            None,
                            {"incident": incident_id, "user": a, "line": customer_line},
                            a,
                        )
                        for a in agents
                    ],
                )
            ids += schedule_card_update(tx, incident, now)
        return IncidentOutcome(incident, ids)

    def _pending(self, tx: Transaction, suggestion_id: int) -> IncidentSuggestion:
        suggestion = tx.incidents.suggestion(suggestion_id, for_update=True)
        if suggestion is None:
            raise Refused("That suggestion no longer exists.")
        if suggestion.state is not SuggestionState.pending:
            by = f" by <@{suggestion.decided_by}>" if suggestion.decided_by else ""
            raise Refused(f"That suggestion was already {suggestion.state.value}{by}.")
        return suggestion


def resolve_with_incident(
    tx: Transaction, policy: Policy, escalation: Escalation, resolution: dict[str, Any], now: datetime
) -> list[int]:
    """One case of a resolved incident (its `incident_resolved` timer's payload), resolved with it
    unless it was cancelled, resolved or taken out of the incident since."""
    if escalation.incident_id != resolution["incident"] or escalation.state not in _ACTIVE:
        return []
    by = str(resolution["by"])
    change = resolving(policy, by, str(resolution["status"]), str(resolution["line"]))
    return transition(tx, escalation, by, Action.resolve, change, now)


def card_rendering(store: Store, clock: Clock, incident_id: int) -> tuple[Incident, list[Escalation]] | None:
    """Take the queued update of the incident card: what to render now. A change committed after this
    queues the next update, a second later at the earliest."""
    with store.transaction() as tx:
        incident = tx.incidents.get_for_update(incident_id)
        if incident is None:
            return None
        incident.card_update_waiting = False
        incident.card_rendered_at = clock.now()
        return incident, tx.incidents.linked(incident_id)


def load_incident(store: Store, incident_id: int) -> Incident:
    with store.reading() as tx:
        return _incident(tx, incident_id)


def load_incident_cases(
    store: Store, incident_id: int, agent: str | None = None
) -> tuple[Incident, list[Escalation]]:
    """The incident with its cases (only `agent`'s, when given: one note per agent must not read all)."""
    with store.reading() as tx:
        return _incident(tx, incident_id), tx.incidents.linked(incident_id, agent=agent)


def _incident(tx: Transaction, incident_id: int) -> Incident:
    incident = tx.incidents.get(incident_id)
    if incident is None:
        raise LookupError(f"incident {incident_id} does not exist")
    return incident


def load_suggestion(store: Store, suggestion_id: int) -> tuple[IncidentSuggestion, list[Escalation]]:
    with store.reading() as tx:
        suggestion = tx.incidents.suggestion(suggestion_id)
        if suggestion is None:
            raise LookupError(f"incident suggestion {suggestion_id} does not exist")
        return suggestion, tx.incidents.in_suggestion(suggestion_id)

"""Erasing customers' personal details: nightly, past `privacy.retain_for`, and on a customer's request.

Each case is erased in one transaction with its audit entry and the Slack work it implies: the card
re-rendered from the erased state, every other message the app posted about the case overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from escalator.clock import Clock
from escalator.domain.history import SYSTEM_ACTOR, HistoryEntry
from escalator.domain.lifecycle import Action
from escalator.domain.messages import Message
from escalator.domain.privacy import erase_personal_data
from escalator.domain.sla import humanize
from escalator.policy import Policy
from escalator.store.database import Store


@dataclass(frozen=True)
class Erased:
    references: list[str]  # ESC-n of the cases erased now (not those erased before)
    outbox_ids: list[int]


class RetentionPurge:
    def __init__(self, store: Store, policy: Policy, clock: Clock) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._purged_on: date | None = None

    def purge_if_due(self) -> list[int]:
        """The nightly purge, once a day from `privacy.purge_at` on (and at start when that has passed).

        Every worker may run it; erasing an erased case changes nothing, so they never clash.
        """
        retain_for = self._policy.privacy.retain_for
        if retain_for is None:
            return []
        now = self._clock.now()
        local = now.astimezone(self._policy.zone)
        if local.time() < self._policy.privacy.purge_at or self._purged_on == local.date():
            return []
        with self._store.reading() as tx:
            due = tx.escalations.finished_before(now - retain_for)
        why = f"the retention period ({humanize(retain_for)}) is over"
        erased = erase_cases(self._store, self._clock, due, why)
        self._purged_on = local.date()  # only now: a database error meanwhile leaves it for the next tick
        return erased.outbox_ids


def forget_account(store: Store, clock: Clock, account_number: str) -> Erased:
    """A customer asked to be forgotten: every case with their account number, whatever its state."""
    with store.transaction() as tx:
        ids = tx.escalations.ids_by_account(account_number.strip())
    return erase_cases(store, clock, ids, "at the customer's request")


def erase_cases(store: Store, clock: Clock, escalation_ids: list[int], why: str) -> Erased:
    references: list[str] = []
    outbox_ids: list[int] = []
    for escalation_id in escalation_ids:
        erased = _erase(store, clock, escalation_id, why)
        if erased is not None:
            references.append(erased[0])
            outbox_ids.extend(erased[1])
    return Erased(references, outbox_ids)


def _erase(store: Store, clock: Clock, escalation_id: int, why: str) -> tuple[str, list[int]] | None:
    now = clock.now()
    with store.transaction() as tx:
        escalation = tx.escalations.get_for_update(escalation_id)
        if escalation is None or escalation.personal_data_removed_at is not None:
            return None
        erase_personal_data(escalation, tx.history.of(escalation_id), now)
        state = escalation.state.value
        tx.history.add(HistoryEntry(escalation_id, now, SYSTEM_ACTOR, Action.erase, state, state, note=why))
        queued = []
        if escalation.card_posted:
            queued.append(tx.outbox.add(Message.update_card, now, escalation_id))
        for channel, ts in tx.outbox.posted_by(escalation_id):
            if (channel, ts) != (escalation.card_channel_id, escalation.card_ts):
                payload = {"channel": channel, "ts": ts}
                queued.append(tx.outbox.add(Message.erase_message, now, escalation_id, payload))
        if escalation.suggestion_id is not None:  # "Possible incident" lists its summary: shown again, erased
            payload = {"suggestion": escalation.suggestion_id}
            queued.append(tx.outbox.add(Message.update_suggestion, now, None, payload))
        return escalation.reference, queued

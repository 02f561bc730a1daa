"""What the listeners work with, built once per worker process."""

from __future__ import annotations

from dataclasses import dataclass

from escalator.clock import Clock
from escalator.policy import Policy
from escalator.services.ownership import Ownership
from escalator.services.reminders import Reminders
from escalator.slack.directory import Directory
from escalator.slack.gateway import SlackGateway
from escalator.slack.outbox import OutboxDispatcher
from escalator.store.database import Store


@dataclass(frozen=True)
class Runtime:
    policy: Policy
    store: Store
    clock: Clock
    gateway: SlackGateway
    outbox: OutboxDispatcher
    ownership: Ownership
    reminders: Reminders
    directory: Directory

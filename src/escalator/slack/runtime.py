"""What the listeners work with, built once per worker process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from escalator.clock import Clock
from escalator.policy import Policy
from escalator.services.incidents import Incidents
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
    incidents: Incidents
    # What a listener calls once its transaction has committed messages to the outbox: deliver them
    # now, in this process, or wake the delivery process that does it for the web workers.
    after_commit: Callable[[list[int]], None]

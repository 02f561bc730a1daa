"""What the listeners work with, built once per worker process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Respond

from escalator.clock import Clock
from escalator.policy import Policy
from escalator.services.incidents import Incidents
from escalator.services.ownership import Ownership
from escalator.services.reminders import Reminders
from escalator.slack.directory import Directory
from escalator.slack.gateway import SlackGateway
from escalator.store.database import Store


@dataclass
class Runtime:
    policy: Policy
    store: Store
    clock: Clock
    gateway: SlackGateway
    ownership: Ownership
    reminders: Reminders
    directory: Directory
    incidents: Incidents
    # What a listener calls once its transaction has committed messages to the outbox. A web worker
    # does nothing more (the commit woke the delivery process); a process that also delivers (Socket
    # Mode, the tests) sends them at once, on the after-ack pool.
    after_commit: Callable[[list[int]], None] = lambda _ids: None
    # What a listener hands its work after `ack()` to (slack/after_ack.py): the request, the way to
    # answer its person, and the work. Until a pool is set, the work runs at once.
    after_ack: Callable[[dict[str, Any], Respond | None, Callable[[], None]], None] = (
        lambda _body, _respond, work: work()
    )

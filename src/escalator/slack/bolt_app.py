"""Building the Bolt app and everything its listeners need, once per worker process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor

from slack_bolt import App
from slack_sdk import WebClient

from escalator.clock import Clock
from escalator.policy import Policy
from escalator.scheduler import Wake
from escalator.services.incidents import Incidents
from escalator.services.ownership import Ownership
from escalator.services.reminders import Reminders
from escalator.settings import Settings
from escalator.slack.deliveries import Deliveries
from escalator.slack.directory import Directory
from escalator.slack.gateway import SlackGateway
from escalator.slack.listeners import register_listeners
from escalator.slack.listeners.errors import error_handler
from escalator.slack.observed import ObservedApp
from escalator.slack.outbox import OutboxDispatcher
from escalator.slack.runtime import Runtime
from escalator.store.database import Store

log = logging.getLogger(__name__)


def build_gateway(settings: Settings) -> SlackGateway:
    return SlackGateway(
        # A hung Slack call must not hold a worker thread for long. No retries inside the client:
        # the outbox retries with backoff, and a quick blind retry could post a message twice.
        WebClient(
            token=settings.SLACK_BOT_TOKEN,
            base_url=settings.SLACK_API_URL,
            timeout=settings.SLACK_API_TIMEOUT,
            retry_handlers=[],
        )
    )


def build_runtime(
    settings: Settings,
    policy: Policy,
    store: Store,
    clock: Clock,
    wake: Wake | None = None,
    parallel: Executor | None = None,
) -> Runtime:
    """Without `wake`, listeners deliver what they queued themselves; with it, they wake the deliverer."""
    gateway = build_gateway(settings)
    directory = Directory(gateway, policy)
    deliveries = Deliveries(gateway, store, policy, clock, directory)
    outbox = OutboxDispatcher(
        store, clock, deliveries.handlers(), settings.SLACK_API_TIMEOUT, deliveries.record_posted, parallel
    )
    return Runtime(
        policy=policy,
        store=store,
        clock=clock,
        gateway=gateway,
        outbox=outbox,
        ownership=Ownership(store, policy, clock),
        reminders=Reminders(store, policy, clock),
        directory=directory,
        incidents=Incidents(store, policy, clock),
        after_commit=outbox.deliver if wake is None else _waking(wake),
    )


def _waking(wake: Wake) -> Callable[[list[int]], None]:
    def after_commit(message_ids: list[int]) -> None:
        if message_ids:
            wake.set()

    return after_commit


def build_bolt_app(settings: Settings, runtime: Runtime, listeners: Executor) -> App:
    """The Bolt app, with our listeners."""
    app = ObservedApp(
        client=runtime.gateway.client,
        signing_secret=settings.SLACK_SIGNING_SECRET,
        listener_executor=listeners,
        logger=logging.getLogger("escalator.bolt"),
        # Bolt's own auth.test then happens on the first request, so a worker still boots while Slack
        # is briefly unreachable; app.py checks the token once before starting workers.
        token_verification_enabled=False,
    )
    register_listeners(app, runtime)
    app.error(error_handler(runtime))
    return app

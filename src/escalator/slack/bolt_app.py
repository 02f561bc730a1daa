"""Building the Bolt app and everything its listeners need, once per worker process."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Executor

from slack_bolt import App
from slack_sdk import WebClient

from escalator.clock import Clock
from escalator.delivery.pacer import SLACK_LIMITS, Limit, Pacer
from escalator.policy import Policy
from escalator.services.incidents import Incidents
from escalator.services.ownership import Ownership
from escalator.services.reminders import Reminders
from escalator.settings import Settings
from escalator.slack.directory import Directory
from escalator.slack.gateway import SlackGateway
from escalator.slack.listeners import register_listeners
from escalator.slack.listeners.errors import error_handler
from escalator.slack.observed import ObservedApp
from escalator.slack.runtime import Runtime
from escalator.store.database import Store

log = logging.getLogger(__name__)


def build_gateway(settings: Settings, pacer: Pacer | None = None) -> SlackGateway:
    """The Web API, paced by `pacer` (without one: only for calls made where no database is at hand)."""
    return SlackGateway(
        # A hung Slack call must not hold a worker thread for long. No retries inside the client:
        # the outbox retries with backoff, and a quick blind retry could post a message twice.
        WebClient(
            token=settings.SLACK_BOT_TOKEN,
            base_url=settings.SLACK_API_URL,
            timeout=settings.SLACK_API_TIMEOUT,
            retry_handlers=[],
        ),
        pacer,
    )


def build_runtime(
    settings: Settings,
    policy: Policy,
    store: Store,
    clock: Clock,
    limits: Mapping[str, Limit] = SLACK_LIMITS,
) -> Runtime:
    gateway = build_gateway(settings, Pacer(store, clock, limits))
    return Runtime(
        policy=policy,
        store=store,
        clock=clock,
        gateway=gateway,
        ownership=Ownership(store, policy, clock),
        reminders=Reminders(store, policy, clock),
        directory=Directory(gateway, policy, clock),
        incidents=Incidents(store, policy, clock),
    )


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

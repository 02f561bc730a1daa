"""Building the Bolt app and everything its listeners need, once per worker process."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Executor

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from escalator.clock import Clock
from escalator.delivery.pacer import SLACK_LIMITS, Limit, Pacer
from escalator.policy import Policy
from escalator.services.incidents import Incidents
from escalator.services.ownership import Ownership
from escalator.services.reminders import Reminders
from escalator.settings import Settings
from escalator.slack.after_ack import AfterAck
from escalator.slack.directory import Directory
from escalator.slack.gateway import SlackGateway
from escalator.slack.listeners import register_listeners
from escalator.slack.listeners.errors import error_handler, tell_failure
from escalator.slack.observed import ObservedApp
from escalator.slack.runtime import Runtime
from escalator.slack.web_client import PooledWebClient
from escalator.store.database import Store

log = logging.getLogger(__name__)

# slack_sdk and Bolt test a logger's own level, not the level it inherits, before formatting a debug
# line (the whole request body, every call): unless the level is set on the logger itself, each call
# pays for a line nobody reads.
_SDK_LOG = logging.getLogger("slack_sdk.web.base_client")
_SDK_LOG.setLevel(logging.WARNING)
_BOLT_LOG = logging.getLogger("escalator.bolt")
_BOLT_LOG.setLevel(logging.INFO)
# Bolt reads SLACK_BOT_TOKEN itself, and warns that the client and `authorize` below supersede it.
_BOLT_LOG.addFilter(lambda record: "`token` will be unused" not in record.getMessage())


def build_gateway(settings: Settings, pacer: Pacer | None = None) -> SlackGateway:
    """The Web API, paced by `pacer` (without one: only for calls made where no database is at hand)."""
    return web_api(settings.SLACK_BOT_TOKEN, settings.SLACK_API_URL, settings.SLACK_API_TIMEOUT, pacer)


def web_api(token: str, base_url: str, timeout: float, pacer: Pacer | None = None) -> SlackGateway:
    return SlackGateway(
        # A hung Slack call must not hold a worker thread for long. No retries inside the client:
        # the outbox retries with backoff, and a quick blind retry could post a message twice.
        PooledWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[], logger=_SDK_LOG),
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


def build_bolt_app(settings: Settings, runtime: Runtime, after_ack: Executor) -> App:
    """The Bolt app, with our listeners. Each listener runs on the request's own thread and returns
    right after its `ack()`, handing the rest to `after_ack`: Slack's answer never waits for a free
    thread of a pool that slow work may have filled, nor for Bolt's 10 ms polls of an `ack()` made in
    another thread."""
    runtime.after_ack = AfterAck(
        after_ack, lambda error, body, respond: tell_failure(runtime, error, body, respond)
    )
    token = settings.SLACK_BOT_TOKEN
    web_api = runtime.gateway.client
    app = ObservedApp(
        # Bolt's per-request client takes these settings and the token `authorize` gives; the
        # listeners call Slack through the gateway only.
        client=WebClient(
            base_url=web_api.base_url, timeout=web_api.timeout, retry_handlers=[], logger=_SDK_LOG
        ),
        signing_secret=settings.SLACK_SIGNING_SECRET,
        process_before_response=True,
        listener_executor=after_ack,
        logger=_BOLT_LOG,
        # Bolt's own single-workspace authorization calls auth.test on each worker's first request,
        # before its ack and past the gateway; app.py checks the token once before starting workers.
        # The token alone is all the listeners need: the app subscribes to no event it causes itself
        # (no messages, and it adds no reactions), so Bolt has no events of its own to ignore.
        authorize=lambda enterprise_id, team_id: AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, bot_token=token
        ),
    )
    register_listeners(app, runtime)
    app.error(error_handler(runtime))
    return app

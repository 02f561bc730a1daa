"""Assembling one worker: store → gateway and outbox → Bolt app → WSGI app.

app.py runs this in every worker process; the tests run the very same assembly in-process.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NoReturn

from slack_bolt import App
from sqlalchemy.exc import SQLAlchemyError

from escalator.checks import failed, policy_checks, workspace_checks
from escalator.clock import Clock, SystemClock
from escalator.delivery.engine import Engine
from escalator.delivery.handlers import Delivering, all_handlers
from escalator.delivery.pacer import SLACK_LIMITS, Limit, Pacer
from escalator.delivery.poster import Poster
from escalator.delivery.process import DeliveryLoop, DeliveryProbes, run_delivery_process
from escalator.delivery.queue import OutboxQueue
from escalator.errors import ConfigurationError
from escalator.log_format import ContextThreadPool, chosen_format, use_format
from escalator.logs import install_redaction, remember_secrets
from escalator.metrics import DatabaseFigures
from escalator.policy import Policy, load_policy
from escalator.probes import serve_probes
from escalator.scheduler import Scheduler
from escalator.services.digest import Digests, record_contacts
from escalator.services.privacy import RetentionPurge
from escalator.services.weekly_report import WeeklyReports
from escalator.settings import PolicySettings, Settings, load_settings
from escalator.slack.bolt_app import build_bolt_app, build_gateway, build_runtime
from escalator.slack.gateway import BotIdentity, SlackCallFailed, SlackGateway
from escalator.slack.names import Resolution, resolve_names
from escalator.slack.runtime import Runtime
from escalator.store.database import ACK_WAITS, Store
from escalator.store.wakeup import OutboxListener
from escalator.web import EscalatorWeb

log = logging.getLogger(__name__)


def load_configuration() -> tuple[Settings, Policy]:
    """Settings and policy, or exit with status 2 and one clear message (no traceback)."""
    try:
        settings = load_settings()
        remember_secrets(settings)  # values read from .env are not in os.environ
        use_format(settings.LOG_FORMAT)
        return settings, load_policy(settings.ESCALATOR_POLICY)
    except ConfigurationError as exc:
        exit_with_configuration_error(exc)


def exit_with_configuration_error(exc: ConfigurationError) -> NoReturn:
    print(
        f"escalator: configuration problem:\n  {str(exc).replace(chr(10), chr(10) + '  ')}", file=sys.stderr
    )
    sys.exit(2)


# Slack's answers to auth.test that mean the token itself is wrong.
_BAD_TOKEN = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})


def prepare_start(settings: Settings, policy: Policy) -> Policy:
    """Before any worker starts: check the bot token with Slack, create or upgrade the schema, find the
    IDs of the policy's names, and run `escalator check`'s workspace and policy checks, logging what
    fails (the app starts anyway). Returns the policy with IDs for its names."""
    gateway = build_gateway(settings)
    identity = verify_bot_token(gateway)
    migrate_or_exit(settings.DATABASE_URL)
    # Without an answer to auth.test each lookup would wait out SLACK_API_TIMEOUT in turn.
    policy = resolve_policy(settings, policy, gateway if identity is not None else None)
    checks = policy_checks(policy, SystemClock().now())
    if identity is not None:
        checks += workspace_checks(gateway, policy, identity)
    for check in checks:
        if check.passed is False or check.warning:
            log.warning(
                "check %s: %s: %s%s",
                "failed" if check.passed is False else "warns",
                check.subject,
                check.detail,
                f"; fix: {check.fix}" if check.fix else "",
            )
    if not failed(checks):
        log.info("all %d workspace and policy checks passed", len(checks))
    return policy


def resolve_policy(settings: PolicySettings, policy: Policy, gateway: SlackGateway | None) -> Policy:
    """The policy with the Slack ID of each name it uses (`#billing`, `@alex`): asked of Slack through
    `gateway` and kept in the database, or, for what Slack was not asked or did not answer, as last
    found. Exits 2 naming each name found neither way."""
    names = policy.names()
    if not names:
        return policy
    resolution = resolve_names(gateway, names) if gateway is not None else Resolution()
    store = Store(settings.DATABASE_URL)
    try:
        with store.transaction() as tx:
            tx.names.remember(resolution.ids, SystemClock().now())
            kept = tx.names.known([key for key in names if key not in resolution.found])
    except SQLAlchemyError as exc:
        log.warning("could not keep or read the policy's Slack IDs (%s)", type(exc).__name__)
        kept = {}
    finally:
        store.dispose()
    # Only what Slack could not be asked falls back to the IDs last found: a name Slack answered for
    # (gone, archived, ambiguous) is the policy's to fix.
    kept = {
        key: slack_id
        for key, slack_id in kept.items()
        if resolution.missing.get(key) is None or resolution.missing[key].transient
    }
    for key, missing in resolution.missing.items():
        if key in kept:
            log.warning("%s: %s; using %s, its ID when last found", key[1], missing.reason, kept[key])
    unknown = [key for key in names if key not in resolution.found and key not in kept]
    if unknown:
        exit_with_configuration_error(
            ConfigurationError(
                "\n".join(
                    f"{settings.ESCALATOR_POLICY}: {', '.join(names[key])}: "
                    + (
                        resolution.missing[key].reason
                        if key in resolution.missing
                        else f"{key[1]} was never found (Slack could not be asked)"
                    )
                    for key in unknown
                )
            )
        )
    if gateway is not None and resolution.found:
        log.info("found the Slack IDs of the policy's %d names", len(resolution.found))
    return policy.with_ids({**kept, **resolution.ids})


def migrate_or_exit(database_url: str) -> None:
    """Create or upgrade the schema, or exit 1 with a message that says where to look."""
    store = Store(database_url)
    try:
        store.migrate()
    except SQLAlchemyError as exc:
        print(
            f"escalator: cannot open the database at DATABASE_URL ({type(exc).__name__}); "
            "check that the database is running and that the URL is right",
            file=sys.stderr,
        )
        sys.exit(1)
    finally:
        store.dispose()


def verify_bot_token(gateway: SlackGateway) -> BotIdentity | None:
    """Ask Slack (through SLACK_API_URL) whether the bot token works; exit 2 when it is refused.

    When Slack cannot be reached the app starts anyway and says so: it retries what it must deliver.
    Returns who the token signs in as, or None when Slack did not say.
    """
    try:
        identity = gateway.identity()
    except SlackCallFailed as exc:
        if exc.transient:
            log.warning("could not reach Slack to check SLACK_BOT_TOKEN (%s); starting anyway", exc.error)
            return None
        if exc.error in _BAD_TOKEN:
            exit_with_configuration_error(
                ConfigurationError(
                    f"SLACK_BOT_TOKEN was refused by Slack ({exc.error}); copy the Bot User OAuth Token "
                    "(xoxb-…) from your app's OAuth & Permissions page, and reinstall the app if it "
                    "was revoked"
                )
            )
        log.warning("Slack answered auth.test with %s; starting anyway", exc.error)
        return None
    log.info("signed in to Slack as %s in %s", identity.user_id, identity.team)
    return identity


def configure_logging(log_format: str | None = None) -> None:
    """Log lines to standard error, as text or JSON (LOG_FORMAT), ids only, secrets redacted."""
    use_format(log_format or chosen_format())
    # slack_sdk logs request bodies at DEBUG; keep it quieter than our own lines.
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    install_redaction()  # tokens never reach a log line or a printed traceback


@dataclass
class Delivery:
    """The delivery engine and the timers it ticks: the delivery process's, or one that runs beside the
    listeners in one process (Socket Mode, and the tests, which tick it themselves)."""

    engine: Engine
    queue: OutboxQueue
    scheduler: Scheduler
    loop: DeliveryLoop
    listener: OutboxListener
    senders: ThreadPoolExecutor | None = None
    _thread: threading.Thread | None = None

    def tick(self) -> None:
        """One tick as the loop runs it, sending here: the timers, then whatever is ready."""
        self.loop.tick()
        self.engine.drain()

    def start_in_background(self) -> None:
        self._thread = threading.Thread(target=self.loop.run, name="delivery", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 25.0) -> None:
        """Finish the round in progress and what the senders hold, then stop."""
        self.loop.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.senders is not None:
            self.senders.shutdown(wait=True)
        self.loop.said_goodbye()
        self.listener.close()


def build_delivery(
    settings: Settings, policy: Policy, runtime: Runtime, senders: ThreadPoolExecutor | None = None
) -> Delivery:
    """With `senders`, passes hand messages to them (the delivery process); without, each message is
    sent by whoever runs the pass."""
    store, clock = runtime.store, runtime.clock
    listener = OutboxListener(settings.DATABASE_URL)
    engine = build_engine(settings, policy, runtime, senders, on_done=listener.nudge)
    scheduler = Scheduler(
        runtime.reminders,
        Digests(store, policy, clock),
        WeeklyReports(store, policy, clock),
        RetentionPurge(store, policy, clock),
    )
    queue = engine.queue
    loop = DeliveryLoop(scheduler, engine, queue, listener, store, clock, settings.ESCALATOR_TICK)
    return Delivery(engine, queue, scheduler, loop, listener, senders)


def build_engine(
    settings: Settings,
    policy: Policy,
    runtime: Runtime,
    senders: ThreadPoolExecutor | None = None,
    on_done: Callable[[], None] = lambda: None,
) -> Engine:
    """The delivery engine alone: what a command that delivers its own messages once needs (no wake-up
    bell, which a running delivery process owns)."""
    store, clock, gateway = runtime.store, runtime.clock, runtime.gateway
    assert isinstance(gateway.pacer, Pacer)
    queue = OutboxQueue(store, clock, gateway.pacer, settings.SLACK_API_TIMEOUT, policy.supervisors.channel)
    handlers = all_handlers(Delivering(gateway, Poster(gateway), store, policy, clock, runtime.directory))
    return Engine(queue, gateway.pacer, handlers, clock, senders, settings.ESCALATOR_THREADS, on_done=on_done)


class Worker:
    """Everything one process serves Slack with: the web app, and the delivery beside it when this
    process delivers too (Socket Mode, the tests); HTTP mode's web workers leave that to the
    delivery process."""

    def __init__(
        self, bolt: App, web: EscalatorWeb, runtime: Runtime, delivery: Delivery | None, after_ack: Executor
    ) -> None:
        self.bolt = bolt
        self.web = web
        self.runtime = runtime
        self.delivery = delivery
        self._after_ack = after_ack

    def close(self) -> None:
        """Finish what was started: the work listeners do after their ack, then the delivery's round."""
        self._after_ack.shutdown(wait=True)
        if self.delivery is not None:
            self.delivery.close()
        self.runtime.store.dispose()


def build_worker(
    settings: Settings,
    policy: Policy,
    clock: Clock | None = None,
    *,
    delivers: bool = True,
    background: bool = True,
    executor: Executor | None = None,
    limits: Mapping[str, Limit] = SLACK_LIMITS,
) -> Worker:
    """One process's app. `delivers`: it also delivers what its listeners queue, at once, and (with
    `background`) runs the delivery loop in a thread; tests pass their own clock and tick it
    themselves. Without, it is one of HTTP mode's web workers: it acknowledges and stores, and its
    commits wake the delivery process. `limits`: Slack's rate limits, as the pacer keeps them."""
    # Whatever this process's listeners wait for before Slack's answer is bounded by ACK_WAITS.
    store = Store(settings.DATABASE_URL, pool_size=settings.ESCALATOR_THREADS, waits=ACK_WAITS)
    runtime = build_runtime(settings, policy, store, clock or SystemClock(), limits)
    # Listeners ack on the request's own thread, then hand the rest of their work to this pool.
    after_ack = executor or ContextThreadPool(
        max_workers=settings.ESCALATOR_THREADS, thread_name_prefix="after-ack"
    )
    bolt = build_bolt_app(settings, runtime, after_ack)
    delivery = build_delivery(settings, policy, runtime) if delivers else None
    if delivery is not None:
        deliver = delivery.engine.deliver
        runtime.after_commit = lambda ids: runtime.after_ack({}, None, lambda: deliver(ids))
        if background:
            delivery.start_in_background()
    web = EscalatorWeb(
        bolt,
        store,
        settings.ESCALATOR_API_TOKEN,
        lambda day, count: record_contacts(store, runtime.clock, day, count),
        DatabaseFigures(store, runtime.clock),
    )
    return Worker(bolt, web, runtime, delivery, after_ack)


def web_worker_factory(settings: Settings, policy: Policy) -> Callable[[], Worker]:
    return lambda: build_worker(settings, policy, delivers=False)


def run_deliverer(settings: Settings, policy: Policy, probes_port: int | None = None) -> None:
    """`escalator deliver`: timers, digests, purges and every Slack message the outbox holds, sending
    ESCALATOR_THREADS at once, until SIGTERM."""
    store = Store(settings.DATABASE_URL, pool_size=settings.ESCALATOR_THREADS)
    runtime = build_runtime(settings, policy, store, SystemClock())
    senders = ThreadPoolExecutor(max_workers=settings.ESCALATOR_THREADS, thread_name_prefix="deliver")
    delivery = build_delivery(settings, policy, runtime, senders)
    probes = None
    if probes_port is not None:
        web = DeliveryProbes(delivery.loop, store, DatabaseFigures(store, runtime.clock))
        probes = lambda: serve_probes(probes_port, web)  # noqa: E731
    run_delivery_process(delivery.loop, senders, (delivery.listener.close, store.dispose), probes)

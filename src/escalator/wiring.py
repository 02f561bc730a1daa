"""Assembling one worker: store → gateway and outbox → Bolt app → WSGI app.

app.py runs this in every worker process; the tests run the very same assembly in-process.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import NoReturn

from slack_bolt import App
from sqlalchemy.exc import SQLAlchemyError

from escalator.checks import failed, policy_checks, workspace_checks
from escalator.clock import Clock, SystemClock
from escalator.errors import ConfigurationError
from escalator.log_format import ContextThreadPool, chosen_format, use_format
from escalator.logs import install_redaction, remember_secrets
from escalator.metrics import DatabaseFigures, share_between_processes
from escalator.policy import Policy, load_policy
from escalator.scheduler import Scheduler, Wake
from escalator.services.digest import Digests, record_contacts
from escalator.services.privacy import RetentionPurge
from escalator.settings import Settings, load_settings
from escalator.slack.bolt_app import build_bolt_app, build_gateway, build_runtime
from escalator.slack.gateway import BotIdentity, SlackCallFailed, SlackGateway
from escalator.slack.runtime import Runtime
from escalator.store.database import Store
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


def prepare_start(settings: Settings, policy: Policy) -> None:
    """Before any worker starts: check the bot token with Slack, create or upgrade the schema, and run
    `escalator check`'s workspace and policy checks, logging what fails (the app starts anyway)."""
    if not settings.socket_mode:
        share_between_processes()  # before the first figure is counted, and before gunicorn forks
    gateway = build_gateway(settings)
    identity = verify_bot_token(gateway)
    migrate_or_exit(settings.DATABASE_URL)
    checks = policy_checks(policy, SystemClock().now())
    if identity is not None:  # else each lookup would wait out SLACK_API_TIMEOUT in turn
        checks += workspace_checks(gateway, policy, identity)
    for check in checks:
        if check.passed is False:
            log.warning(
                "check failed: %s: %s%s",
                check.subject,
                check.detail,
                f"; fix: {check.fix}" if check.fix else "",
            )
    if not failed(checks):
        log.info("all %d workspace and policy checks passed", len(checks))


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


class Worker:
    """Everything one worker process runs: the web app, and the scheduler ticking beside it."""

    def __init__(
        self, bolt: App, web: EscalatorWeb, runtime: Runtime, scheduler: Scheduler, listeners: Executor
    ) -> None:
        self.bolt = bolt
        self.web = web
        self.runtime = runtime
        self.scheduler = scheduler
        self._listeners = listeners

    def close(self) -> None:
        """Finish what was started: the work listeners do after their ack, then the scheduler's tick."""
        self._listeners.shutdown(wait=True)
        self.scheduler.stop()
        self.runtime.store.dispose()


def build_worker(
    settings: Settings,
    policy: Policy,
    clock: Clock | None = None,
    *,
    background: bool = True,
    executor: Executor | None = None,
    wake: Wake | None = None,
) -> Worker:
    """One worker. Tests pass their own clock, tick its scheduler themselves, and watch its listeners.

    With `wake`, it is one of HTTP mode's web workers: it acknowledges and stores, and leaves the
    timers and the Slack deliveries to the delivery process, which `wake` rouses.
    """
    store = Store(settings.DATABASE_URL, pool_size=settings.ESCALATOR_THREADS)
    runtime = build_runtime(settings, policy, store, clock or SystemClock(), wake)
    # Listeners ack first, then keep working on this pool while Slack already has its answer.
    listeners = executor or ContextThreadPool(
        max_workers=settings.ESCALATOR_THREADS, thread_name_prefix="bolt"
    )
    bolt = build_bolt_app(settings, runtime, listeners)
    scheduler = build_scheduler(settings, policy, runtime)
    if background and wake is None:
        scheduler.start()
    web = EscalatorWeb(
        bolt,
        store,
        settings.ESCALATOR_API_TOKEN,
        lambda day, count: record_contacts(store, runtime.clock, day, count),
        DatabaseFigures(store, runtime.clock),
    )
    return Worker(bolt, web, runtime, scheduler, listeners)


def build_scheduler(
    settings: Settings, policy: Policy, runtime: Runtime, wake: Wake | None = None
) -> Scheduler:
    store, clock = runtime.store, runtime.clock
    return Scheduler(
        runtime.reminders,
        Digests(store, policy, clock),
        RetentionPurge(store, policy, clock),
        runtime.outbox,
        runtime.directory,
        settings.ESCALATOR_TICK,
        wake,
    )


def web_worker_factory(settings: Settings, policy: Policy, wake: Wake) -> Callable[[], Worker]:
    return lambda: build_worker(settings, policy, wake=wake)


def run_deliverer(settings: Settings, policy: Policy, wake: Wake) -> None:
    """The delivery process of HTTP mode: timers, digests, purges and every Slack message the outbox
    holds, ticking until SIGTERM, which lets the tick in progress finish."""
    store = Store(settings.DATABASE_URL, pool_size=settings.ESCALATOR_THREADS)
    senders = ThreadPoolExecutor(max_workers=settings.ESCALATOR_THREADS, thread_name_prefix="deliver")
    runtime = build_runtime(settings, policy, store, SystemClock(), parallel=senders)
    scheduler = build_scheduler(settings, policy, runtime, wake)
    # SIGTERM is awaited, not handled: a handler would interrupt the tick wherever it stood.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the server stops us
    scheduler.start()
    log.info("delivery process started")
    signal.sigwait({signal.SIGTERM})
    scheduler.stop(timeout=25)
    senders.shutdown(wait=True)
    store.dispose()
    log.info("delivery process stopped")

"""Secrets never reach a log line, an error message or standard error, even with every logger at DEBUG
and everything going wrong: Slack errors, rate limits, hangs, forged requests, bad configuration."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from app_process import app_env
from conftest import POLICY_YAML as POLICY_OK
from conftest import ROOT, FakeClock, RunningApp, TrackingExecutor

from escalator.logs import install_redaction, remember_secrets, uninstall_redaction
from escalator.policy import Policy
from escalator.settings import Settings
from escalator.slack.bolt_app import build_gateway
from escalator.standin.sender import SlackSender, handoff_values, sign
from escalator.standin.web_api import Reply, SlackStandIn
from escalator.store.database import Store
from escalator.wiring import build_worker

BOT_TOKEN = "xoxb-9812345678-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
API_TOKEN = "contacts-api-token-0123456789abcdef"
APP_TOKEN = "xapp-1-A0ESCALATOR-1234567890123-abcdef0123456789abcdef"
SECRETS = {
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "ESCALATOR_API_TOKEN": API_TOKEN,
    "SLACK_APP_TOKEN": APP_TOKEN,
}
# Everything that might log a request, a header or a body.
NOISY_LOGGERS = ("slack_sdk", "slack_bolt", "urllib3", "gunicorn", "gunicorn.error", "escalator")
BROKEN_TOKEN = f"{BOT_TOKEN}\n{BOT_TOKEN}"  # a secret file with the token pasted twice


def leaks(text: str) -> list[str]:
    """Which secrets show in `text`: whole, or their last 16 characters (a half-redacted one)."""
    return [name for name, value in SECRETS.items() if value in text or value[-16:] in text]


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Each record as a handler would write it: message, arguments, traceback and stack."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) + f" {record.args!r}" for record in caplog.records)


@pytest.fixture
def redaction(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Installed as the app installs it: configure_logging() → install_redaction(), then
    load_configuration() → remember_secrets(settings)."""
    for name, value in SECRETS.items():
        if name != "SLACK_APP_TOKEN":  # set, it would mean Socket Mode
            monkeypatch.setenv(name, value)
    install_redaction()
    yield
    uninstall_redaction()


@pytest.fixture
def secret_app(
    redaction: None,
    store: object,
    database_url: str,
    slack_api: SlackStandIn,
    clock: FakeClock,
    policy: Policy,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[RunningApp]:
    """The app with real-looking secrets, every noisy logger at DEBUG."""
    settings = Settings(
        DATABASE_URL=database_url,
        SLACK_API_URL=slack_api.url,
        SLACK_API_TIMEOUT=1.0,
        ESCALATOR_API_TOKEN=API_TOKEN,
        _env_file=None,  # type: ignore[call-arg]
    )
    assert settings.SLACK_BOT_TOKEN == BOT_TOKEN  # read from the environment, as in production
    remember_secrets(settings)
    caplog.set_level(logging.DEBUG)
    for name in NOISY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    slack_api.clock = lambda: clock.now().timestamp()  # type: ignore[attr-defined]
    executor = TrackingExecutor(max_workers=8)
    worker = build_worker(settings, policy, clock, background=False, executor=executor)
    app = RunningApp(worker, executor, clock, slack_api.response_url)
    app.slack = SlackSender(
        app.slack.events_url.removesuffix("/slack/events"), SIGNING_SECRET, slack_api.response_url
    )
    yield app
    app.close()


def test_nothing_logged_or_answered_shows_a_secret(
    secret_app: RunningApp, slack_api: SlackStandIn, caplog: pytest.LogCaptureFixture
):
    app, sender = secret_app, secret_app.slack
    base = sender.events_url.removesuffix("/slack/events")
    answers: list[requests.Response] = []

    # The form opens; then Slack refuses a trigger.
    answers.append(sender.command("refund"))
    slack_api.wait_for("views.open")
    slack_api.script("views.open", Reply.error("expired_trigger_id"))
    answers.append(sender.command("refund again"))
    slack_api.wait_for("response_url")

    # The card meets a rate limit, then a 503, then a hang, then goes out.
    slack_api.script(
        "chat.postMessage", Reply.rate_limited(1), Reply.server_error(), Reply(delay=1.5, body={"ok": True})
    )
    answers.append(sender.submit(handoff_values()))
    app.settle()
    for _ in range(4):
        app.clock.advance(seconds=30)
        app.deliver_due()
    # The token is revoked mid-run: Slack answers invalid_auth to the claim's card update.
    slack_api.script("chat.update", Reply.error("invalid_auth"))
    answers.append(sender.press("claim", 1, "U0ALEX"))
    app.settle()
    app.clock.advance(seconds=30)
    app.deliver_due()

    # Forged requests: a wrong signature, a stale one, one signed with another secret, no signature.
    body = "command=%2Fescalate&text=x&user_id=U0AGENT&trigger_id=1.2.3"
    form = "application/x-www-form-urlencoded"
    answers.append(sender.post(body, form, signature="v0=" + "0" * 64))
    answers.append(sender.post(body, form, timestamp=1, signature=sign(SIGNING_SECRET, "1", body)))
    answers.append(sender.post(body, form, signature=sign("another-signing-secret", "0", body)))
    answers.append(requests.post(sender.events_url, data=body, timeout=5))

    # The contacts API: no token, a wrong one, a prefix of the right one, the right one with a bad body.
    contacts = base + "/api/contacts"
    for authorization in (
        "",
        "Bearer wrong-token-0123456789",
        f"Bearer {API_TOKEN[:-1]}",
        f"Basic {API_TOKEN}",
    ):
        answers.append(
            requests.post(
                contacts,
                json={"date": "2026-11-24", "count": 3},
                headers={"Authorization": authorization},
                timeout=5,
            )
        )
    answers.append(
        requests.post(contacts, data=b"{", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=5)
    )
    answers.append(
        requests.post(
            contacts,
            json={"date": "2026-11-24", "count": 3},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=5,
        )
    )

    # A token with a line break in it: slack_sdk logs the header it refuses, Bearer token and all.
    broken = build_gateway(_settings_with_token(BROKEN_TOKEN, slack_api))
    with pytest.raises(Exception) as failure:
        broken.call("auth.test")
    logging.getLogger("escalator").exception("could not call Slack: %s", failure.value)
    app.settle()

    assert [a.status_code for a in answers[-6:]] == [401, 401, 401, 401, 400, 200]
    assert [a.status_code for a in answers[4:8]] == [401, 401, 401, 401]
    # The secrets were in play: Slack got the token, slack_sdk logged at DEBUG, the stand-in got errors.
    assert slack_api.calls[0].headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert len([c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == "C0123BILL"]) >= 3
    assert any(r.name.startswith("slack_sdk") and r.levelno == logging.DEBUG for r in caplog.records)
    assert any("Invalid header value" in r.getMessage() for r in caplog.records)
    logged = everything_logged(caplog)
    assert leaks(logged) == [], [line for line in logged.splitlines() if leaks(line)][:3]
    assert leaks(" ".join(a.text for a in answers)) == []


def _settings_with_token(token: str, slack_api: SlackStandIn) -> Settings:
    """Settings refuse such a token (see below); the gateway must not leak one that got through anyway."""
    return Settings.model_construct(SLACK_BOT_TOKEN=token, SLACK_API_URL=slack_api.url, SLACK_API_TIMEOUT=1.0)


# `python app.py` with a broken configuration, its loggers at DEBUG: what reaches standard error.

RUN_APP_AT_DEBUG = f"""
import logging, runpy, sys
import escalator.wiring as wiring

configure = wiring.configure_logging

def configure_at_debug():
    configure()
    logging.getLogger().setLevel(logging.DEBUG)
    for name in {NOISY_LOGGERS!r}:
        logging.getLogger(name).setLevel(logging.DEBUG)

wiring.configure_logging = configure_at_debug
sys.argv = ["app.py"]
runpy.run_path({str(ROOT / "app.py")!r}, run_name="__main__")
"""


# The same, with the redaction wired the way configure_logging and load_configuration are to wire it.
def new_case(tmp_path: Path, policy: str = POLICY_OK) -> Path:
    """A working directory of its own for one run: its policy file and its SQLite database."""
    case = tmp_path / str(len(list(tmp_path.iterdir())))
    case.mkdir()
    (case / "policy.yml").write_text(policy)
    return case


def run_at_debug(case: Path, command: list[str], **env: str) -> subprocess.Popen[str]:
    """Started, not waited for: the cases run side by side (each process takes a second to import)."""
    base = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "ESCALATOR_API_TOKEN": API_TOKEN,
        "DATABASE_URL": f"sqlite:///{case / 'escalator.db'}",
    }
    return subprocess.Popen(
        command,
        cwd=case,
        env=app_env(case, **{**base, **env}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"still running after 60 s:\n{err[-2000:]}") from None
    return process.returncode, out + err


def test_configuration_errors_name_the_variable_never_its_value(tmp_path: Path, slack_api: SlackStandIn):
    app = [sys.executable, "-c", RUN_APP_AT_DEBUG]
    refused = SlackStandIn().start()  # a Slack that refuses the bot token
    refused.script("auth.test", Reply.error("invalid_auth"))
    slack_api.script("apps.connections.open", Reply.error("invalid_auth"))
    try:
        broken_policy = POLICY_OK.replace("    channel: C0123BILL\n", "")
        cases = {
            "bad policy": run_at_debug(new_case(tmp_path, broken_policy), app, SLACK_API_URL=slack_api.url),
            # Both wrong at once: load_settings names every bad variable in one message.
            "bad variables": run_at_debug(
                new_case(tmp_path), app, ESCALATOR_API_TOKEN="short-secret-1", SLACK_APP_TOKEN=BOT_TOKEN
            ),
            "bot token refused": run_at_debug(new_case(tmp_path), app, SLACK_API_URL=refused.url),
            "app token refused": run_at_debug(
                new_case(tmp_path), app, SLACK_API_URL=slack_api.url, SLACK_APP_TOKEN=APP_TOKEN
            ),
        }
        results = {name: finished(process) for name, process in cases.items()}
    finally:
        refused.stop()

    for name, (status, output) in results.items():
        assert leaks(output) == [], (name, output[-3000:])
        assert status == 2, (name, output[-3000:])
        assert "short-secret-1" not in output, name
    assert "paths.billing.channel: field required" in results["bad policy"][1]
    assert "ESCALATOR_API_TOKEN is invalid" in results["bad variables"][1]
    assert "SLACK_APP_TOKEN is invalid" in results["bad variables"][1]
    assert "SLACK_BOT_TOKEN was refused by Slack (invalid_auth)" in results["bot token refused"][1]
    assert "SLACK_APP_TOKEN was refused by Slack (invalid_auth)" in results["app token refused"][1]


def test_a_token_with_a_line_break_is_not_printed_by_the_app(tmp_path: Path, slack_api: SlackStandIn):
    app = [sys.executable, "-c", RUN_APP_AT_DEBUG]
    process = run_at_debug(new_case(tmp_path), app, SLACK_API_URL=slack_api.url, SLACK_BOT_TOKEN=BROKEN_TOKEN)
    status, output = finished(process)
    assert leaks(output) == [], output[-3000:]
    assert status == 2 and "SLACK_BOT_TOKEN" in output


def test_a_token_with_a_line_break_is_not_printed_by_the_digest_command(
    tmp_path: Path, slack_api: SlackStandIn
):
    case = new_case(tmp_path)
    Store(f"sqlite:///{case / 'escalator.db'}").migrate()
    command = [str(Path(sys.executable).with_name("escalator")), "digest", "--date", "2026-11-24"]
    status, output = finished(
        run_at_debug(case, command, SLACK_API_URL=slack_api.url, SLACK_BOT_TOKEN=BROKEN_TOKEN)
    )
    assert leaks(output) == [], output[-3000:]
    assert status != 0

"""The processes as a deployer runs them, killed and stopped for real: `python app.py` (a supervisor,
`escalator web` and `escalator deliver`), and the two process types run apart."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from app_process import (
    alive,
    child_running,
    escalator_command,
    free_port,
    process_log,
    process_tree,
    serve_against,
    signed_in_env,
    start_process,
    stop_app_process,
)
from conftest import SIGNING_SECRET
from sqlalchemy import func
from sqlalchemy import select as sql_select

from escalator.domain.escalation import Escalation
from escalator.standin.sender import SlackSender, handoff_values, select, text
from escalator.standin.web_api import SlackStandIn
from escalator.store.database import Store

CASES = 20


def _submission(n: int) -> dict:
    # Half billing, half technical: Slack takes about a card a second into each channel.
    path = "billing" if n % 2 else "technical"
    return handoff_values(customer_name=text(f"Customer {n:02d}"), path=select(path))


def _submit_all(
    sender: SlackSender, during: Callable[[int], None] = lambda n: None, cases: int = CASES
) -> list[float]:
    """`cases` agents submit at once (the form's view id makes a resubmission the same case); returns
    how long each acknowledgement took. `during(n)` runs as the n-th is sent."""

    def one(n: int) -> float:
        during(n)
        view_id = f"VLOAD{n:04d}"
        for _ in range(5):  # a worker killed while it held the request: the agent presses again
            started = time.monotonic()
            try:
                answer = sender.submit(_submission(n), view_id=view_id, user_id=f"U0AGENT{n:02d}")
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                continue  # no answer, or half of one: Slack shows the agent an error and retries
            assert answer.json()["response_action"] == "update"
            return time.monotonic() - started
        raise AssertionError(f"submission {n} was never answered")

    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(one, range(cases)))


def _every_card_once(slack_api: SlackStandIn, database_url: str, timeout: float, cases: int = CASES) -> None:
    """Every case stored once, and its card in its channel once, within `timeout`."""
    store = Store(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with store.reading() as tx:
                stored = tx.session.scalar(sql_select(func.count()).select_from(Escalation))
                carded = tx.session.scalar(
                    sql_select(func.count()).select_from(Escalation).where(Escalation.card_ts.is_not(None))
                )
            if stored == cases and carded == cases:
                break
            assert time.monotonic() < deadline, f"{carded} of {stored} cases have their card"
            time.sleep(0.2)
    finally:
        store.dispose()
    cards = [
        m["text"]
        for channel in ("C0123BILL", "C0123TECH")
        for m in slack_api.posted[channel]
        if "thread_ts" not in m
    ]
    assert len(cards) == cases and len(set(cards)) == cases, cards


def _web_workers(app: subprocess.Popen[str]) -> list[int]:
    web = child_running(app.pid, "escalator web")
    return [pid for pid in process_tree(web) if pid != web]


def test_killing_the_delivery_process_under_load_slows_no_ack_and_loses_nothing(
    tmp_path: Path, policy_file: Path, slack_api: SlackStandIn, database_url: str
):
    app, base = serve_against(tmp_path, slack_api, DATABASE_URL=database_url, SLACK_API_TIMEOUT="1")
    sender = SlackSender(base, SIGNING_SECRET, slack_api.response_url)
    deliverer = child_running(app.pid, "escalator deliver")
    try:

        def kill_midway(n: int) -> None:
            if n == CASES // 2:
                os.kill(deliverer, signal.SIGKILL)

        acks = _submit_all(sender, kill_midway)
        _every_card_once(slack_api, database_url, timeout=60)  # the dead one's leases run out first
        assert child_running(app.pid, "escalator deliver") != deliverer  # started again
    finally:
        log = stop_app_process(app)
    assert max(acks) < 3.0, acks
    assert "the delivery process was killed by SIGKILL" in log


def test_killing_a_web_worker_under_load_loses_nothing_and_does_nothing_twice(
    tmp_path: Path, policy_file: Path, slack_api: SlackStandIn, database_url: str
):
    app, base = serve_against(tmp_path, slack_api, DATABASE_URL=database_url)
    sender = SlackSender(base, SIGNING_SECRET, slack_api.response_url)
    try:
        victim = _web_workers(app)[0]

        def kill_midway(n: int) -> None:
            if n == CASES // 2:
                os.kill(victim, signal.SIGKILL)

        acks = _submit_all(sender, kill_midway)
        _every_card_once(slack_api, database_url, timeout=40)
        assert victim not in _web_workers(app) and len(_web_workers(app)) == 2  # gunicorn started another
    finally:
        stop_app_process(app)
    assert max(acks) < 3.0, acks


def test_a_stuck_delivery_process_never_slows_an_acknowledgement(
    tmp_path: Path, policy_file: Path, slack_api: SlackStandIn, database_url: str
):
    app, base = serve_against(tmp_path, slack_api, DATABASE_URL=database_url)
    sender = SlackSender(base, SIGNING_SECRET, slack_api.response_url)
    deliverer = child_running(app.pid, "escalator deliver")
    os.kill(deliverer, signal.SIGSTOP)  # alive, holding its connections, and hearing nothing
    try:
        acks = _submit_all(sender, cases=10)
        assert not slack_api.calls_to("chat.postMessage")
        os.kill(deliverer, signal.SIGCONT)
        _every_card_once(slack_api, database_url, timeout=40, cases=10)
    finally:
        os.kill(deliverer, signal.SIGCONT)
        stop_app_process(app)
    assert max(acks) < 1.0, acks


@pytest.mark.parametrize("how", ["sigterm_to_every_process", "ctrl_c"])
def test_stopping_stops_every_process_and_starts_none_again(
    tmp_path: Path, policy_file: Path, slack_api: SlackStandIn, how: str
):
    app, base = serve_against(tmp_path, slack_api, DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}")
    SlackSender(base, SIGNING_SECRET, slack_api.response_url).submit(handoff_values())
    tree = process_tree(app.pid)
    assert len(tree) == 5  # the supervisor; the web process and its two workers; the delivery process
    if how == "ctrl_c":
        app.send_signal(signal.SIGINT)  # a terminal sends it to the supervisor's group only
    else:
        for pid in tree:  # as systemd stops a service: every process of it at once
            os.kill(pid, signal.SIGTERM)
    assert app.wait(timeout=40) == 0
    time.sleep(1.0)  # anything started again would be running by now
    assert [pid for pid in process_tree(app.pid) + tree if alive(pid)] == []
    log = process_log(app)
    assert "starting it again" not in log and "started the delivery process" in log


def test_the_supervisor_starts_a_dying_process_again_after_a_growing_pause(
    tmp_path: Path, policy_file: Path, slack_api: SlackStandIn
):
    app, _ = serve_against(tmp_path, slack_api, DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}")
    try:
        for pause in ("0.25", "0.50", "1.00"):
            deliverer = child_running(app.pid, "escalator deliver")
            os.kill(deliverer, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while f"starting it again in {pause} s" not in process_log(app):
                assert time.monotonic() < deadline, process_log(app)
                time.sleep(0.05)
            while alive(deliverer) or _delivering(app) in (None, deliverer):
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        stop_app_process(app)


def _delivering(app: subprocess.Popen[str]) -> int | None:
    try:
        return child_running(app.pid, "escalator deliver")
    except AssertionError:
        return None


def _start_deliverer(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = str(free_port())  # its /healthz and /metrics
    return start_process(tmp_path, escalator_command("deliver", "--port", port), **{**env, "PORT": port})


@pytest.fixture
def apart(tmp_path: Path, policy_file: Path, slack_api: SlackStandIn, postgres_url: str) -> Iterator[str]:
    """`escalator web` and two `escalator deliver`, as two machines' worth of a deployment run them."""
    env = signed_in_env(slack_api, DATABASE_URL=postgres_url, ESCALATOR_WORKERS="2")
    web, base = start_process(tmp_path, escalator_command("web"), **env)
    deliverers = [_start_deliverer(tmp_path, env) for _ in range(2)]
    try:
        yield base
    finally:
        for process in [web, *(d for d, _ in deliverers)]:
            stop_app_process(process)


def test_web_and_delivery_processes_run_apart_and_share_the_work(
    apart: str, slack_api: SlackStandIn, postgres_url: str
):
    acks = _submit_all(SlackSender(apart, SIGNING_SECRET, slack_api.response_url))
    _every_card_once(slack_api, postgres_url, timeout=40)
    assert max(acks) < 3.0
    store = Store(postgres_url)
    try:
        with store.reading() as tx:
            assert len(tx.processes.seen()) == 2  # both say they are alive
    finally:
        store.dispose()


def test_the_delivery_processes_own_probes_say_when_it_is_stuck(
    tmp_path: Path, policy_file: Path, slack_api: SlackStandIn
):
    env = signed_in_env(slack_api, DATABASE_URL=f"sqlite:///{tmp_path / 'e.db'}", ESCALATOR_TICK="0.1")
    deliverer, base = _start_deliverer(tmp_path, env)
    try:
        assert requests.get(base + "/healthz", timeout=2).json() == {
            "status": "ok",
            "database": "ok",
            "delivering": "ok",
        }
        assert "escalator_delivery_processes 1.0" in requests.get(base + "/metrics", timeout=2).text
    finally:
        stop_app_process(deliverer)
    with sqlite3.connect(tmp_path / "e.db") as db:
        assert db.execute("SELECT count(*) FROM delivery_processes").fetchone() == (0,)  # said goodbye

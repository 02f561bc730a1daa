"""Running `python app.py` as a deployer does, for the tests that need a real process and signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from conftest import BOT_TOKEN, ROOT, SIGNING_SECRET
from slack_api_stub import SlackApiStub


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ESCALATOR_", "DATABASE_URL"))}
    env.update(extra)
    return env


def run_app(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env=app_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_app_process(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    """Start `python app.py` and wait until /healthz answers 200."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env=app_env(tmp_path, PORT=str(port), **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a test can kill the master and workers at once
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except requests.RequestException:  # not listening yet, or listening while its workers start
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("app did not start:\n" + (process.stderr.read() if process.stderr else ""))
        time.sleep(0.1)


def serve_against(tmp_path: Path, slack_api: SlackApiStub, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`python app.py` signed in with the tests' secrets and talking to `slack_api`; `env` adds or
    overrides variables (DATABASE_URL, ESCALATOR_WORKERS, …)."""
    return start_app_process(
        tmp_path,
        **{
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_api.url,
            "ESCALATOR_TICK": "0.2",
            **env,
        },
    )


def stop_app_process(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as a deployer's supervisor sends it; the app must exit cleanly. Returns its log."""
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=30)
    assert process.returncode == 0, log
    return log

"""Running `python app.py` as a deployer does, for the tests that need a real process and signals."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from conftest import BOT_TOKEN, ROOT, SIGNING_SECRET

from escalator.standin.web_api import SlackStandIn


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
    return start_process(tmp_path, [sys.executable, str(ROOT / "app.py")], **env)


def start_process(tmp_path: Path, argv: list[str], **env: str) -> tuple[subprocess.Popen[str], str]:
    """Start a process of the app (`argv`) on a free PORT and wait until its /healthz answers 200."""
    port = env.pop("PORT", None) or str(free_port())
    # Its log goes to a file: a pipe nobody reads until the end would fill, and stop the app writing.
    log = tmp_path / f"process-{port}.log"
    process = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=app_env(tmp_path, PORT=port, **env),
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,  # its own process group: a test can kill the master and workers at once
    )
    _LOGS[process.pid] = log
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
            raise AssertionError("app did not start:\n" + log.read_text())
        time.sleep(0.1)


_LOGS: dict[int, Path] = {}


def process_log(process: subprocess.Popen[str]) -> str:
    """What a process started here has written to standard error so far."""
    return _LOGS[process.pid].read_text()


def escalator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "escalator", *args]


def signed_in_env(slack_api: SlackStandIn, **env: str) -> dict[str, str]:
    """Signed in with the tests' secrets, talking to `slack_api`; `env` adds or overrides variables."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api.url,
        "ESCALATOR_TICK": "0.2",
        **env,
    }


def serve_against(tmp_path: Path, slack_api: SlackStandIn, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`python app.py` signed in with the tests' secrets and talking to `slack_api`; `env` adds or
    overrides variables (DATABASE_URL, ESCALATOR_WORKERS, …)."""
    return start_app_process(tmp_path, **signed_in_env(slack_api, **env))


def stop_app_process(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as a deployer's supervisor sends it; the app must exit cleanly. Returns its log."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=40)
    log = process_log(process)
    assert process.returncode == 0, log
    return log


def process_tree(pid: int) -> list[int]:
    """`pid` and every process descending from it, read from /proc (the supervisor's children run in
    process groups of their own, so a process group is not the whole app)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, waiting = [], [pid]
    while waiting:
        current = waiting.pop()
        tree.append(current)
        waiting.extend(parents.get(current, []))
    return tree


def alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_tree(pid: int) -> None:
    """SIGKILL the app and every process of it at once, as a machine losing power would."""
    for member in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def child_running(pid: int, command: str) -> int:
    """The pid of the app's process whose command line holds `command` (`escalator deliver`, say)."""
    for member in process_tree(pid):
        try:
            argv = Path(f"/proc/{member}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command.encode() in b" ".join(argv):
            return member
    raise AssertionError(f"no process runs {command!r}")

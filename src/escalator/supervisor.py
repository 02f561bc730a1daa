"""`python app.py` in HTTP mode on one machine: the web process and the delivery process, supervised.

A small single-threaded parent starts each as a program of its own (`escalator web`, `escalator
deliver`: fork and exec, never a fork of a threaded process), restarts one that dies with a growing
pause, and on SIGTERM or SIGINT stops both and restarts nothing: each gets SIGTERM and the grace
period to finish what it started, then SIGKILL. It holds the listening socket itself and hands it to
the web process, so that while that is being restarted Slack's requests wait in the socket's queue
instead of being refused. Children run in process groups of their own (a terminal's Ctrl-C reaches the
parent only, which stops them gracefully) and, on Linux, receive SIGTERM should the parent be killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from escalator.metrics import forget_shared, share_between_processes
from escalator.settings import Settings

log = logging.getLogger(__name__)

GRACE = 30.0  # seconds the children have to finish after SIGTERM (gunicorn's own grace is 20)
DELIVERY_NICENESS = 10
STABLE_AFTER = 60.0  # a child that ran this long before dying is restarted at once, not after a pause
FIRST_PAUSE, LONGEST_PAUSE = 0.25, 30.0
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    niceness: int = 0
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = field(default=None)


def listening_socket(port: int) -> socket.socket:
    """The port Slack sends to, bound once for the life of the app."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def escalator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "escalator", *args]


class Supervisor:
    def __init__(self, children: list[Child], grace: float = GRACE) -> None:
        self._children = children
        self._grace = grace
        self._stop: int | None = None

    def run(self) -> int:
        """Until SIGTERM or SIGINT; returns the exit status."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request_stop)
        for child in self._children:
            self._start(child)
        while self._stop is None:
            now = time.monotonic()
            for child in self._children:
                if child.process is not None and child.process.poll() is not None:
                    self._died(child, now)
                if child.process is None and child.restart_at is not None and now >= child.restart_at:
                    self._start(child)
            time.sleep(0.1)
        log.info(
            "stopping (%s): the web and delivery processes finish what they started",
            signal.Signals(self._stop).name,
        )
        return self._stop_children()

    def _request_stop(self, signum: int, _frame: Any) -> None:
        self._stop = signum

    def _start(self, child: Child) -> None:
        if self._stop is not None:
            return
        niceness = child.niceness

        def in_child() -> None:  # between fork and exec, in a single-threaded parent
            if niceness:
                os.nice(niceness)
            _terminate_with_parent()

        child.process = subprocess.Popen(
            child.argv, pass_fds=child.pass_fds, process_group=0, preexec_fn=in_child
        )
        child.started_at, child.restart_at = time.monotonic(), None
        log.info("started the %s process (pid %s)", child.name, child.process.pid)

    def _died(self, child: Child, now: float) -> None:
        assert child.process is not None
        code = child.process.returncode
        child.process = None
        ran = now - child.started_at
        child.quick_deaths = 0 if ran >= STABLE_AFTER else child.quick_deaths + 1
        pause = (
            0.0 if not child.quick_deaths else min(FIRST_PAUSE * 2 ** (child.quick_deaths - 1), LONGEST_PAUSE)
        )
        # Never at once: if the whole group was told to stop, our own SIGTERM is handled first.
        pause = max(pause, FIRST_PAUSE)
        child.restart_at = now + pause
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        log.error("the %s process %s after %.0f s; starting it again in %.2f s", child.name, how, ran, pause)

    def _stop_children(self) -> int:
        running = [c.process for c in self._children if c.process is not None and c.process.poll() is None]
        for process in running:
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        while any(p.poll() is None for p in running) and time.monotonic() < deadline:
            time.sleep(0.1)
        for process in running:
            if process.poll() is None:
                log.error("pid %s did not stop within %.0f s: killing it", process.pid, self._grace)
                _signal(process, signal.SIGKILL)
                process.wait()
        return 0


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    """The child and its own children (gunicorn's workers): its whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


# Loaded in the parent: between fork and exec the child only calls it.
_LIBC = (
    ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform.startswith("linux") else None
)


def _terminate_with_parent() -> None:
    """Linux: SIGTERM this process if the supervisor dies (SIGKILL included), so nothing is left running."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise_http(settings: Settings) -> int:
    """HTTP mode on one machine: `escalator web` and `escalator deliver` beside each other, their
    /metrics figures added up in one folder."""
    shared = share_between_processes()
    listener = listening_socket(settings.PORT)
    fd = listener.fileno()
    children = [
        Child("web", escalator_command("web", "--prepared", "--listen-fd", str(fd)), pass_fds=(fd,)),
        # At a lower CPU priority: under a burst, acknowledgements keep Slack's 3 seconds and deliveries
        # wait their turn in the database.
        Child("delivery", escalator_command("deliver", "--prepared"), niceness=DELIVERY_NICENESS),
    ]
    try:
        return Supervisor(children).run()
    finally:
        listener.close()
        forget_shared(shared)

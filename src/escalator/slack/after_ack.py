"""Work a listener does once Slack has its answer.

Listeners run on the web server's request thread (Bolt's `process_before_response`), so Slack's
answer leaves the moment the listener returns: whatever comes after `ack()` is handed to a pool of
its own, which acknowledgements never queue behind, however slow Slack or the database is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Respond

log = logging.getLogger(__name__)

Work = Callable[[], None]
TellFailure = Callable[[Exception, dict[str, Any], Respond | None], object]


class AfterAck:
    def __init__(self, pool: Executor, tell_failure: TellFailure) -> None:
        self._pool = pool
        self._tell_failure = tell_failure

    def __call__(self, body: dict[str, Any], respond: Respond | None, work: Work) -> None:
        """Run `work` after the ack; if it fails, the person is told as a failed listener's would be."""
        try:
            self._pool.submit(self._run, body, respond, work)
        except RuntimeError:  # the pool is shutting down with the worker: Slack will see no change
            log.warning("a request's work after its ack was dropped: the worker is stopping")

    def _run(self, body: dict[str, Any], respond: Respond | None, work: Work) -> None:
        try:
            work()
        except Exception as exc:  # a listener's own failure, after its ack: tell the person
            self._tell_failure(exc, body, respond)

"""Who is who: which of the policy's user groups a person belongs to, asked of Slack and kept briefly.

Every process keeps its own copy. A lookup reads what is known and, when that has grown old, has it
refreshed in the background, so a button press never waits on Slack for it. Only a group this process
knows nothing of is asked for on the spot — the first time, and again every RETRY_FAILED_AFTER while
Slack will not list it (meanwhile nobody counts as its member). Before an ack, even that is bounded:
the lookup waits at most `within` seconds for Slack's answer, and says so if it had none.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from escalator.clock import Clock
from escalator.domain.lifecycle import Actor
from escalator.policy import Policy
from escalator.slack.gateway import SlackCallFailed, SlackGateway

log = logging.getLogger(__name__)

MEMBERS_TTL = timedelta(minutes=5)  # a change of group membership takes effect within five minutes
RETRY_FAILED_AFTER = timedelta(seconds=30)  # before a group Slack would not list is asked for again
BEFORE_ACK = 1.0  # seconds a lookup made before Slack's answer may wait for Slack
SLACK_SLOW = "I couldn't check with Slack who may do this just now: please try again in a moment."


class DirectoryUnavailable(Exception):
    """Slack did not say in time who is in a user group this process has not listed yet."""


@dataclass(frozen=True)
class _Known:
    members: frozenset[str] | None  # None: Slack would not say
    ask_again_at: datetime


class Directory:
    def __init__(self, gateway: SlackGateway, policy: Policy, clock: Clock) -> None:
        self._gateway = gateway
        self._clock = clock
        self._groups = sorted(policy.usergroups_named())
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()
        self._refreshing: dict[str, threading.Event] = {}  # set when the group's fetch is done

    def actor(self, user_id: str, *, within: float | None = None) -> Actor:
        """Who `user_id` is. `within`: the most to wait for Slack (before an ack), else raise
        DirectoryUnavailable; without, a group never listed is asked for however long it takes."""
        groups = frozenset(group for group in self._groups if user_id in self._members_of(group, within))
        return Actor(user_id, groups)

    def _members_of(self, group: str, within: float | None) -> frozenset[str]:
        with self._lock:
            known = self._known.get(group)
        due = known is None or self._clock.now() >= known.ask_again_at
        if known is None or (due and known.members is None):
            if within is None:
                known = self._fetch(group)
            else:
                fetched = self._refresh_in_background(group)
                if known is None:  # a group that failed before counts as empty meanwhile
                    if not fetched.wait(within):
                        raise DirectoryUnavailable(group)
                    with self._lock:
                        known = self._known[group]
        elif due:
            self._refresh_in_background(group)
        return known.members or frozenset()

    def _refresh_in_background(self, group: str) -> threading.Event:
        with self._lock:
            if group in self._refreshing:
                return self._refreshing[group]
            fetched = self._refreshing[group] = threading.Event()

        def refresh() -> None:
            try:
                self._fetch(group)
            finally:
                with self._lock:
                    del self._refreshing[group]
                fetched.set()

        threading.Thread(target=refresh, name=f"directory-{group}", daemon=True).start()
        return fetched

    def _fetch(self, group: str) -> _Known:
        try:
            users = self._gateway.call("usergroups.users.list", usergroup=group).get("users", [])
            known = _Known(frozenset(users), self._clock.now() + MEMBERS_TTL / 2)
        except SlackCallFailed as exc:
            log.warning("could not list the members of user group %s: %s", group, exc.error)
            with self._lock:
                previous = self._known.get(group)
            # Keep what we knew, and ask again soon; with nothing known, nobody is a member for now.
            members = previous.members if previous else None
            known = _Known(members, self._clock.now() + RETRY_FAILED_AFTER)
        with self._lock:
            self._known[group] = known
        return known

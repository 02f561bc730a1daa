"""Who is who: which of the policy's user groups a person belongs to, asked of Slack and kept briefly.

Lookups read what is known; the scheduler refreshes it in the background, so a button press never
waits on Slack for it (only the very first lookup of a group after start does).
"""

from __future__ import annotations

import logging
import threading
import time

from escalator.domain.lifecycle import Actor
from escalator.policy import Policy
from escalator.slack.gateway import SlackCallFailed, SlackGateway

log = logging.getLogger(__name__)

MEMBERS_TTL = 300.0  # seconds; a change of group membership takes effect within five minutes
RETRY_FAILED_AFTER = 30.0  # seconds before a group Slack would not list is asked for again


class Directory:
    def __init__(self, gateway: SlackGateway, policy: Policy) -> None:
        self._gateway = gateway
        self._groups = sorted(policy.usergroups_named())
        # group → (when asked, members or None when Slack would not say)
        self._members: dict[str, tuple[float, frozenset[str] | None]] = {}
        self._lock = threading.Lock()

    def actor(self, user_id: str) -> Actor:
        groups = frozenset(group for group in self._groups if user_id in self._members_of(group))
        return Actor(user_id, groups)

    def refresh_stale(self) -> None:
        """Ask Slack again for the groups whose membership is old; run by the scheduler's tick."""
        for group in self._groups:
            if self._stale(group):
                self._fetch(group)

    def _members_of(self, group: str) -> frozenset[str]:
        with self._lock:
            known = self._members.get(group)
        if known is None:
            known = self._fetch(group)
        return known[1] or frozenset()

    def _stale(self, group: str) -> bool:
        with self._lock:
            known = self._members.get(group)
        if known is None:
            return True
        age = time.monotonic() - known[0]
        return age > (RETRY_FAILED_AFTER if known[1] is None else MEMBERS_TTL / 2)

    def _fetch(self, group: str) -> tuple[float, frozenset[str] | None]:
        try:
            users = frozenset(self._gateway.call("usergroups.users.list", usergroup=group).get("users", []))
            known: tuple[float, frozenset[str] | None] = (time.monotonic(), users)
        except SlackCallFailed as exc:
            log.warning("could not list the members of user group %s: %s", group, exc.error)
            with self._lock:
                previous = self._members.get(group)
            # Keep what we knew; with nothing known, membership of this group counts as none for now.
            known = (time.monotonic(), previous[1] if previous else None)
        with self._lock:
            self._members[group] = known
        return known

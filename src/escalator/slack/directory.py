"""Who is who: which of the policy's user groups a person belongs to, asked of Slack and kept briefly."""

from __future__ import annotations

import logging
import threading
import time

from escalator.domain.lifecycle import Actor
from escalator.policy import Policy
from escalator.slack.gateway import SlackCallFailed, SlackGateway

log = logging.getLogger(__name__)

MEMBERS_TTL = 300.0  # seconds; a change of group membership takes effect within five minutes


class Directory:
    def __init__(self, gateway: SlackGateway, policy: Policy) -> None:
        self._gateway = gateway
        self._groups = sorted(
            {path.usergroup for path in policy.paths.values() if path.usergroup}
            | ({policy.supervisors.usergroup} if policy.supervisors.usergroup else set())
        )
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def actor(self, user_id: str) -> Actor:
        return Actor(
            user_id, frozenset(group for group in self._groups if user_id in self._members_of(group))
        )

    def _members_of(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._members.get(group)
        if cached and now - cached[0] < MEMBERS_TTL:
            return cached[1]
        try:
            users = frozenset(self._gateway.call("usergroups.users.list", usergroup=group).get("users", []))
        except SlackCallFailed as exc:
            # Keep what we knew; with nothing known, membership of this group counts as none.
            log.warning("could not list the members of user group %s: %s", group, exc.error)
            return cached[1] if cached else frozenset()
        with self._lock:
            self._members[group] = (now, users)
        return users

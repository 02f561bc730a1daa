"""Customer value: a key account's escalation is raised at least at its tier's priority."""

from __future__ import annotations

from dataclasses import dataclass

from escalator.policy import Policy, Priority


@dataclass(frozen=True)
class KeyAccountMatch:
    """A key account found by its number: its tier, the customer's name if listed, the tier's least
    priority, and the priority an escalation of it is raised at."""

    account: str
    tier: str
    name: str | None
    minimum: Priority
    priority: Priority


def most_urgent(first: Priority, second: Priority) -> Priority:
    """P1 is the most urgent."""
    return min(first, second, key=lambda p: list(Priority).index(p))


def key_account_for(account_number: str, chosen: Priority | None, policy: Policy) -> KeyAccountMatch | None:
    """The key account behind `account_number` (matched as `escalator.policy.normalise_account` says), and the
    priority its escalation gets when the agent chose `chosen` (the tier's, when no choice yet)."""
    if policy.key_accounts is None:
        return None
    found = policy.key_accounts.find(account_number)
    if found is None:
        return None
    minimum = policy.key_accounts.tiers[found.tier].priority
    priority = minimum if chosen is None else most_urgent(chosen, minimum)
    return KeyAccountMatch(found.account, found.tier, found.name, minimum, priority)

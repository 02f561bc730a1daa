"""The authority chain: who may approve a refund or credit of a given amount.

The chain is the agent, the supervisors, then the policy's `authority.levels`, lowest first. A refund
goes to the lowest step whose limit covers it; that step, or any above it, decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from escalator.policy import Authority

AGENT = 0  # the agent's own authority: nobody needs to approve
SUPERVISORS = 1  # the supervisors decide with the buttons on the card, in their channel


@dataclass(frozen=True)
class Level:
    """One step of the chain: its place (`rank`), its name, the most it may approve (None: any
    amount), and the people or user group who decide at it (the supervisors' come from the policy's
    supervisors)."""

    rank: int
    name: str
    limit: Decimal | None
    approvers: tuple[str, ...] = ()
    usergroup: str | None = None

    def covers(self, amount: Decimal) -> bool:
        return self.limit is None or amount <= self.limit


def chain(authority: Authority) -> list[Level]:
    """Every step, lowest first."""
    return [
        Level(AGENT, "Agent", authority.agent),
        Level(SUPERVISORS, "Supervisor", authority.supervisor),
        *(
            Level(SUPERVISORS + 1 + n, level.name, level.limit, tuple(level.approvers), level.usergroup)
            for n, level in enumerate(authority.levels)
        ),
    ]


def deciding_level(amount: Decimal | None, authority: Authority) -> Level | None:
    """The lowest step that may decide `amount`; None when it is above every limit the chain has."""
    steps = chain(authority)
    if amount is None:
        return steps[AGENT]
    return next((level for level in steps if level.covers(amount)), None)


def level_at(rank: int, authority: Authority) -> Level | None:
    """The step at `rank`, if the policy (which may have changed since) still has it."""
    steps = chain(authority)
    return steps[rank] if 0 <= rank < len(steps) else None


def highest(authority: Authority) -> Level:
    return chain(authority)[-1]


def rank_of(user_id: str, usergroups: frozenset[str], is_supervisor: bool, authority: Authority) -> int:
    """The highest step this person decides at (the agent's, for most people)."""
    rank = SUPERVISORS if is_supervisor else AGENT
    for level in chain(authority)[SUPERVISORS + 1 :]:
        if user_id in level.approvers or (level.usergroup is not None and level.usergroup in usergroups):
            rank = level.rank
    return rank


def amount_text(amount: Decimal | None) -> str:
    """`1500` → `1,500.00`."""
    return "" if amount is None else f"{amount:,.2f}"

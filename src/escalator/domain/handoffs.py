"""Handoffs (seed: "Keep handoffs to a minimum. Fewer transfers mean less frustration.").

A handoff is a reassignment or a move (to another path, or up to the supervisors), the bot's own
re-escalation at a breach included. Each case counts its handoffs, and each history entry of one
records who held the case when it was passed on, so per-path figures hold after the case moved.
"""

from __future__ import annotations

from escalator.domain.escalation import Escalation, EscalationType
from escalator.domain.lifecycle import Action

HANDOFF_ACTIONS = frozenset({Action.reassign, Action.move})
SUPERVISORS = "supervisors"  # who holds a case escalated up, whatever its path
# The card says "🔁 2nd handoff" from the second on: a first handoff is often the routing put right,
# a second is the frustration the guide warns of (the digest counts cases handed off more than once).
SHOWN_FROM = 2


def holder(escalation: Escalation) -> str:
    """Who holds the case now, for per-path figures: its path's key, or the supervisors."""
    if escalation.escalation_type is EscalationType.hierarchical:
        return SUPERVISORS
    return escalation.path_key


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st…"""
    teens = 10 <= number % 100 <= 20
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def handoff_label(escalation: Escalation) -> str | None:
    """What the card says of the case's handoffs, once there are enough to mention."""
    if escalation.handoffs < SHOWN_FROM:
        return None
    return f":repeat: {ordinal(escalation.handoffs)} handoff"

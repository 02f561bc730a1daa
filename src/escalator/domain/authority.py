"""Authority levels: who may approve a refund or credit of a given amount."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from escalator.policy import Authority


class Approver(StrEnum):
    agent = "agent"
    supervisor = "supervisor"
    management = "management"


def approver_for(amount: Decimal | None, authority: Authority) -> Approver:
    if amount is None or amount <= authority.agent:
        return Approver.agent
    if amount <= authority.supervisor:
        return Approver.supervisor
    return Approver.management

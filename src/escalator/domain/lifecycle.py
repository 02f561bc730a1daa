"""The escalation's state machine and who may do what: one owner, a visible state, every step allowed
or refused here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from escalator.domain.authority import AGENT, SUPERVISORS, amount_text, deciding_level, level_at, rank_of
from escalator.domain.callbacks import callback_outstanding
from escalator.domain.escalation import Approval, Escalation, EscalationType, State
from escalator.policy import EscalationPath, Policy


class Action(StrEnum):
    raise_ = "raise"
    claim = "claim"
    unclaim = "unclaim"
    post_update = "post_update"
    resolve = "resolve"
    reopen = "reopen"
    close = "close"
    customer_unreachable = "customer_unreachable"
    reassign = "reassign"
    move = "move"  # re-escalate: up to the supervisors, or to another path
    cancel = "cancel"
    approve = "approve"
    decline = "decline"
    read_note = "read_note"  # the full handoff note, when channels show it masked
    erase = "erase"  # the customer's personal details removed: retention, or the customer's request
    join_incident = "join_incident"  # part of an incident: its card speaks for the case
    leave_incident = "leave_incident"  # not part of it after all: the case gets its own card
    callback_done = "callback_done"  # the callback promised to the customer was made
    callback_missed = "callback_missed"  # the bot's: not made in time (`callbacks.missed_after`)

    @property
    def past_tense(self) -> str:
        return _PAST[self]


_PAST = {
    Action.raise_: "raised",
    Action.claim: "claimed",
    Action.unclaim: "returned to the queue",
    Action.post_update: "posted an update on",
    Action.resolve: "resolved",
    Action.reopen: "reopened",
    Action.close: "closed the loop on",
    Action.customer_unreachable: "could not reach the customer for",
    Action.reassign: "reassigned",
    Action.move: "re-escalated",
    Action.cancel: "cancelled",
    Action.approve: "approved the refund on",
    Action.decline: "declined the refund on",
    Action.read_note: "read the full note of",
    Action.erase: "erased the customer's personal details on",
    Action.join_incident: "linked to an incident",
    Action.leave_incident: "took out of the incident",
    Action.callback_done: "made the promised callback on",
    Action.callback_missed: "marked the promised callback missed on",
}


class Role(StrEnum):
    agent = "agent"  # raised it, and keeps ownership of the customer
    owner = "owner"  # the specialist who claimed it
    specialist = "specialist"  # owns the escalation's path
    supervisor = "supervisor"
    approver = "approver"  # at the step of the authority chain the refund waits for, or above it


_ACTIVE = frozenset({State.open, State.claimed})

# Which states each action starts from.
ALLOWED_FROM: dict[Action, frozenset[State]] = {
    Action.claim: frozenset({State.open}),
    Action.unclaim: frozenset({State.claimed}),
    Action.post_update: frozenset({State.claimed}),
    Action.resolve: _ACTIVE,
    Action.reopen: frozenset({State.resolved}),
    Action.close: frozenset({State.resolved}),
    Action.customer_unreachable: frozenset({State.resolved}),
    Action.reassign: _ACTIVE,
    Action.move: _ACTIVE,
    Action.cancel: frozenset({State.open, State.claimed, State.resolved}),
    # A refund still waiting when the case is resolved can still be decided.
    Action.approve: frozenset({State.open, State.claimed, State.resolved}),
    Action.decline: frozenset({State.open, State.claimed, State.resolved}),
    Action.read_note: frozenset(State),
    Action.callback_done: frozenset({State.open, State.claimed, State.resolved}),
}

# Who may take each action. Supervisors may do everything.
ALLOWED_ROLES: dict[Action, frozenset[Role]] = {
    Action.claim: frozenset({Role.specialist, Role.supervisor}),
    Action.unclaim: frozenset({Role.owner, Role.supervisor}),
    Action.post_update: frozenset({Role.owner, Role.supervisor}),
    Action.resolve: frozenset({Role.owner, Role.supervisor}),
    Action.reopen: frozenset({Role.agent, Role.owner, Role.supervisor}),
    Action.close: frozenset({Role.agent, Role.supervisor}),
    Action.customer_unreachable: frozenset({Role.agent, Role.supervisor}),
    Action.reassign: frozenset({Role.owner, Role.supervisor}),
    Action.move: frozenset({Role.agent, Role.owner, Role.specialist, Role.supervisor}),
    Action.cancel: frozenset({Role.agent, Role.supervisor}),
    # Only the step the refund waits for, or one above it: supervisors decide only up to their limit.
    Action.approve: frozenset({Role.approver}),
    Action.decline: frozenset({Role.approver}),
    Action.read_note: frozenset({Role.agent, Role.owner, Role.supervisor}),
    Action.callback_done: frozenset({Role.agent, Role.owner, Role.supervisor}),
}

_WHO = {
    Role.agent: "the agent who raised it",
    Role.owner: "its owner",
    Role.specialist: "its specialists",
    Role.supervisor: "the supervisors",
}


@dataclass(frozen=True)
class Actor:
    """A person acting on an escalation, with the user groups of the policy they belong to."""

    user_id: str
    usergroups: frozenset[str] = frozenset()


def roles_of(actor: Actor, escalation: Escalation, policy: Policy) -> frozenset[Role]:
    roles: set[Role] = set()
    if actor.user_id == escalation.agent_user_id:
        roles.add(Role.agent)
    if escalation.owner_user_id == actor.user_id:
        roles.add(Role.owner)
    supervisor = is_supervisor(actor, policy)
    if supervisor:
        roles.add(Role.supervisor)
    if escalation.approval is Approval.pending and rank_of(
        actor.user_id, actor.usergroups, supervisor, policy.authority
    ) >= waiting_for(escalation):
        roles.add(Role.approver)
    path = policy.paths.get(escalation.path_key)
    # A hierarchical escalation sits with the supervisors: the path's specialists don't claim it.
    if path and escalation.escalation_type is not EscalationType.hierarchical and works_on(actor, path):
        roles.add(Role.specialist)
    return frozenset(roles)


def works_on(actor: Actor, path: EscalationPath) -> bool:
    """A path's specialists, its user group, and everyone on its rota (the after-hours contact too)."""
    return actor.user_id in path_people(path) or (
        path.usergroup is not None and path.usergroup in actor.usergroups
    )


def path_people(path: EscalationPath) -> list[str]:
    """The people a path names, each once: its specialists, then those only on its rota."""
    return list(dict.fromkeys(path.specialists + (path.rota.people() if path.rota else [])))


def supervisor_people(policy: Policy) -> list[str]:
    """The people named as supervisors: `supervisors.users`, then those only on their rota."""
    supervisors = policy.supervisors
    return list(dict.fromkeys(supervisors.users + (supervisors.rota.people() if supervisors.rota else [])))


def is_supervisor(actor: Actor, policy: Policy) -> bool:
    group = policy.supervisors.usergroup
    return actor.user_id in supervisor_people(policy) or (group is not None and group in actor.usergroups)


def may_claim(user_id: str, usergroups: frozenset[str], escalation: Escalation, policy: Policy) -> bool:
    """Whether this person could own the escalation (the check a reassignment's new owner must pass)."""
    roles = roles_of(Actor(user_id, usergroups), escalation, policy)
    return bool(roles & {Role.specialist, Role.supervisor})


class Refused(Exception):
    """The action is not allowed; the message is what the person is told, privately."""


def check(escalation: Escalation, action: Action, roles: frozenset[Role], policy: Policy) -> None:
    """Raise Refused with a plain explanation unless `action` is allowed now for someone with `roles`."""
    ref = escalation.reference
    if action is Action.read_note and escalation.personal_data_removed_at is not None:
        raise Refused(f"The customer's details on {ref} were erased.")
    if escalation.state not in ALLOWED_FROM[action]:
        raise Refused(_wrong_state(escalation, action))
    if action in (Action.approve, Action.decline):
        _check_decider(escalation, roles, policy)
    elif not roles & ALLOWED_ROLES[action]:
        who = " or ".join(_WHO[role] for role in sorted(ALLOWED_ROLES[action], key=list(Role).index))
        raise Refused(f"Only {who} can do that on {ref}.")
    if action is Action.callback_done and not callback_outstanding(escalation):
        if escalation.callback_done_at is not None:
            raise Refused(f"The callback on {ref} is already marked made.")
        raise Refused(f"{ref} has no promised callback.")


def _check_decider(escalation: Escalation, roles: frozenset[Role], policy: Policy) -> None:
    ref = escalation.reference
    if escalation.approval == Approval.management:
        raise Refused(f"The refund on {ref} is above a supervisor's authority: management must decide.")
    if escalation.approval != Approval.pending:
        raise Refused(f"{ref} has no refund waiting for approval.")
    if Role.approver in roles:
        return
    rank = waiting_for(escalation)
    if rank <= SUPERVISORS:
        raise Refused(f"Only the supervisors can decide the refund on {ref}.")
    level = level_at(rank, policy.authority)
    who = f"the {level.name}" if level else "a higher level"
    raise Refused(
        f"The refund of {amount_text(escalation.refund_amount)} on {ref} is above a supervisor's "
        f"authority: only {who} (or a level above) can decide it."
    )


def waiting_for(escalation: Escalation) -> int:
    """The step of the authority chain a pending refund waits for (rows from before the chain: the
    supervisors)."""
    return escalation.approval_level if escalation.approval_level is not None else SUPERVISORS


def _wrong_state(escalation: Escalation, action: Action) -> str:
    ref = escalation.reference
    if action is Action.claim and escalation.state is State.claimed:
        return f"{ref} is already claimed by <@{escalation.owner_user_id}>."
    if escalation.state is State.closed:
        return f"{ref} is closed: the loop with the customer is closed."
    if escalation.state is State.cancelled:
        return f"{ref} was cancelled."
    if escalation.state is State.resolved:
        return f"{ref} is resolved: reopen it first."
    if escalation.state is State.open and action in (Action.post_update, Action.unclaim):
        return f"Nobody owns {ref} yet: claim it first."
    return f"That can't be done while {ref} is {escalation.state.value}."


def approval_for(escalation: Escalation, policy: Policy) -> tuple[Approval, int | None]:
    """What the refund asked for needs, by the policy's authority chain: the approval's state and the
    step that decides it."""
    level = deciding_level(escalation.refund_amount, policy.authority)
    if level is None:
        return Approval.management, None  # above a supervisor, in a policy with no levels above them
    if level.rank == AGENT:
        return Approval.not_needed, None
    return Approval.pending, level.rank

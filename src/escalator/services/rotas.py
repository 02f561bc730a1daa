"""Who is on duty: now and next, for each path's rota and the supervisors' (`/escalate who`, App Home)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escalator.domain.lifecycle import Actor, is_supervisor, path_people, supervisor_people, works_on
from escalator.domain.rota import Duty, duty_at, next_duty
from escalator.policy import Policy, Rota

SUPERVISORS_ROTA = "supervisors"


@dataclass(frozen=True)
class RotaView:
    """One team's duty at a moment: `now` and `next` are None for a team without a rota."""

    key: str  # a path's key, or SUPERVISORS_ROTA
    label: str
    at: datetime  # the moment it describes
    rota: Rota | None
    now: Duty | None
    next: Duty | None
    everyone: list[str]  # who may pick its cases up, whoever is on duty


def who_is_on_duty(policy: Policy, now: datetime) -> list[RotaView]:
    """Every path's, then the supervisors'."""
    return [_path_view(policy, key, now) for key in policy.paths] + [_supervisors_view(policy, now)]


def rotas_of(actor: Actor, policy: Policy, now: datetime) -> list[RotaView]:
    """The rotas a person follows: of the paths they work on (all, for supervisors, with their own);
    only teams that have a rota."""
    if is_supervisor(actor, policy):
        views = who_is_on_duty(policy, now)
    else:
        views = [_path_view(policy, key, now) for key, path in policy.paths.items() if works_on(actor, path)]
    return [view for view in views if view.rota is not None]


def _path_view(policy: Policy, key: str, now: datetime) -> RotaView:
    path = policy.paths[key]
    return _view(key, path.label, path.rota, path_people(path), policy, now)


def _supervisors_view(policy: Policy, now: datetime) -> RotaView:
    rota = policy.supervisors.rota
    return _view(SUPERVISORS_ROTA, "Supervisors", rota, supervisor_people(policy), policy, now)


def _view(
    key: str, label: str, rota: Rota | None, everyone: list[str], policy: Policy, now: datetime
) -> RotaView:
    if rota is None:
        return RotaView(key, label, now, None, None, None, everyone)
    current = duty_at(rota, now, policy.zone)
    return RotaView(key, label, now, rota, current, next_duty(rota, current, policy.zone), everyone)

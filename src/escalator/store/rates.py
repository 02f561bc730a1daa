"""Slack's rate limits as the whole app has used them, shared by every process and machine.

Each pace key keeps a generic cell-rate algorithm's state: `tat`, the time at which the key would be
idle again if calls kept coming at the limit. A call is allowed when `tat` is no further ahead of now
than the burst (`tolerance`), and pushes `tat` one interval on. One conditional UPDATE decides it, so
two processes taking the last turn cannot both have it. Times are seconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from escalator.store.inserts import insert_if_new
from escalator.store.tables import rate_limits


@dataclass(frozen=True)
class Turn:
    """Whether a call may go now; if not, in how many seconds it may. `failures`: the key's calls that
    failed in a row before this one (an outage it may be coming back from)."""

    granted: bool
    wait: float = 0.0
    failures: int = 0


class RateLimitRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def take(self, key: str, now: float, interval: float, tolerance: float) -> Turn:
        """One call's turn on `key`, if the limit and any pause allow it now."""
        for _ in range(2):
            granted = self._session.execute(
                update(rate_limits)
                .where(
                    rate_limits.c.key == key,
                    rate_limits.c.tat - tolerance <= now,
                    rate_limits.c.paused_until <= now,
                )
                .values(tat=_later(rate_limits.c.tat, now) + interval, tolerance=tolerance)
                .returning(rate_limits.c.failures)
            ).first()
            if granted is not None:
                return Turn(True, failures=granted.failures)
            row = self._session.execute(
                select(rate_limits.c.tat, rate_limits.c.paused_until).where(rate_limits.c.key == key)
            ).first()
            if row is not None:
                return Turn(False, wait=max(row.tat - tolerance - now, row.paused_until - now, 0.0))
            self._create(key, now, tolerance)
        raise AssertionError("unreachable: the key's row exists after it was created")

    def count(self, key: str, now: float, interval: float, tolerance: float) -> None:
        """A call that cannot wait (someone's form must open within seconds) went anyway: it uses the
        limit all the same, so background calls leave it room."""
        changed = self._session.execute(
            update(rate_limits)
            .where(rate_limits.c.key == key)
            .values(tat=_later(rate_limits.c.tat, now) + interval, tolerance=tolerance)
        )
        if changed.rowcount == 0:
            self._create(key, now + interval, tolerance)

    def pause(self, key: str, until: float) -> None:
        """Nobody calls on `key` before `until` (a 429's Retry-After, or an outage's backoff)."""
        paused = self._session.execute(
            update(rate_limits)
            .where(rate_limits.c.key == key)
            .values(paused_until=_later(rate_limits.c.paused_until, until))
        )
        if paused.rowcount == 0 and not self._create(key, 0.0, 0.0, paused_until=until):
            self.pause(key, until)  # created meanwhile by another process

    def failed(self, key: str) -> int:
        """One more call on `key` failed for now; returns how many have failed in a row."""
        for _ in range(2):
            row = self._session.execute(
                update(rate_limits)
                .where(rate_limits.c.key == key)
                .values(failures=rate_limits.c.failures + 1)
                .returning(rate_limits.c.failures)
            ).first()
            if row is not None:
                return int(row.failures)
            self._create(key, 0.0, 0.0)
        raise AssertionError("unreachable: the key's row exists after it was created")

    def give_back(self, key: str, interval: float) -> None:
        """A turn taken and not used: the next call may come that much sooner."""
        self._session.execute(
            update(rate_limits).where(rate_limits.c.key == key).values(tat=rate_limits.c.tat - interval)
        )

    def recovered(self, key: str) -> None:
        """A call on `key` went through after failures: the outage's backoff starts afresh next time."""
        self._session.execute(update(rate_limits).where(rate_limits.c.key == key).values(failures=0))

    def next_free(self, keys: list[str], now: float) -> float | None:
        """The soonest time one of these keys, held back now, lets a call through."""
        if not keys:
            return None
        free_at = _later(rate_limits.c.tat - rate_limits.c.tolerance, rate_limits.c.paused_until)
        return self._session.scalar(
            select(func.min(free_at)).where(rate_limits.c.key.in_(keys), free_at > now)
        )

    def _create(self, key: str, tat: float, tolerance: float, paused_until: float = 0.0) -> bool:
        return insert_if_new(
            self._session,
            rate_limits,
            key=key,
            tat=tat,
            tolerance=tolerance,
            paused_until=paused_until,
            failures=0,
        )


def _later(column: Any, other: Any) -> Any:
    """The later of two times, in SQL that SQLite and PostgreSQL both read."""
    return case((column > other, column), else_=other)

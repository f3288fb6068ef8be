"""What every factory shares: the test password, unique names, dates, and the world.

A world is what a test starts from — its people and things by name. People are `User`
rows in `world.users` (name -> user) and also attributes (`world.officer`); tokens, when
the world made them, are in `world.tokens` (name -> token). Things are attributes
(`world.case`, `world.case_id`). A world built inside the test's app context holds live
rows; one that outlives its app context holds detached rows, whose columns (id, username,
role, region) stay readable.
"""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace
from typing import Any

from mediation import clock

PASSWORD = "Test-pass-123!"

_n = itertools.count(1)


def seq() -> int:
    """A number no other call in this run returns: for unique names and references."""
    return next(_n)


class World(SimpleNamespace):
    """People by name (`users`, also as attributes), their tokens by name, and things."""

    def __init__(self, users: dict[str, Any] | None = None, tokens: dict[str, str] | None = None,
                 **things: Any) -> None:
        super().__init__(users=dict(users or {}), tokens=dict(tokens or {}), **things)

    def __getattr__(self, name: str) -> Any:
        # Only called when no attribute of that name exists: a person by name.
        users = self.__dict__.get("users", {})
        if name in users:
            return users[name]
        raise AttributeError(name)


def at(day: str, hour: int = 12) -> dt.datetime:
    """A moment on the given day (UTC), noon unless told: for rows dated in the past."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def days_ago(n: int) -> str:
    return (clock.today() - dt.timedelta(days=n)).isoformat()


def past(hours: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)


def later(days: float = 1) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()

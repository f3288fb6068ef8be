"""When who may see what changes while people are connected.

Live connections (realtime) hold what a user was allowed when they subscribed: the rooms of
a case, a region's board, the connection itself. Access can end afterwards — a referral
withdrawn or completed, a case given another owner, a user deactivated, a token revoked —
and the connection must not go on receiving what the database no longer allows.

Two ways in, both decided after the commit (a change that rolls back changes nobody's
access):
- an event type declared with `changes_access=True` in the event catalogue (say
  `referral.withdrawn`) means "who sees this case may have changed": the live relay asks
  every web process to re-check the case's connections just before it delivers that
  event, so nothing after it reaches a connection that lost the case;
- a command that changes a user (deactivation, revoked tokens) calls `changed(session,
  user_ids=...)` in its transaction.
Listeners (realtime registers one in the registry's `access_listeners`) re-check the
connections concerned against the database.
`mediation` knows no sockets: it only says what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from mediation.transactions import after_commit

# fn(user_ids, case_ids): re-check the live connections of these users and of these cases.
Listener = Callable[[set[int], set[int]], None]


def changes_access(event_type: str) -> bool:
    """After an event of this type, may who sees its case have changed? (The catalogue.)"""
    from mediation.registry import registry

    found = registry().event_types.get(event_type)
    return found is not None and found.changes_access


def notify(user_ids: Iterable[int] = (), case_ids: Iterable[int] = ()) -> None:
    """Tell the listeners now (the caller has committed)."""
    users, cases = {int(u) for u in user_ids}, {int(c) for c in case_ids}
    if not (users or cases):
        return
    from mediation.registry import registry

    for fn in registry().access_listeners.values():
        fn(users, cases)


def changed(session: Session, user_ids: Iterable[int] = (), case_ids: Iterable[int] = ()) -> None:
    """Say, inside a transaction, that these users' or cases' access changes with it; the
    listeners are told once it has committed."""
    after_commit(session, "access.changed", (tuple(user_ids), tuple(case_ids)), _committed)


def _committed(items: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> None:
    notify({u for users, _ in items for u in users}, {c for _, cases in items for c in cases})

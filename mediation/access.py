"""When who may see what changes while people are connected.

Live connections (realtime) hold what a user was allowed when they subscribed: the rooms of
a case, a region's board, the connection itself. Access can end afterwards — a referral
withdrawn or completed, a case given another owner, a user deactivated, a token revoked —
and the connection must not go on receiving what the database no longer allows.

Two ways in, both decided after the commit (a change that rolls back changes nobody's
access):
- an event type registered with `register_event` (say `referral.withdrawn`) means "who sees
  this case may have changed": the live relay asks every web process to re-check the
  case's connections just before it delivers that event, so nothing after it reaches a
  connection that lost the case;
- a command that changes a user (deactivation, revoked tokens) calls `changed(session,
  user_ids=...)` in its transaction.
Listeners (realtime registers one) re-check the connections concerned against the database.
`mediation` knows no sockets: it only says what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from mediation.transactions import after_commit

# fn(user_ids, case_ids): re-check the live connections of these users and of these cases.
Listener = Callable[[set[int], set[int]], None]
_listeners: list[Listener] = []
_events: set[str] = set()


def register_listener(fn: Listener) -> None:
    if fn not in _listeners:
        _listeners.append(fn)


def unregister_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def register_event(event_type: str) -> None:
    """After an event of this type, who sees its case may have changed."""
    _events.add(event_type)


def changes_access(event_type: str) -> bool:
    return event_type in _events


def notify(user_ids: Iterable[int] = (), case_ids: Iterable[int] = ()) -> None:
    """Tell the listeners now (the caller has committed)."""
    users, cases = {int(u) for u in user_ids}, {int(c) for c in case_ids}
    if not (users or cases):
        return
    for fn in list(_listeners):
        fn(users, cases)


def changed(session: Session, user_ids: Iterable[int] = (), case_ids: Iterable[int] = ()) -> None:
    """Say, inside a transaction, that these users' or cases' access changes with it; the
    listeners are told once it has committed."""
    after_commit(session, "access.changed", (tuple(user_ids), tuple(case_ids)), _committed)


def _committed(items: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> None:
    notify({u for users, _ in items for u in users}, {c for _, cases in items for c in cases})


# The cases package's event after which someone may no longer see a case: the former lead
# official of a case given another owner.
register_event("case.owner_assigned")

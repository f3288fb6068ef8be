"""Work that must wait for the transaction to commit: publishing events, sending tasks.

Anything collected here runs once the session's outermost transaction has committed, and
is dropped if it rolls back. A task or event sent before the commit would find nothing.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "mediation_after_commit"
_READY = "mediation_after_commit_ready"
# Keyed by the outermost transaction object: an entry dies with its transaction, whether
# it commits or rolls back, on any session (hooks installed or not).
_scratch: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def scratch(session: Session) -> dict[str, Any]:
    """A dict that lives exactly as long as the session's current transaction."""
    if hasattr(session, "registry"):  # a scoped_session: the current thread's session
        session = session()
    session.connection()  # begins the transaction if none has begun
    tx = session.get_transaction()
    while tx.parent is not None:
        tx = tx.parent
    return _scratch.setdefault(tx, {})


def after_commit(session: Session, key: str, item: Any, fn: Callable[[list[Any]], None]) -> None:
    """Collect `item` under `key`; after the commit, `fn(items)` runs once per key."""
    pending: dict[str, tuple[Callable, list[Any]]] = session.info.setdefault(_PENDING, {})
    pending.setdefault(key, (fn, []))[1].append(item)


def install(session_target) -> None:
    """Install the hooks on a session class, sessionmaker or scoped_session (once)."""

    @sa_event.listens_for(session_target, "after_commit")
    def _committed(session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if pending:
            session.info.setdefault(_READY, []).extend(pending.values())

    @sa_event.listens_for(session_target, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_PENDING, None)

    @sa_event.listens_for(session_target, "after_transaction_end")
    def _ended(session: Session, transaction) -> None:
        # after_commit fires while the session is still finishing; run once it is free.
        if transaction.parent is not None:
            return
        for fn, items in session.info.pop(_READY, []):
            try:
                fn(items)
            except Exception:  # the commit stands; sweeps retry what did not go out
                log.exception("after-commit work %s failed", getattr(fn, "__name__", fn))

"""Transactions: one per command, however commands compose, and the work that must wait
for the commit (publishing events, sending tasks).

`@transactional` runs a command in the session's transaction and commits only in the
outermost call: a command that calls another commits (or rolls back) once, as a whole.
Anything collected with `after_commit` runs once the outermost transaction has committed,
and is dropped if it rolls back. A task or event sent before the commit would find nothing.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
_DEPTH = "mediation_transactional_depth"
_INNER_FAILED = "mediation_transactional_inner_failed"


class SwallowedFailure(RuntimeError):
    """A nested command failed, its caller caught the error and went on: what the failed
    command had already written cannot be told apart, so nothing is committed."""


def transactional(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command in one transaction: the outermost call commits on success and rolls
    back on any error; nested calls (a command calling another) leave both to it."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from mediation.extensions import db

        session = db.session()
        depth = session.info.get(_DEPTH, 0)
        session.info[_DEPTH] = depth + 1
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            session.info[_DEPTH] = depth
            if depth:
                session.info[_INNER_FAILED] = True
            else:
                session.info.pop(_INNER_FAILED, None)
                session.rollback()
            raise
        session.info[_DEPTH] = depth
        if depth:
            return result
        try:
            if session.info.pop(_INNER_FAILED, False):
                raise SwallowedFailure(f"{fn.__qualname__}: a nested command failed and its error "
                                       "was caught; nothing was committed")
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return result

    return wrapper

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

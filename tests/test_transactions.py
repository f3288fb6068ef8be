"""`transactional` nests: commands compose, and only the outermost call commits or rolls
back — a composed command writes all of its parts or none, events included."""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa

from mediation import timeline
from mediation.cases.models import Case
from mediation.events import EventType
from mediation.extensions import db
from mediation.registry import registry
from mediation.timeline import Event
from mediation.transactions import SwallowedFailure, transactional
from tests.factories import make_case, make_user


def _count(type_: str) -> int:
    db.session.remove()
    return db.session.execute(sa.select(sa.func.count()).select_from(Event)
                              .where(Event.type == type_)).scalar_one()


NOTED = EventType("test.noted", "noted")


@pytest.fixture
def case_id(ctx):
    officer = make_user("case_officer", "510104")
    case_id = make_case(officer).id
    with registry(ctx).event_types.scoped("test.noted", NOTED):  # declared for these tests only
        yield case_id


@transactional
def note(case_id: int, text: str) -> None:
    timeline.append(db.session, case_id, "test.noted", {"text": text}, None)


@transactional
def note_twice(case_id: int, fail_after_first: bool = False) -> None:
    note(case_id, "first")
    assert db.session().in_transaction()  # the inner command did not commit
    if fail_after_first:
        raise RuntimeError("the outer command fails after the inner one succeeded")
    note(case_id, "second")


def test_the_outermost_call_commits_once(case_id):
    commits = []

    def committed(_session) -> None:
        commits.append(1)

    session = db.session()
    sa.event.listen(session, "after_commit", committed)
    try:
        note_twice(case_id)
    finally:
        sa.event.remove(session, "after_commit", committed)
    assert len(commits) == 1
    assert _count("test.noted") == 2


def test_a_failure_after_a_nested_command_undoes_it_too(case_id):
    last_seq = db.session.get(Case, case_id).last_seq
    with pytest.raises(RuntimeError):
        note_twice(case_id, fail_after_first=True)
    assert _count("test.noted") == 0
    assert db.session.get(Case, case_id).last_seq == last_seq
    note_twice(case_id)  # the session is usable again, the depth back to the outermost
    assert _count("test.noted") == 2


def test_a_swallowed_nested_failure_commits_nothing(case_id):
    @transactional
    def failing(case_id: int) -> None:
        note(case_id, "half")
        raise ValueError("the nested command fails after writing")

    @transactional
    def careless(case_id: int) -> None:
        note(case_id, "kept?")
        with contextlib.suppress(ValueError):  # the mistake this guards against
            failing(case_id)

    with pytest.raises(SwallowedFailure):
        careless(case_id)
    assert _count("test.noted") == 0
    note(case_id, "after")  # a later command is not affected
    assert _count("test.noted") == 1

"""The timeline: hash chain verification against tampering in SQL, the append-only trigger
on PostgreSQL, and publication after commit through the outbox."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mediation import checkpoints, clock, timeline
from mediation.cases import commands
from mediation.cases.models import Case
from mediation.events import EventType, UndeclaredEventType
from mediation.extensions import db
from mediation.registry import registry
from mediation.timeline import Event, EventOutbox
from tests.factories import make_user
from tests.plans import copy_events, forced_plan


def _officer():
    return make_user("case_officer", "510104")


def _intake(officer, title: str = "征地补偿纠纷", region: str = "510104") -> int:
    case = commands.intake(officer, {
        "title": title, "region_code": region, "received_on": dt.date(2025, 3, 1),
        "accepted_on": dt.date(2025, 3, 8), "livelihood_fields": ["land_demolition"],
        "petitioners": [{"name": "张三", "id_number": "510104198001011234", "phone": "13800138000"}],
    })
    return case.id


def _investigate(officer, case_id: int, findings: str = "调阅原始档案") -> None:
    commands.add_investigation(officer, case_id, {
        "method": "archive_review", "conducted_on": dt.date(2025, 3, 10), "findings": findings})


def _case_with_events(n_extra: int = 3) -> tuple[object, int]:
    officer = _officer()
    case_id = _intake(officer)
    for i in range(n_extra):
        _investigate(officer, case_id, f"第{i + 1}次核查")
    return officer, case_id


def tamper(*statements: tuple[str, dict]) -> None:
    """Change the events table behind the application's back, as an intruder with SQL would.

    On PostgreSQL the append-only trigger refuses that, so the intruder first switches
    triggers off for the transaction (a superuser can): verification must still catch it.
    """
    assert timeline.drain()  # publication settled: the outbox no longer refers to them
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for sql, params in statements:
            conn.execute(sa.text(sql), params)


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


# --- an intact chain --------------------------------------------------------------------------

def test_intact_chain_verifies(ctx):
    _, case_id = _case_with_events()
    seqs = db.session.execute(
        sa.select(Event.seq).where(Event.case_id == case_id).order_by(Event.seq)).scalars().all()
    assert seqs == [1, 2, 3, 4, 5]
    assert timeline.verify() == (1, [])
    assert timeline.verify(case_id) == (1, [])
    result = cli(ctx, "timeline", "verify")
    assert result.exit_code == 0, result.output
    assert "ok: 1 case(s)" in result.output


def test_each_event_links_to_the_one_before_it(ctx):
    _, case_id = _case_with_events(2)
    events = timeline.events_after(case_id)
    assert events[0].prev_hash == timeline.GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in events}) == len(events)


# --- tampering --------------------------------------------------------------------------------

def _problems_for(case_id: int) -> list[tuple[int, int | None, str]]:
    checked, problems = timeline.verify()
    return [(p.case_id, p.seq, p.problem) for p in problems]


def test_an_edited_field_is_found_and_named(ctx):
    _, case_id = _case_with_events()
    tamper(("UPDATE events SET data = :d WHERE case_id = :c AND seq = 3",
            {"d": '{"findings":"篡改后的内容"}', "c": case_id}))
    problems = _problems_for(case_id)
    assert problems == [(case_id, 3, "content does not match its hash")]
    result = cli(ctx, "timeline", "verify")
    assert result.exit_code == 1
    assert f"BROKEN case {case_id} seq 3: content does not match its hash" in result.output


@pytest.mark.parametrize("column,value", [
    ("type", "case.resolved"),
    ("actor_id", None),
    ("at", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
])
def test_any_edited_column_breaks_the_chain(ctx, column, value):
    _, case_id = _case_with_events(1)
    tamper((f"UPDATE events SET {column} = :v WHERE case_id = :c AND seq = 2",
            {"v": value, "c": case_id}))
    assert _problems_for(case_id) == [(case_id, 2, "content does not match its hash")]


def test_a_rehashed_edit_still_breaks_the_link_to_the_next_event(ctx):
    _, case_id = _case_with_events()
    ev = db.session.execute(sa.select(Event).where(Event.case_id == case_id, Event.seq == 2)).scalar_one()
    forged = '{"forged":true}'
    new_hash = timeline.event_hash(case_id, 2, ev.type, ev.actor_id, ev.at, forged, ev.prev_hash)
    tamper(("UPDATE events SET data = :d, hash = :h WHERE case_id = :c AND seq = 2",
            {"d": forged, "h": new_hash, "c": case_id}))
    assert _problems_for(case_id) == [(case_id, 3, "does not link to the event before it")]


def test_a_deleted_event_is_found_and_named(ctx):
    _, case_id = _case_with_events()
    tamper(("DELETE FROM events WHERE case_id = :c AND seq = 2", {"c": case_id}))
    problems = _problems_for(case_id)
    assert (case_id, 2, "missing event (found seq 3)") in problems
    assert (case_id, 3, "does not link to the event before it") in problems
    result = cli(ctx, "timeline", "verify", str(case_id))
    assert result.exit_code == 1
    assert f"case {case_id} seq 2: missing event" in result.output


def test_two_swapped_events_are_found(ctx):
    _, case_id = _case_with_events()
    # three steps: the (case_id, seq) unique constraint holds at every step
    tamper(("UPDATE events SET seq = 1000 WHERE case_id = :c AND seq = 3", {"c": case_id}),
           ("UPDATE events SET seq = 3 WHERE case_id = :c AND seq = 4", {"c": case_id}),
           ("UPDATE events SET seq = 4 WHERE case_id = :c AND seq = 1000", {"c": case_id}))
    problems = _problems_for(case_id)
    named = {seq for _, seq, _ in problems}
    assert {3, 4} <= named
    assert all(c == case_id for c, _, _ in problems)
    assert (case_id, 3, "content does not match its hash") in problems
    assert cli(ctx, "timeline", "verify").exit_code == 1


def test_the_deleted_last_event_is_found(ctx):
    _, case_id = _case_with_events()
    tamper(("DELETE FROM events WHERE case_id = :c AND seq = 5", {"c": case_id}))
    assert _problems_for(case_id) == [(case_id, 5, "events 5..5 are missing")]
    result = cli(ctx, "timeline", "verify")
    assert result.exit_code == 1 and f"case {case_id} seq 5" in result.output


def test_verify_names_only_the_broken_case(ctx):
    officer, first = _case_with_events(1)
    second = _intake(officer, "另一个案件")
    tamper(("UPDATE events SET data = '{}' WHERE case_id = :c AND seq = 1", {"c": second}))
    checked, problems = timeline.verify()
    assert checked == 2
    assert {p.case_id for p in problems} == {second}
    assert cli(ctx, "timeline", "verify", str(first)).exit_code == 0
    assert cli(ctx, "timeline", "verify", str(second)).exit_code == 1


def test_verify_unknown_case_exits_non_zero(ctx):
    _case_with_events(0)
    result = cli(ctx, "timeline", "verify", "999999")
    assert result.exit_code == 2 and "not found" in result.output


# --- the append-only trigger (PostgreSQL) ---------------------------------------------------

def test_postgresql_refuses_to_update_or_delete_an_event(pg):
    _, case_id = _case_with_events(1)
    for sql in ("UPDATE events SET type = 'x' WHERE case_id = :c AND seq = 1",
                "DELETE FROM events WHERE case_id = :c AND seq = 2"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(sa.text(sql), {"c": case_id})
    db.session.remove()
    assert len(timeline.events_after(case_id)) == 3
    assert timeline.verify() == (1, [])


def test_postgresql_tamper_bypassing_the_trigger_is_still_caught(pg):
    _, case_id = _case_with_events(1)
    tamper(("UPDATE events SET data = '{}' WHERE case_id = :c AND seq = 2", {"c": case_id}))
    assert _problems_for(case_id) == [(case_id, 2, "content does not match its hash")]
    # the bypass was for that transaction only: the trigger is back for everyone else
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE case_id = :c"), {"c": case_id})
    result = pg.test_cli_runner().invoke(args=["timeline", "verify"])
    assert result.exit_code == 1


def test_postgresql_a_writer_that_waited_for_another_links_to_its_event(pg):
    """A second writer of a case waits on the case row for the first; its predecessor's hash
    (read in the same statement as its seq, from a snapshot taken before the wait) is the
    first writer's event, not an older one."""
    import threading
    import time

    from sqlalchemy.orm import Session

    officer, case_id = _case_with_events(1)
    assert timeline.drain()
    db.session.remove()
    first = Session(db.engine)
    first_ev = timeline.append(first, case_id, "message.posted", {"body": "1"}, officer.id)
    second: list[Event] = []

    def write_second() -> None:
        with pg.app_context(), Session(db.engine) as s:
            second.append(timeline.append(s, case_id, "message.posted", {"body": "2"}, officer.id))
            s.commit()

    t = threading.Thread(target=write_second)
    t.start()
    with db.engine.connect() as watcher:  # the second writer is queued behind the first's lock
        for _ in range(200):
            waiting = watcher.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'UPDATE cases%'")).scalar_one()
            watcher.rollback()  # the statistics views keep one snapshot per transaction
            if waiting:
                break
            time.sleep(0.05)
    first.commit()
    first.close()
    assert waiting
    t.join(30)
    assert [e.seq for e in (first_ev, *second)] == [first_ev.seq, first_ev.seq + 1]
    assert second[0].prev_hash == first_ev.hash
    assert timeline.verify(case_id) == (1, [])


# --- publication after commit -------------------------------------------------------------

class Recorder:
    """A publisher that records what it gets and checks it was committed first."""

    def __init__(self) -> None:
        self.batches: list[list[dict]] = []
        self.committed: list[bool] = []

    def __call__(self, envelopes: list[dict]) -> None:
        self.batches.append(envelopes)
        # A separate connection sees only committed rows: every event must be there.
        with db.engine.connect() as conn:
            for env in envelopes:
                row = conn.execute(sa.text("SELECT 1 FROM events WHERE case_id = :c AND seq = :s"),
                                   {"c": env["case_id"], "s": env["seq"]}).first()
                self.committed.append(row is not None)

    @property
    def envelopes(self) -> list[dict]:
        assert timeline.drain(), "the publisher thread did not catch up"
        return [e for b in self.batches for e in b]


@pytest.fixture
def recorder(ctx) -> Iterator[Recorder]:
    with registry(ctx).publishers.scoped("test.recorder", Recorder()) as rec:
        yield rec


@pytest.fixture
def test_types(ctx) -> Iterator[None]:
    """Two event types declared for these tests only."""
    types = registry(ctx).event_types
    with types.scoped("test.noted", NOTED), types.scoped("test.doomed", DOOMED):
        yield


NOTED = EventType("test.noted", "noted")
DOOMED = EventType("test.doomed", "doomed")


def test_an_undeclared_event_type_is_refused_and_nothing_is_written(ctx):
    officer = _officer()
    case_id = _intake(officer)
    with pytest.raises(UndeclaredEventType, match="test.undeclared"):
        timeline.append(db.session, case_id, "test.undeclared", {}, officer.id)
    # A type that merely shares a declared type's name is not the declared type either.
    with pytest.raises(UndeclaredEventType):
        timeline.append(db.session, case_id, EventType("case.updated", "impostor"), {}, officer.id)
    db.session.rollback()
    assert [e.type for e in timeline.events_after(case_id)] == ["case.created", "case.classified"]
    assert db.session.get(Case, case_id).last_seq == 2


def test_events_are_published_after_commit_only(ctx, recorder, test_types):
    officer = _officer()
    case_id = _intake(officer)
    assert [(e["seq"], e["type"]) for e in recorder.envelopes] == [
        (1, "case.created"), (2, "case.classified")]
    assert recorder.committed == [True, True]
    assert timeline.pending_count() == 0
    # An append not yet committed is not published; the commit publishes it.
    timeline.append(db.session, case_id, NOTED, {"n": 1}, officer.id)
    assert len(recorder.envelopes) == 2
    db.session.commit()
    assert recorder.envelopes[-1]["seq"] == 3 and recorder.envelopes[-1]["type"] == "test.noted"
    assert recorder.committed == [True, True, True]
    env = recorder.envelopes[-1]
    assert set(env) == {"case_id", "seq", "type", "at", "actor", "data"}
    assert env["case_id"] == case_id and env["actor"] == officer.id and env["data"] == {"n": 1}


def test_a_rolled_back_command_leaves_no_event_and_no_outbox_row(ctx, recorder, test_types):
    officer = _officer()
    officer_id = officer.id
    case_id = _intake(officer)
    published = len(recorder.envelopes)

    @commands.transactional
    def append_then_raise():
        timeline.append(db.session, case_id, DOOMED, {}, officer_id)
        raise RuntimeError("the command fails after appending")

    with pytest.raises(RuntimeError):
        append_then_raise()
    db.session.remove()
    officer = db.session.get(type(officer), officer_id)
    assert db.session.execute(sa.select(sa.func.count()).select_from(Event)
                              .where(Event.type == "test.doomed")).scalar_one() == 0
    assert db.session.execute(sa.select(sa.func.count()).select_from(EventOutbox)).scalar_one() == 0
    assert db.session.get(Case, case_id).last_seq == 2
    assert len(recorder.envelopes) == published
    # the next event takes the next number: no gap was left behind
    _investigate(officer, case_id)
    assert [e.seq for e in timeline.events_after(case_id)] == [1, 2, 3]
    assert timeline.verify() == (1, [])


def test_a_failing_publisher_leaves_events_pending_for_the_sweep(ctx):
    def broken(envelopes):
        raise ConnectionError("redis is down")

    officer = _officer()
    with registry(ctx).publishers.scoped("test.broken", broken):
        try:
            case_id = _intake(officer)  # the command still succeeds: the commit stands
            _investigate(officer, case_id)
        finally:
            assert timeline.drain()  # the publisher thread has tried them all with `broken`
    assert timeline.pending_count() == 3
    attempts = db.session.execute(sa.select(EventOutbox.attempts)).scalars().all()
    assert attempts == [1, 1, 1]
    with registry(ctx).publishers.scoped("test.recorder", Recorder()) as rec:
        assert timeline.publish() == 3
    assert [(e["case_id"], e["seq"]) for e in rec.envelopes] == [(case_id, 1), (case_id, 2),
                                                                 (case_id, 3)]
    assert timeline.pending_count() == 0
    assert timeline.publish() == 0  # nothing left: a second sweep publishes nothing again


def test_the_publish_pending_command_sweeps_the_outbox(ctx):
    def broken(envelopes):
        raise ConnectionError("down")

    officer = _officer()
    with registry(ctx).publishers.scoped("test.broken", broken):
        try:
            _intake(officer)
        finally:
            assert timeline.drain()  # the publisher thread has tried them all with `broken`
    assert timeline.pending_count() == 2
    result = cli(ctx, "timeline", "publish-pending")
    assert result.exit_code == 0, result.output
    assert "published 2 event(s); 0 still pending" in result.output
    assert timeline.pending_count() == 0


# --- TRUNCATE and checkpoints of the chain heads ------------------------------------------------

def test_postgresql_refuses_to_truncate_the_events(pg):
    _, case_id = _case_with_events(1)
    timeline.drain()  # the publisher holds outbox rows while it sends (TRUNCATE would wait)
    for sql in ("TRUNCATE events CASCADE", "TRUNCATE cases CASCADE"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only: TRUNCATE"), \
                db.engine.begin() as conn:
            conn.execute(sa.text(sql))
    db.session.remove()
    assert len(timeline.events_after(case_id)) == 3


def test_a_sweep_behind_a_table_lock_gives_up_and_leaves_the_rows_pending(pg):
    """The sweep holds its outbox rows while the relay reads the cases; a read queued behind
    an ACCESS EXCLUSIVE lock (a migration's, which may wait for those outbox rows) gives up
    after its lock timeout instead of waiting forever — a deadlock PostgreSQL cannot see."""
    import threading

    _, case_id = _case_with_events(0)
    assert timeline.drain()
    db.session.execute(sa.text("INSERT INTO event_outbox (event_id, attempts, created_at) "
                               "SELECT id, 0, now() - interval '1 minute' FROM events "
                               "WHERE case_id = :c"), {"c": case_id})
    db.session.commit()
    db.session.remove()
    results: list[int] = []
    with db.engine.connect() as locker:
        locker.execute(sa.text("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE"))

        def sweep() -> None:
            with pg.app_context():
                results.append(timeline.publish())
                db.session.remove()

        t = threading.Thread(target=sweep)
        t.start()
        t.join(60)  # liveness, not speed: the lock is still held while the sweep ends
        finished = not t.is_alive()
        locker.rollback()
    t.join(60)
    assert finished and results == [0]
    assert timeline.pending_count() >= 1  # left for the next sweep, counted as a failure
    assert timeline.publish() >= 1 and timeline.pending_count() == 0


def _shorten(case_id: int, keep: int) -> None:
    """Delete the events after `keep` and rewind the case's counter to it: the chain left
    is intact, so only a checkpoint can tell."""
    tamper(("DELETE FROM event_outbox WHERE event_id IN "
            "(SELECT id FROM events WHERE case_id = :c AND seq > :k)", {"c": case_id, "k": keep}),
           ("DELETE FROM events WHERE case_id = :c AND seq > :k", {"c": case_id, "k": keep}),
           ("UPDATE cases SET last_seq = :k WHERE id = :c", {"c": case_id, "k": keep}))


def test_a_shortened_chain_passes_verify_but_not_verify_with_a_checkpoint(ctx, tmp_path):
    officer, case_id = _case_with_events(3)
    other = _intake(officer, "另一个案件")
    made = cli(ctx, "timeline", "checkpoint", "--dir", str(tmp_path))
    assert made.exit_code == 0, made.output
    path = next(tmp_path.glob("checkpoint-*.json"))
    assert f"sha256={checkpoints.digest(path)}" in made.output
    ok = cli(ctx, "timeline", "verify", "--checkpoint", str(path))
    assert ok.exit_code == 0 and "2 checkpointed head(s)" in ok.output, ok.output
    _investigate(officer, case_id)  # a chain that grew since is fine
    assert cli(ctx, "timeline", "verify", "--checkpoint", str(path)).exit_code == 0

    _shorten(case_id, 3)
    assert timeline.verify() == (2, [])  # the chain that is left is intact
    assert cli(ctx, "timeline", "verify").exit_code == 0
    result = cli(ctx, "timeline", "verify", "--checkpoint", str(path))
    assert result.exit_code == 1
    assert f"case {case_id} seq 5: the case's counter was rewound to 3" in result.output
    assert f"case {case_id} seq 5: the checkpointed event is missing" in result.output
    assert f"case {other} " not in result.output


def test_a_tampered_checkpoint_fails_its_signature(ctx, tmp_path):
    _, case_id = _case_with_events(2)
    path = checkpoints.write(tmp_path)
    document = json.loads(path.read_text())
    document["heads"][0]["seq"] = 2  # as if written after a shortening
    path.write_text(json.dumps(document))
    result = cli(ctx, "timeline", "verify", "--checkpoint", str(path))
    assert result.exit_code == 1 and "signature does not match" in result.output
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.check(path)


def test_the_daily_checkpoint_is_written_once_a_day(ctx, tmp_path, monkeypatch):
    monkeypatch.setitem(ctx.config, "MEDIATION_CHECKPOINT_DIR", str(tmp_path))
    _case_with_events(0)
    first = checkpoints.daily()
    assert first is not None and first.parent == tmp_path
    assert checkpoints.daily() is None  # today's is there
    with clock.frozen(clock.now() + dt.timedelta(days=1)):
        assert checkpoints.daily() is not None
    assert len(list(tmp_path.glob("checkpoint-*.json"))) == 2
    assert checkpoints.latest_digest()["digest"] == checkpoints.digest(checkpoints.latest())

def test_the_sweep_never_sends_what_the_publisher_thread_is_sending(ctx):
    # The thread is inside a slow delivery of the new events while a sweep runs: on
    # PostgreSQL the thread holds its rows (FOR UPDATE SKIP LOCKED) and the sweep skips
    # them; on SQLite the sweep leaves the thread's untried young rows to it.
    import threading

    started, release = threading.Event(), threading.Event()
    sent: list[tuple[int, int]] = []

    def slow(envelopes):
        started.set()
        assert release.wait(20)
        sent.extend((e["case_id"], e["seq"]) for e in envelopes)

    officer = _officer()
    with registry(ctx).publishers.scoped("test.slow", slow):
        case_id = _intake(officer)
        try:
            assert started.wait(20)  # the thread is delivering
            swept = timeline.publish()  # the sweep, meanwhile
        finally:
            release.set()
        assert timeline.drain()
        assert swept == 0
        assert timeline.publish() == 0  # and nothing is left for a later sweep either
    assert sorted(sent) == [(case_id, 1), (case_id, 2)]
    assert timeline.pending_count() == 0


def test_a_request_publishes_its_own_events_unless_another_request_is_publishing(ctx):
    # A quiet service delivers a request's events from the request's own thread; while
    # another request is doing so, they go to the publisher thread (writes that overlap go
    # out together). Either way each goes out once and the outbox is cleared.
    import threading

    sent: list[tuple[str, int, int]] = []

    def record(envelopes):
        sent.extend((threading.current_thread().name, e["case_id"], e["seq"]) for e in envelopes)

    officer = _officer()
    here = threading.current_thread().name
    with registry(ctx).publishers.scoped("test.where", record):
        with ctx.test_request_context("/api/cases", method="POST"):
            first = _intake(officer)
        assert timeline.drain()
        assert sent == [(here, first, 1), (here, first, 2)]
        sent.clear()
        assert timeline._direct.acquire(blocking=False)  # another request is publishing
        try:
            with ctx.test_request_context("/api/cases", method="POST"):
                second = _intake(officer, title="另一件")
            assert timeline.drain()
        finally:
            timeline._direct.release()
    assert sent == [("timeline-publisher", second, 1), ("timeline-publisher", second, 2)]
    assert timeline.pending_count() == 0
    assert timeline.publish() == 0  # nothing left for the sweep


def test_a_partial_publication_clears_only_what_went_out(ctx):
    def half(envelopes):
        raise timeline.NotPublished(1, "no listener")

    officer = _officer()
    with registry(ctx).publishers.scoped("test.half", half):
        case_id = _intake(officer)
        assert timeline.drain()
    left = db.session.execute(sa.select(Event.seq).join(EventOutbox, EventOutbox.event_id == Event.id)
                              .where(Event.case_id == case_id)).scalars().all()
    assert left == [2]  # the first went out; the second waits for the sweep


def test_a_stored_events_json_envelope_decodes_to_its_envelope(ctx, test_types):
    officer = _officer()
    case_id = _intake(officer)
    data = {"body": '请于周五前补充材料 "引号" \\ \u2028', "n": [1, 2.5, None, True],
            "nested": {"b": 1, "a": "é"}}
    timeline.append(db.session, case_id, NOTED, data, officer.id)
    timeline.append(db.session, case_id, NOTED, {}, None)
    db.session.commit()
    stored = timeline.stored_events_after(case_id)
    assert [e.seq for e in stored] == [1, 2, 3, 4]
    for ev in stored:
        assert json.loads(ev.envelope_json()) == ev.envelope()
    assert stored[2].envelope()["data"] == data and stored[3].envelope()["actor"] is None
    assert stored[2].envelope() == timeline.events_after(case_id)[2].envelope()
    assert stored[2].envelope()["at"].endswith("Z")


@pytest.mark.parametrize("moment,text", [
    (dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), "2026-01-02T03:04:05.000006Z"),
    (dt.datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000000Z"),  # naive: UTC (SQLite)
    (dt.datetime(2026, 1, 2, 11, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))),
     "2026-01-02T03:04:05.000000Z"),
])
def test_iso_says_every_moment_in_utc_with_z(moment, text):
    assert timeline.iso(moment) == text


def test_a_request_publishes_its_own_events_after_its_commit_when_the_thread_is_idle(ctx, test_types):
    import threading

    officer = _officer()
    case_id = _intake(officer)
    assert timeline.drain()
    threads: list[str] = []

    def recording(envelopes):
        threads.append(threading.current_thread().name)
        rec(envelopes)

    rec = Recorder()
    with registry(ctx).publishers.scoped("test.recording", recording), ctx.test_request_context():
        timeline.append(db.session, case_id, NOTED, {"n": 1}, officer.id)
        timeline.append(db.session, case_id, NOTED, {"n": 2}, officer.id)
        db.session.commit()
        # Published and cleared before the commit returned, by this thread: no drain needed.
        assert [(e["seq"], e["data"]) for b in rec.batches for e in b] == [(3, {"n": 1}), (4, {"n": 2})]
        assert rec.committed == [True, True]
        assert threads == [threading.current_thread().name]
        assert db.session.execute(sa.select(sa.func.count()).select_from(EventOutbox)).scalar_one() == 0
        db.session.rollback()
    assert timeline.publish() == 0  # nothing left for the sweep


def test_a_request_whose_publication_failed_leaves_its_events_and_the_next_goes_to_the_thread(
        ctx, test_types):
    import threading

    officer = _officer()
    case_id = _intake(officer)
    assert timeline.drain()
    threads: list[str] = []

    def broken(envelopes):
        threads.append(threading.current_thread().name)
        raise ConnectionError("redis is down")

    here = threading.current_thread().name
    with registry(ctx).publishers.scoped("test.broken", broken):
        with ctx.test_request_context():
            timeline.append(db.session, case_id, NOTED, {"n": 1}, officer.id)
            db.session.commit()
            assert threads == [here]  # tried at once, and failed: pending, counted
            assert db.session.execute(sa.select(EventOutbox.attempts)).scalars().all() == [1]
            db.session.rollback()
            # After a failed delivery the next request does not wait on a broken queue.
            timeline.append(db.session, case_id, NOTED, {"n": 2}, officer.id)
            db.session.commit()
            db.session.rollback()
        assert timeline.drain()
    assert threads[1:] == ["timeline-publisher"]
    assert timeline.pending_count() == 2
    with registry(ctx).publishers.scoped("test.recorder", Recorder()) as rec:
        assert timeline.publish() == 2
    assert [e["seq"] for e in rec.envelopes] == [3, 4]


def test_postgresql_every_claim_sets_its_transactions_lock_timeout(pg):
    """What the publishers read through the claiming transaction gives up behind a lock:
    the claim of events sent from memory sets lock_timeout in its own statement, the sweep's
    claim by SET LOCAL before it."""
    officer = _officer()
    seen: list[str] = []

    def reading(envelopes):
        session = timeline.claiming_session()
        seen.append(session.execute(sa.text("SHOW lock_timeout")).scalar_one())

    with registry(pg).publishers.scoped("test.reading", reading):
        with pg.test_request_context():  # a request publishes its events itself, from memory
            _intake(officer)
            db.session.rollback()
        assert timeline.drain()
        assert seen and set(seen) == {timeline.CLAIM_LOCK_TIMEOUT}
        _, case_id = _case_with_events(0)
        assert timeline.drain()  # (outside a request: the publisher thread, from memory)
        assert set(seen) == {timeline.CLAIM_LOCK_TIMEOUT}
        seen.clear()
        db.session.execute(sa.text("INSERT INTO event_outbox (event_id, attempts, created_at) "
                                   "SELECT id, 0, now() - interval '1 minute' FROM events "
                                   "WHERE case_id = :c"), {"c": case_id})
        db.session.commit()
        assert timeline.publish() >= 1  # the sweep
        assert seen == [timeline.CLAIM_LOCK_TIMEOUT]
    assert db.session.execute(sa.text("SHOW lock_timeout")).scalar_one() != timeline.CLAIM_LOCK_TIMEOUT


def test_postgresql_a_publisher_reads_inside_the_claim_of_events_sent_from_memory(pg):
    """The claim of events sent from memory runs on a bare connection; the session a
    publisher reads through is bound to that connection's transaction: it sees the outbox
    rows taken (deleted, not yet committed) while another connection still sees them, and
    after the commit they are gone for all."""
    officer = _officer()
    seen: list[tuple[int, int]] = []

    def reading(envelopes):
        assert envelopes
        inside = timeline.claiming_session().execute(
            sa.text("SELECT count(*) FROM event_outbox")).scalar_one()
        with db.engine.connect() as other:
            outside = other.execute(sa.text("SELECT count(*) FROM event_outbox")).scalar_one()
        seen.append((inside, outside))

    with registry(pg).publishers.scoped("test.reading", reading):
        with pg.test_request_context():  # the request publishes its own events
            _intake(officer)
            db.session.rollback()
        assert timeline.drain()
    assert seen and seen[0][0] == seen[0][1] - 2  # the case's two first events, taken
    assert timeline.pending_count() == 0


def test_events_sent_from_memory_come_with_their_cases_regions_and_the_sweeps_without(
        ctx, test_types):
    """A new case's region from the case, a stored one's from the update that numbers its
    events (nothing of it in the session), while the publishers run: the relay reads none."""
    seen: list[dict[int, str]] = []
    cases_read: list[str] = []

    def recording(envelopes):
        seen.append(dict(timeline.case_regions()))

    def statement(conn, cursor, sql, params, context, many):
        if "FROM cases" in sql:
            cases_read.append(sql)

    here, there = _officer(), make_user("case_officer", "440305")
    with registry(ctx).publishers.scoped("test.regions", recording):
        ours, theirs = _intake(here), _intake(there, region="440305")
        assert timeline.drain()
        assert {ours: "510104"} in seen and {theirs: "440305"} in seen
        seen.clear()
        db.session.expunge_all()
        sa.event.listen(db.engine, "before_cursor_execute", statement)
        try:
            with ctx.test_request_context():  # published by this thread, through the relay
                timeline.append_batch(db.session, {ours: [(NOTED, {})], theirs: [(NOTED, {})]}, None)
                db.session.commit()
                db.session.rollback()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", statement)
        assert seen == [{ours: "510104", theirs: "440305"}]
        assert cases_read == []
        seen.clear()
        db.session.execute(sa.insert(EventOutbox).from_select(
            ["event_id", "created_at", "attempts"],
            sa.select(Event.id, sa.literal(clock.now() - dt.timedelta(minutes=1)), sa.literal(1))
            .where(Event.case_id == ours)))
        db.session.commit()
        assert timeline.publish() == 3  # the sweep: the relay reads the regions
        assert seen == [{}]


@pytest.mark.parametrize("read_fails", [False, True])
def test_postgresql_a_partial_publication_from_memory_leaves_the_rest_as_it_was_plus_an_attempt(
        pg, read_fails):
    """The claim of events sent from memory deletes their rows: those of the events that did
    not go out come back with their created_at and one more attempt, whether the claim's
    transaction is still usable or a publisher's read there failed (rolled back, settled anew)."""
    def half(envelopes):
        if read_fails:
            with pytest.raises(sa.exc.DBAPIError):
                timeline.claiming_session().execute(sa.text("SELECT 1 / 0"))
        raise timeline.NotPublished(1, "no listener")

    officer = _officer()
    with registry(pg).publishers.scoped("test.half", half):
        case_id = _intake(officer)
        assert timeline.drain()
    left = db.session.execute(
        sa.select(Event.seq, Event.at, EventOutbox.created_at, EventOutbox.attempts)
        .join(EventOutbox, EventOutbox.event_id == Event.id).where(Event.case_id == case_id)).all()
    assert [(seq, attempts) for seq, _, _, attempts in left] == [(2, 1)]
    assert left[0].created_at == left[0].at
    db.session.rollback()
    with registry(pg).publishers.scoped("test.recorder", Recorder()) as rec:
        assert timeline.publish() == 1
    assert [e["seq"] for e in rec.envelopes] == [2]


def test_rows_beside_the_events_are_written_before_them_on_either_database(ctx):
    # timeline.RowsBeside: a new case's row goes with its first events (one statement on
    # PostgreSQL, an INSERT before the events' elsewhere); `written` runs before the hooks
    from mediation.cases.commands import _insert_row, _take_defaults

    officer = _officer()
    case = Case(id=4242, region_code="510104", reference="XF-2025-004242", title="同写",
                created_by_id=officer.id, last_seq=0, action_listed_on=None)
    nulls = _take_defaults(case)
    timeline.start_case(db.session, case)
    heard: list[str] = []

    def hook(session, events) -> None:
        heard.extend(f"{e.type} {sa.inspect(case).persistent}" for e in events)

    def written() -> None:
        sa.orm.make_transient_to_detached(case)
        db.session.add(case)

    with registry().append_hooks.scoped("test.heard", hook):
        timeline.append_many(db.session, case.id, [("case.created", {"n": 1}), ("case.classified", {})],
                             officer.id, timeline.RowsBeside(
                                 lambda: [(Case.__table__, [_insert_row(case, nulls)])], written))
    db.session.commit()
    assert heard == ["case.created True", "case.classified True"]  # in the session by then
    db.session.remove()
    stored = db.session.get(Case, 4242)
    assert (stored.title, stored.last_seq, stored.departments) == ("同写", 2, [])
    assert timeline.verify() == (1, [])


@pytest.mark.parametrize("actor_id, type_, data, prev", [
    (7, "case.created", '{"a":"张三","b":[1,2]}', "ab" * 32),
    (None, "case.classified", '{"q":"say \\"hi\\"\\n","u":"\\u2028"}', timeline.GENESIS),
    (0, "x\ty", 'é"\\\u0000\u2028', ""),
])
def test_an_events_hash_is_that_of_its_canonical_material(actor_id, type_, data, prev):
    # event_hash composes the material's text itself: it must be canonical_json's, byte for
    # byte, or stored chains stop verifying
    import hashlib

    at = dt.datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=dt.UTC)
    material = timeline.canonical_json({"case": 42, "seq": 3, "type": type_, "actor": actor_id,
                                        "at": timeline.iso(at), "data": data, "prev": prev})
    assert timeline.event_hash(42, 3, type_, actor_id, at, data, prev) == \
        hashlib.sha256(material.encode()).hexdigest()
    assert material == json.dumps(json.loads(material), sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False)


def test_canonical_json_is_json_dumps_with_its_options():
    data = {"b": [dt.date(2025, 1, 2), None, True, 1.5], "a": {"z": "张三", "y": '"\n'}}
    assert timeline.canonical_json(data) == json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def test_the_events_the_append_hooks_hear_carry_the_stored_rows(ctx):
    # append_batch builds the hooks' Event objects without their constructor: each must
    # read as its stored row does, and stay out of the session
    officer = _officer()
    heard: list[Event] = []
    with registry().append_hooks.scoped("test.heard", lambda _s, events: heard.extend(events)):
        case_id = _intake(officer)
    db.session.commit()
    assert heard and all(ev not in db.session for ev in heard)
    stored = {ev.seq: ev for ev in db.session.execute(
        sa.select(Event).where(Event.case_id == case_id)).scalars()}
    assert [ev.seq for ev in heard] == sorted(stored)
    for ev in heard:
        row = stored[ev.seq]
        assert ev.envelope() == row.envelope()
        assert (ev.id, ev.prev_hash, ev.hash, ev.data) == (row.id, row.prev_hash, row.hash, row.data)


def test_the_relay_reads_through_a_session_only_when_it_needs_to(ctx, monkeypatch):
    """Events sent from memory carry their regions and a new case's have no recipient
    rules: the relay asks for no session (building one cost more than its own work); the
    sweep's events carry no regions, read through the claim's session (or one of its own)."""
    from realtime import relay

    assert "socketio" in ctx.extensions  # the relay publishes here
    asked: list[int] = []
    real = relay.claiming_session
    monkeypatch.setattr(relay, "claiming_session", lambda: asked.append(1) or real())
    with ctx.test_request_context():  # the request publishes its events through the relay
        case_id = _intake(_officer())
        db.session.rollback()
    assert timeline.drain()
    assert asked == [] and timeline.pending_count() == 0
    db.session.execute(sa.insert(EventOutbox).from_select(
        ["event_id", "created_at", "attempts"],
        sa.select(Event.id, sa.literal(clock.now() - dt.timedelta(minutes=1)), sa.literal(1))
        .where(Event.case_id == case_id)))
    db.session.commit()
    assert timeline.publish() == 2  # the sweep: the regions are read
    assert asked == [1]


@pytest.mark.postgres
@pytest.mark.parametrize("plan", ["force_custom_plan", "force_generic_plan"])
def test_the_sweep_reads_the_pending_rows_and_their_events_by_key(pg, plan):
    """The sweep's claim reads the oldest pending outbox rows and their events by their
    keys: never every event of the database. So whether the server plans the prepared
    statement with the limit's value (custom) or without it (generic), and with no
    statistics (this machine's PostgreSQL runs without autovacuum): there the outbox's heap
    keeps a dead row of every event ever published, from which the planner guesses an
    outbox as large as the timeline, and a join of the two ordered by the event id became
    a merge join that walked the events' key from the first event to the few pending."""
    _, case_id = _case_with_events(0)
    assert timeline.drain()
    with db.engine.begin() as conn:  # 20,000 more events, each once pending, then published
        copy_events(conn, case_id, 10000)
        conn.execute(sa.text("INSERT INTO event_outbox (event_id, attempts, created_at) "
                             "SELECT id, 0, now() - interval '1 minute' FROM events"))
        newest = conn.execute(sa.text("SELECT id FROM events ORDER BY id DESC LIMIT 3")).scalars().all()
        conn.execute(sa.text("DELETE FROM event_outbox WHERE event_id <> ALL(:ids)"), {"ids": newest})

    with forced_plan(plan, ("events", "event_outbox")) as reads:
        claimed = timeline._claim(db.session, None, None, 500)
    assert sorted(i for i, _ in claimed) == sorted(newest)
    assert reads["events"] == (0, 3), reads  # (sequential scans, rows by index)
    assert reads["event_outbox"][0] == 0, reads


@pytest.mark.postgres
@pytest.mark.parametrize("plan", ["force_custom_plan", "force_generic_plan"])
def test_a_cases_events_are_read_by_the_case_and_seq_index_beside_a_large_timeline(pg, plan):
    """Events have no index on case_id alone (migration 0035): the unique index on
    (case_id, seq) answers every read by case. A catch-up and a timeline page read the
    case's own events by that index, whatever plan the server makes and with no
    statistics, beside another case of 20,000 events."""
    officer, case_id = _case_with_events(2)
    from tests.factories import make_case

    big = make_case(officer).id
    assert timeline.drain()
    with db.engine.begin() as conn:
        copy_events(conn, big, 10000)
        indexes = conn.execute(sa.text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'events'")).scalars().all()
    assert "ix_events_case_id" not in indexes and "uq_events_case_seq" in indexes
    mine = db.session.execute(sa.select(sa.func.count()).where(Event.case_id == case_id)).scalar()
    db.session.rollback()
    with forced_plan(plan, ("events",)) as reads:
        stored = timeline.stored_events_after(case_id, 0, 500)
        later = timeline.events_after(case_id, 1, 500)
    assert [e.seq for e in stored] == list(range(1, mine + 1))
    assert [e.seq for e in later] == list(range(2, mine + 1))
    assert reads["events"] == (0, 2 * mine - 1), reads  # (sequential scans, rows by index)


@pytest.mark.postgres
def test_postgresql_the_claim_of_a_requests_events_is_planned_once_and_takes_only_them(pg):
    """A request's own events (up to DIRECT_MAX) are claimed by a statement with one
    parameter per id: the server keeps one plan for it, where the ids as an array made it
    plan the claim anew at every execution. Larger batches take the array. Either way the
    claim takes (deletes) the named pending rows and no other."""
    _, case_id = _case_with_events(0)
    assert timeline.drain()
    with db.engine.begin() as conn:  # 30 more events of the case, all pending
        copy_events(conn, case_id, 15)
        conn.execute(sa.text("INSERT INTO event_outbox (event_id, attempts, created_at) "
                             "SELECT id, 0, now() FROM events WHERE case_id = :c"), {"c": case_id})
        pending = conn.execute(sa.text("SELECT event_id FROM event_outbox ORDER BY 1")).scalars().all()
    assert len(pending) == 32
    from mediation import driver

    with db.engine.connect() as conn:
        conn.begin()
        for ids in (pending[:2], pending[2:2 + timeline.DIRECT_MAX + 1]):  # by count, by array
            statement, params = timeline._take(ids)
            assert ("= ANY" in str(statement)) == (len(ids) > timeline.DIRECT_MAX)
            taken = driver.rows(conn, driver.prepared(statement, conn.dialect), params)
            assert sorted(row[0] for row in taken) == ids
        left = conn.execute(sa.text("SELECT event_id FROM event_outbox ORDER BY 1")).scalars().all()
        assert left == pending[2 + timeline.DIRECT_MAX + 1:]
        statement, params = timeline._take(pending[-2:])
        for _ in range(15):  # psycopg prepares it after 5; the server then tries 5 custom plans
            driver.rows(conn, driver.prepared(statement, conn.dialect), params)
        plans = conn.execute(sa.text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'DELETE FROM event_outbox%' AND statement NOT LIKE '%ANY%'")).all()
        conn.rollback()
    assert len(plans) == 1 and plans[0].generic_plans >= 3, plans

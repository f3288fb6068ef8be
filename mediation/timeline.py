"""The case timeline: an append-only, hash-chained log of every change to a case.

Each event is written in the same transaction as the change it records. Its sequence
number is allocated by one conditional update of the case row (`last_seq = last_seq + 1`),
which also serialises concurrent writers of one case on SQLite and PostgreSQL alike, so
the previous event read right after it is the true predecessor for the hash chain.

Publication state lives beside the event, in `event_outbox`: a row per event not yet
published. The event row itself is never updated or deleted by any code path.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import current_app, has_app_context, has_request_context
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, Session, mapped_column

from mediation import clock, driver, outages
from mediation.extensions import UTCDateTime, db
from mediation.registry import registry
from mediation.transactions import after_commit, scratch

if TYPE_CHECKING:  # the catalogue imports the timeline (to read events back)
    from mediation.events import EventType

log = logging.getLogger(__name__)

GENESIS = "0" * 64


def utcnow() -> dt.datetime:
    """The current moment (mediation.clock, so a test's frozen clock holds here too)."""
    return clock.now()


def iso(moment: dt.datetime) -> str:
    """Canonical UTC text for a moment; naive values (SQLite) are taken as UTC."""
    if moment.tzinfo is not dt.UTC:  # what the database hands back is UTC already
        moment = (moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None
                  else moment.astimezone(dt.UTC))
    # isoformat is several times cheaper than strftime (a catch-up formats thousands); an
    # aware UTC value ends in "+00:00", said "Z" here
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


# json.dumps with these options builds a new encoder on every call; one built once encodes
# the same text (an encoder keeps no state between calls)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_canonical_str = json.encoder.encode_basestring  # what _CANONICAL does with a str


def canonical_json(data: Any) -> str:
    return _CANONICAL.encode(data)


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (sa.UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    # no index of its own: uq_events_case_seq, on (case_id, seq), answers every read by case
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    seq: Mapped[int]
    type: Mapped[str] = mapped_column(sa.String(64))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The canonical JSON text exactly as hashed: the hash covers these bytes.
    data: Mapped[str] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.data)

    def envelope(self) -> dict[str, Any]:
        """The one shape in which an event is delivered anywhere."""
        return {
            "case_id": self.case_id,
            "seq": self.seq,
            "type": self.type,
            "at": iso(self.at),
            "actor": self.actor_id,
            "data": self.payload,
        }


def data_int(column: Any, key: str) -> Any:
    """An integer field of an event's JSON data (`Event.data` or an alias's), read in SQL:
    so that a query can pick the events naming a message or a session and LIMIT them."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.cast(column, JSONB)[key].as_integer()
    return sa.type_coerce(column, sa.JSON)[key].as_integer()


class EventOutbox(db.Model):
    """An event committed but not yet published. Deleted once published."""

    __tablename__ = "event_outbox"

    event_id: Mapped[int] = mapped_column(sa.ForeignKey("events.id"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)


_EVENTS = Event.__table__
_OUTBOX = EventOutbox.__table__


def event_hash(
    case_id: int, seq: int, type_: str, actor_id: int | None, at: dt.datetime, data: str, prev: str
) -> str:
    if (type(case_id) is int and type(seq) is int and (actor_id is None or type(actor_id) is int)
            and type(type_) is str and type(data) is str and type(prev) is str):
        # the text canonical_json gives the dict below, composed directly (its keys in
        # sorted order; an int as its repr, a str through the same escaping): every event
        # written and verified is hashed, and this is a third of the dict's encoding cost
        s = _canonical_str
        material = (f'{{"actor":{"null" if actor_id is None else actor_id},"at":{s(iso(at))},'
                    f'"case":{case_id},"data":{s(data)},"prev":{s(prev)},"seq":{seq},'
                    f'"type":{s(type_)}}}')
    else:
        material = canonical_json(
            {"case": case_id, "seq": seq, "type": type_, "actor": actor_id, "at": iso(at),
             "data": data, "prev": prev}
        )
    return hashlib.sha256(material.encode()).hexdigest()


def start_case(session: Session, case) -> None:
    """Say that `case` was inserted in this transaction: nobody else can see its row
    until the commit, so its events are numbered in memory, with no conditional update."""
    scratch(session).setdefault("fresh_cases", {})[case.id] = case


def append(
    session: Session, case_id: int, type_: EventType, data: dict[str, Any], actor_id: int | None
) -> Event:
    """Append one event to a case in the caller's transaction (never commits)."""
    return append_many(session, case_id, [(type_, data)], actor_id)[0]


def append_many(
    session: Session, case_id: int, items: list[tuple[EventType, dict[str, Any]]], actor_id: int | None,
    beside: RowsBeside | None = None,
) -> list[Event]:
    """Append events to a case in the caller's transaction, in order (never commits).

    Each type must be declared in the app's event catalogue (`mediation/events.py`);
    an undeclared one raises `UndeclaredEventType` before anything is written.

    Sequence numbers come from one conditional update of the case row, which serialises
    concurrent writers of the case until the commit; the previous hash is then read (or
    known from an earlier append in this transaction). Each event gets its outbox row in
    the same transaction, so a session without the after-commit hook (a script, a task)
    leaves them to the sweep rather than losing them. (`append_batch` for one case.)
    """
    return append_batch(session, {case_id: items}, actor_id, beside).get(case_id, [])


# Rows of other tables that a batch of events brings with it, written before the events
# (a new case's own row and its parties, which the events refer to): (table, rows), each
# row a dict of the same columns, every value given (no column defaults are applied).
Beside = list[tuple[sa.Table, list[dict[str, Any]]]]


@dataclass(frozen=True)
class RowsBeside:
    """What `append_batch` writes with the events, and what its caller does once they are in.

    `rows` is asked once the events are numbered (a new case's `last_seq` is final then);
    `written` runs right after the statement, before the append hooks: what the hooks read
    or change of those rows (a hook may load the new case, or append to it) must find
    them where the caller's objects are kept (in the session)."""

    rows: Callable[[], Beside]
    written: Callable[[], None]


def _insert_with_outbox(session: Session, rows: list[dict[str, Any]], at: dt.datetime,
                        beside: Beside = ()) -> list[int]:
    """Insert the rows `beside` (see Beside), then the events and their outbox rows; the
    events' ids in the rows' order.

    Two statements of plain SQL on the session's connection (one on PostgreSQL, the outbox
    rows inserted from the events' RETURNING), a multi-row VALUES each (in chunks for a
    large batch), each value through its column type's bind processing as
    SQLAlchemy would: every write appends events, and the Core insert's executemany with
    ordered RETURNING cost three times as much CPU as the statements themselves (1.07 vs
    0.42 ms for a case's two events and outbox rows, measured in-process on PostgreSQL).
    The ids come back with (case, seq), which maps them to their rows on any database. What
    depends on events hears of them through the append hooks, not by inspecting statements;
    no autoflush, as the case row is there (flushed by the caller, inserted before
    `start_case`, or among the rows `beside`).

    On PostgreSQL the rows `beside` go in the events' statement too, each table's rows a
    data-modifying CTE of its own: PostgreSQL checks the events' foreign keys at the end of
    the statement, when the rows they refer to are in. Elsewhere each table's rows are one
    INSERT, in turn, before the events'."""
    conn = session.connection()
    dialect = conn.dialect
    events, outbox = _raw_insert(dialect, _EVENTS), _raw_insert(dialect, _OUTBOX)
    # On PostgreSQL the outbox rows go in the same statement, inserted from the events'
    # RETURNING (a data-modifying CTE): one round trip instead of two.
    with_outbox = dialect.name == "postgresql"
    extra = [(_raw_insert(dialect, table, tuple(table_rows[0])), table_rows)
             for table, table_rows in beside if table_rows]
    if not with_outbox:
        for insert, table_rows in extra:
            for start in range(0, len(table_rows), _RAW_CHUNK):
                chunk = table_rows[start:start + _RAW_CHUNK]
                conn.exec_driver_sql(insert.sql(len(chunk)), insert.params(chunk))
        extra = []
    at_param = outbox.bound("created_at", at)
    ids: dict[tuple[int, int], int] = {}
    for start in range(0, len(rows), _RAW_CHUNK):
        chunk = rows[start:start + _RAW_CHUNK]
        if with_outbox:
            shape = tuple((insert, len(table_rows)) for insert, table_rows in extra)
            params = [p for insert, table_rows in extra for p in insert.params(table_rows)]
            extra = []  # with the first chunk only
            # on the driver's cursor (mediation.driver): every write's statement
            returned = driver.sql_rows(conn, _with_outbox_sql(events, len(chunk), shape),
                                       (*params, *events.params(chunk), at_param))
        else:
            returned = conn.exec_driver_sql(events.sql(len(chunk)), events.params(chunk)).all()
        if len(returned) != len(chunk):
            raise RuntimeError(f"inserted {len(returned)} of {len(chunk)} events")
        ids.update(((case_id, seq), id_) for id_, case_id, seq in returned)
    ordered = [ids[(row["case_id"], row["seq"])] for row in rows]
    if not with_outbox:
        for start in range(0, len(ordered), _RAW_CHUNK):
            chunk = [{"event_id": i, "created_at": at, "attempts": 0}
                     for i in ordered[start:start + _RAW_CHUNK]]
            conn.exec_driver_sql(outbox.sql(len(chunk)), outbox.params(chunk))
    return ordered


@functools.lru_cache(maxsize=32)
def _with_outbox_sql(events: _RawInsert, n: int, beside: tuple[tuple[_RawInsert, int], ...] = ()
                     ) -> str:
    """PostgreSQL: n events and their outbox rows in one statement (built once per n, for a
    few), after the rows of other tables `beside` ((insert, rows) pairs, each a CTE of its
    own): WITH inserted AS (INSERT INTO events ... RETURNING id, case_id, seq), outboxed AS
    (INSERT INTO event_outbox SELECT id, <at>, 0 FROM inserted) SELECT id, case_id, seq."""
    before = "".join(f"beside{k} AS ({insert.sql(count)}), "
                     for k, (insert, count) in enumerate(beside))
    return (f"WITH {before}inserted AS ({events.sql(n)}), outboxed AS (INSERT INTO event_outbox "
            f"(event_id, created_at, attempts) SELECT id, {events.mark}, 0 FROM inserted) "
            "SELECT id, case_id, seq FROM inserted")


# Rows per statement of `_insert_with_outbox` (8 parameters each: under SQLite's and
# PostgreSQL's limits on a statement's parameters).
_RAW_CHUNK = 500


class _RawInsert:
    """A multi-row INSERT of one table as plain SQL in the driver's parameter style, the
    values bound through the columns' types (`sql(n)` is built once per n, for a few)."""

    def __init__(self, dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...],
                 returning: tuple[str, ...]) -> None:
        quote = dialect.identifier_preparer.quote
        self.columns = columns
        self._processors = {name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                            for name in columns}
        self._pairs = tuple(self._processors.items())
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._head = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES "
        self._tail = f" RETURNING {', '.join(map(quote, returning))}" if returning else ""

    @functools.lru_cache(maxsize=32)  # noqa: B019 (the instances live as long as the process)
    def sql(self, n: int) -> str:
        one = "(" + ", ".join([self.mark] * len(self.columns)) + ")"
        return self._head + ", ".join([one] * n) + self._tail

    def bound(self, name: str, value: Any) -> Any:
        """One column's value as bound (through its type's processing)."""
        fn = self._processors[name]
        return value if fn is None else fn(value)

    def params(self, rows: list[dict[str, Any]]) -> tuple[Any, ...]:
        out: list[Any] = []
        for row in rows:
            out.extend(row[name] if fn is None else fn(row[name]) for name, fn in self._pairs)
        return tuple(out)


# The columns each raw insert writes, and what it returns.
_RAW_COLUMNS = {
    "events": (("case_id", "seq", "type", "actor_id", "at", "data", "prev_hash", "hash"),
               ("id", "case_id", "seq")),
    "event_outbox": (("event_id", "created_at", "attempts"), ()),
}
_raw_inserts: dict[tuple[str, str, str, tuple[str, ...] | None], _RawInsert] = {}


def _raw_insert(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...] | None = None
                ) -> _RawInsert:
    """The raw insert of a table: of its columns in _RAW_COLUMNS, or of `columns` (no
    RETURNING)."""
    key = (dialect.name, dialect.driver, table.name, columns)
    found = _raw_inserts.get(key)
    if found is None:
        spec = _RAW_COLUMNS[table.name] if columns is None else (columns, ())
        found = _raw_inserts.setdefault(key, _RawInsert(dialect, table, *spec))
    return found


def append_batch(
    session: Session, items: dict[int, list[tuple[EventType, dict[str, Any]]]],
    actor_id: int | None, beside: RowsBeside | None = None,
) -> dict[int, list[Event]]:
    """Append events to many cases at once (never commits; `append_many` is its one-case
    form): each case's events numbered after its `last_seq` and chained to its previous
    event, case after case, in a few statements for the whole batch — one UPDATE of the
    cases' `last_seq` (a CASE by id, RETURNING the new values and, on PostgreSQL, each
    predecessor's hash), one SELECT of the predecessors not known otherwise, one INSERT of
    the events and one of their outbox rows. Each case row is still locked by its update
    until the commit, so concurrent writers of a case queue as they do for `append_many`.
    The events are inserted case by case, in `items` order.

    `beside`, when given, gives the rows of other tables to write with the events, before
    them (`RowsBeside`): a new case's row, not yet written (`start_case` said it is new),
    goes there with its `last_seq` final, one statement on PostgreSQL for the case, its
    parties and its first events."""
    from mediation import writes
    from mediation.cases.models import Case
    declared = registry()
    batch = {case_id: [(declared.event_type(type_).name, data) for type_, data in events]
             for case_id, events in items.items() if events}
    if not batch:
        if beside is not None:
            raise ValueError("rows beside events need events to go with")
        return {}
    writes.count(session, actor_id)
    tx = scratch(session)
    fresh_cases = tx.get("fresh_cases", {})
    last_hashes: dict[int, tuple[int, str]] = tx.setdefault("last_hashes", {})
    first: dict[int, int] = {}
    prevs: dict[int, str] = {}
    # Each case's region, for the publishers (it never changes once the case is taken in)
    regions: dict[int, str] = {}
    stored = sorted(case_id for case_id in batch if case_id not in fresh_cases)
    for case_id in batch:
        fresh = fresh_cases.get(case_id)
        if fresh is not None:
            first[case_id] = fresh.last_seq + 1
            fresh.last_seq += len(batch[case_id])  # flushed with the case's own row
            regions[case_id] = fresh.region_code
    if stored:
        # One UPDATE of the stored cases' `last_seq` (a CASE by id), as plain SQL built once
        # per number of cases: the ORM's bulk UPDATE cost more CPU than the statement's
        # round trip, on every message and most writes (one case).
        session.flush()
        conn = session.connection()
        pg = conn.dialect.name == "postgresql"
        by_case = tuple(v for case_id in stored for v in (case_id, len(batch[case_id])))
        # (on the driver's cursor: SQLAlchemy's result for it cost more than its round trip)
        rows = driver.sql_rows(
            conn, _seq_update_sql(len(stored), pg, "?" if conn.dialect.paramstyle == "qmark" else "%s"),
            by_case + tuple(stored) + (by_case if pg else ()))
        returned = [(row[0], row[1], row[2], row[3] if pg else None) for row in rows]
        if len(returned) != len(stored):
            raise LookupError(f"cases not found: {sorted(set(stored) - {r[0] for r in returned})}")
        mapper = sa.inspect(Case)
        for case_id, last, region, prev in returned:
            first[case_id] = last - len(batch[case_id]) + 1
            regions[case_id] = region
            if prev is not None:
                prevs[case_id] = prev
            case = session.identity_map.get(mapper.identity_key_from_primary_key((case_id,)))
            if case is not None:
                sa.orm.attributes.set_committed_value(case, "last_seq", last)
    missing = []
    for case_id, seq in first.items():
        known = last_hashes.get(case_id)
        if seq == 1:
            prevs[case_id] = GENESIS
        elif known is not None and known[0] == seq - 1:
            prevs[case_id] = known[1]
        elif case_id not in prevs:
            missing.append((case_id, seq - 1))
    if missing:
        prevs.update(session.execute(
            sa.select(Event.case_id, Event.hash)
            .where(sa.tuple_(Event.case_id, Event.seq).in_(missing))).all())
    at = utcnow()
    rows = []
    for case_id, events in batch.items():
        prev = prevs[case_id]
        for offset, (type_, data) in enumerate(events):
            seq, text = first[case_id] + offset, canonical_json(data)
            digest = event_hash(case_id, seq, type_, actor_id, at, text, prev)
            rows.append({"case_id": case_id, "seq": seq, "type": type_, "actor_id": actor_id,
                         "at": at, "data": text, "prev_hash": prev, "hash": digest})
            prev = digest
        last_hashes[case_id] = (first[case_id] + len(events) - 1, prev)
    ids = _insert_with_outbox(session, rows, at, beside.rows() if beside is not None else ())
    if beside is not None:
        beside.written()
    created = [_written_event(i, row) for i, row in zip(ids, rows, strict=True)]
    for hook in declared.append_hooks.values():
        hook(session, created)
    out: dict[int, list[Event]] = {}
    for ev in created:
        after_commit(session, "timeline.publish", (ev.id, ev.envelope(), regions[ev.case_id]),
                     _publish_committed)
        out.setdefault(ev.case_id, []).append(ev)
    return out


def _written_event(id_: int, row: dict[str, Any]) -> Event:
    """The Event the append hooks are given for a row just written: its values put in the
    instance's dict as a load from the database would, without the constructor's
    attribute events (history nobody reads: the object is never added to a session)."""
    if not _EVENT_MAPPER.configured:  # what the constructor would have seen to
        sa.orm.configure_mappers()
    ev = _new_event()
    ev.__dict__.update(row, id=id_)
    return ev


_EVENT_MAPPER = sa.inspect(Event)
_new_event = _EVENT_MAPPER.class_manager.new_instance


@functools.lru_cache(maxsize=16)
def _seq_update_sql(n: int, pg: bool, mark: str) -> str:
    """`append_batch`'s UPDATE of n cases' `last_seq`, each by its count of events (bound as
    n (id, count) pairs, then the n ids, then on PostgreSQL the pairs again), RETURNING each
    case's id, new last_seq and region and, on PostgreSQL, its predecessor's hash in the same
    round trip (NULL when the statement waited for another writer of the case: read
    afterwards)."""
    count = ("CASE cases.id "
             + " ".join([f"WHEN {mark} THEN CAST({mark} AS INTEGER)"] * n) + " END")
    sql = (f"UPDATE cases SET last_seq = cases.last_seq + {count} "
           f"WHERE cases.id IN ({', '.join([mark] * n)}) "
           "RETURNING cases.id, cases.last_seq, cases.region_code")
    if pg:
        sql += (", (SELECT events.hash FROM events WHERE events.case_id = cases.id"
                f" AND events.seq = cases.last_seq - {count})")
    return sql


# What a transaction committed, for its publication from memory: (event id, envelope, the
# case's region).
Committed = tuple[int, dict[str, Any], str]

# A request publishes its own events (this many at most) right after its commit when the
# publisher thread has nothing to do: they reach the queue without waiting for that thread.
DIRECT_MAX = 20


# Held by the one request publishing its own events (see _publish_committed).
_direct = threading.Lock()


def _publish_committed(items: list[Committed]) -> None:
    """Publish what this transaction committed: a request's few events from this thread
    when no other request is doing so, the publisher thread is idle and the last delivery
    went through (the claim, the publishers and the clearing as that thread runs them: the
    sweep never sends them too), else hand them to the publisher thread. A quiet service
    delivers each write at once; under load the writes that overlap go out together, one
    claim and one commit for many (each request's own claim was about a tenth of an
    intake's CPU); Redis trouble, tasks and commands never wait in the committing thread."""
    if not has_app_context():  # nothing to publish with: the sweep will
        return
    app = current_app._get_current_object()
    if (has_request_context() and len(items) <= DIRECT_MAX and not _failures["count"]
            and _publisher.idle() and _direct.acquire(blocking=False)):
        try:
            _deliver_sorted(items, f"publishing a request's {len(items)} event(s)")
        finally:
            _direct.release()
        return
    _publisher.put(app, items)


def _deliver_sorted(items: list[Committed], what: str) -> None:
    """Deliver what was committed in (case, seq) order, the cases' regions known to the
    publishers (`case_regions`); a failure is logged as `what` and leaves them in the
    outbox, for the sweep."""
    items = sorted(items, key=lambda item: (item[1]["case_id"], item[1]["seq"]))
    try:
        _deliver([i for i, _, _ in items], [env for _, env, _ in items],
                 regions={env["case_id"]: region for _, env, region in items})
    except Exception as exc:
        if outages.is_unavailable(exc):
            outages.record_failure(exc, what)
        else:
            log.exception("%s failed", what)


class _BackgroundPublisher:
    """One thread per process that publishes committed events, from memory, in batches.

    The request that committed does not wait for Socket.IO or Redis, and under load one
    batch costs one query and one outbox delete for many events. A process that dies with
    events still queued loses nothing: their outbox rows stay, and the sweep sends them.
    """

    MAX_BATCH = 500

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._pid: int | None = None
        self._lock = threading.Lock()

    def idle(self) -> bool:
        """Nothing queued and no batch being sent."""
        return not self._queue.unfinished_tasks

    def put(self, app, items: list[Committed]) -> None:
        self._ensure_thread()
        self._queue.put((app, items))

    def _ensure_thread(self) -> None:
        # A forked child (a Celery worker) inherits the queue but not the thread.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.Queue()
                threading.Thread(target=self._run, name="timeline-publisher", daemon=True).start()
                self._pid = os.getpid()

    def _run(self) -> None:
        q = self._queue
        while True:
            batch = [q.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            try:
                by_app: dict[Any, list[Committed]] = {}
                for app, items in batch:
                    by_app.setdefault(app, []).extend(items)
                for app, items in by_app.items():
                    with app.app_context():
                        _deliver_sorted(items, f"the publisher thread (a batch of {len(items)} event(s))")
            except Exception:  # the thread must live on: the outbox keeps the events
                log.exception("the publisher thread failed on a batch of %d", len(batch))
            finally:
                for _ in batch:
                    q.task_done()

    def drain(self, timeout: float) -> bool:
        """Wait until everything queued so far is published (or failed); False on timeout."""
        q = self._queue
        deadline = time.monotonic() + timeout
        with q.all_tasks_done:
            while q.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                q.all_tasks_done.wait(left)
        return True


_publisher = _BackgroundPublisher()


def drain(timeout: float = 30.0) -> bool:
    """Wait for this process's publisher thread to catch up (tests, graceful shutdown)."""
    return _publisher.drain(timeout)


def events_after(case_id: int, after: int = 0, limit: int = 500) -> list[Event]:
    return list(
        db.session.execute(
            sa.select(Event).where(Event.case_id == case_id, Event.seq > after)
            .order_by(Event.seq).limit(limit)
        ).scalars()
    )


class StoredEvent:
    """A stored event read for delivery: the columns an envelope needs, its JSON parsed
    only when asked (once), and no ORM identity to build or track (a catch-up reads
    thousands)."""

    __slots__ = ("case_id", "seq", "type", "actor_id", "at", "data", "_payload")

    def __init__(self, case_id: int, seq: int, type_: str, actor_id: int | None,
                 at: dt.datetime, data: str) -> None:
        self.case_id, self.seq, self.type, self.actor_id, self.at = case_id, seq, type_, actor_id, at
        self.data = data  # the canonical JSON text, as stored and hashed
        self._payload: dict[str, Any] | None = None

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            self._payload = json.loads(self.data)
        return self._payload

    def envelope(self) -> dict[str, Any]:
        """The same shape as `Event.envelope`."""
        return {"case_id": self.case_id, "seq": self.seq, "type": self.type, "at": iso(self.at),
                "actor": self.actor_id, "data": self.payload}

    def envelope_json(self) -> str:
        """`envelope()` as JSON text, composed around the stored data text rather than
        parsing it and encoding it again: the same value once decoded."""
        actor = "null" if self.actor_id is None else str(int(self.actor_id))
        return (f'{{"case_id":{int(self.case_id)},"seq":{int(self.seq)},"type":{_json_text(self.type)},'
                f'"at":"{iso(self.at)}","actor":{actor},"data":{self.data}}}')


_type_texts: dict[str, str] = {}


def _json_text(value: str) -> str:
    """A string as JSON text (event types: a handful of values, encoded once each)."""
    text = _type_texts.get(value)
    if text is None:
        text = json.dumps(value)
        if len(_type_texts) < 1000:
            _type_texts[value] = text
    return text


_STORED_COLUMNS = (Event.case_id, Event.seq, Event.type, Event.actor_id, Event.at, Event.data)


def stored_events_after(case_id: int, after: int = 0, limit: int = 500) -> list[StoredEvent]:
    """`events_after` for delivery: plain rows, no ORM objects."""
    rows = db.session.execute(
        sa.select(*_STORED_COLUMNS).where(Event.case_id == case_id, Event.seq > after)
        .order_by(Event.seq).limit(limit))
    return [StoredEvent(*row) for row in rows]


# --- verification ------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainProblem:
    case_id: int
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = f"case {self.case_id}" + (f" seq {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.problem}"


def verify_case(case_id: int, last_seq: int) -> list[ChainProblem]:
    """Every problem in one case's chain: edits, gaps, deletions, reorderings."""
    problems: list[ChainProblem] = []
    prev = GENESIS
    expected = 1
    rows = db.session.execute(
        sa.select(Event).where(Event.case_id == case_id).order_by(Event.seq, Event.id)
    ).scalars()
    for ev in rows:
        if ev.seq != expected:
            problems.append(ChainProblem(case_id, expected, f"missing event (found seq {ev.seq})"))
            expected = ev.seq
        if ev.prev_hash != prev:
            problems.append(ChainProblem(case_id, ev.seq, "does not link to the event before it"))
        if event_hash(case_id, ev.seq, ev.type, ev.actor_id, ev.at, ev.data, ev.prev_hash) != ev.hash:
            problems.append(ChainProblem(case_id, ev.seq, "content does not match its hash"))
        prev = ev.hash
        expected += 1
    if expected - 1 < last_seq:
        problems.append(ChainProblem(case_id, expected, f"events {expected}..{last_seq} are missing"))
    return problems


def verify(case_id: int | None = None) -> tuple[int, list[ChainProblem]]:
    """Verify one case or all; return (cases checked, problems)."""
    from mediation.cases.models import Case

    query = sa.select(Case.id, Case.last_seq).order_by(Case.id)
    if case_id is not None:
        query = query.where(Case.id == case_id)
    cases = db.session.execute(query).all()
    problems: list[ChainProblem] = []
    for cid, last in cases:
        problems.extend(verify_case(cid, last))
    # Events whose case row is gone cannot be verified against anything.
    if case_id is None:
        orphans = db.session.execute(
            sa.select(Event.case_id).distinct().where(~Event.case_id.in_(sa.select(Case.id)))
        ).scalars()
        problems.extend(ChainProblem(c, None, "events without their case") for c in orphans)
    return len(cases), problems


# --- publication -------------------------------------------------------------------------

# Live delivery plugs in through the registry's `publishers`: each gets envelopes after the
# commit (and from the sweep).
Publisher = Callable[[list[dict[str, Any]]], None]


class NotPublished(Exception):
    """Raised by a publisher when only the first `done` envelopes went out (the rest reached
    nobody: Redis down, or no listener subscribed): those stay pending."""

    def __init__(self, done: int, reason: str) -> None:
        super().__init__(reason)
        self.done = done
        self.reason = reason


# On SQLite (one process: the embedded mode) the sweep leaves rows the publisher thread has
# not tried yet (attempts 0) and that are this young to it, as it sends them from memory: a
# sweep sending them too would deliver them twice. On PostgreSQL both claim their rows
# (FOR UPDATE SKIP LOCKED) instead.
SWEEP_MIN_AGE = dt.timedelta(seconds=10)
# Consecutive failed batches, for one log line each with the count, not a traceback each.
_failures = {"count": 0}


def publish(event_ids: Iterable[int] | None = None, limit: int = 500) -> int:
    """Publish committed events still pending (the given ones, or the oldest) and clear
    them: the sweep. A publisher that raises leaves the events pending for the next
    sweep; the failure is logged, never swallowed silently."""
    if event_ids is not None:
        ids = list(event_ids)
        if not ids:
            return 0
        return _deliver(ids, None)
    return _deliver(None, None, limit=limit)


# The rows a claim of events sent from memory deleted on PostgreSQL: event id -> (created_at,
# attempts), to put back those of the events that did not go out.
Taken = dict[int, tuple[dt.datetime, int]]


def _claim(s: Session, ids: list[int] | None, envelopes: list[dict[str, Any]] | None,
           limit: int) -> list[tuple[int, dict[str, Any]]]:
    """Lock the pending rows this publisher will send (the given ones, or the oldest),
    skipping rows another publisher holds: (event id, envelope) in (case, seq) order. (On
    PostgreSQL events sent from memory are claimed by `_deliver_taken` instead.)"""
    pg = s.get_bind().dialect.name == "postgresql"
    if ids is not None and envelopes is not None:  # the publisher thread: sent from memory
        pending = set(s.connection().execute(_CLAIM, {"ids": ids}).scalars())
        return [(i, env) for i, env in zip(ids, envelopes, strict=True) if i in pending]
    if ids is None:
        # The sweep: the oldest pending rows from the outbox alone (by its key), then their
        # events by theirs. Joined and ordered by the event id, the planner may walk the
        # events' key from the first event of the database to the few pending ones (a merge
        # join: its pick with no statistics once the outbox's heap holds the dead rows of
        # every event published, which it takes for live ones).
        pending = sa.select(EventOutbox.event_id).order_by(EventOutbox.event_id).limit(limit)
        if pg:
            pending = pending.with_for_update(skip_locked=True)
        else:
            pending = pending.where(sa.or_(EventOutbox.attempts > 0,
                                           EventOutbox.created_at < utcnow() - SWEEP_MIN_AGE))
        claimed = list(s.execute(pending).scalars())
        if not claimed:
            return []
        query = sa.select(Event).where(Event.id.in_(claimed))
    else:
        query = (sa.select(Event).join(EventOutbox, EventOutbox.event_id == Event.id)
                 .where(EventOutbox.event_id.in_(ids)))
        if pg:
            query = query.with_for_update(of=EventOutbox, skip_locked=True)
    events = sorted(s.execute(query).scalars(), key=lambda e: (e.case_id, e.seq))
    return [(e.id, e.envelope()) for e in events]


class _ClaimReads:
    """What the publishers read through while a claim's transaction holds its rows: its
    session, or for a claim made on a bare connection a session bound to it, built on
    first use (most batches read nothing)."""

    __slots__ = ("conn", "session")

    def __init__(self, conn: sa.Connection | None = None, session: Session | None = None) -> None:
        self.conn = conn
        self.session = session

    def get(self) -> Session:
        if self.session is None:
            # Joins the connection's transaction: its reads see the claim's lock_timeout,
            # and closing it leaves that transaction to the claim.
            self.session = Session(bind=self.conn)
        return self.session

    def close(self) -> None:
        if self.conn is not None and self.session is not None:
            self.session.close()


# While the publishers run on PostgreSQL: what reaches the transaction holding the claimed
# outbox rows. A publisher reads through it rather than checking out a connection of its own
# (one connection per publishing thread, and no connect, BEGIN and ROLLBACK before each emit).
_claiming: contextvars.ContextVar[_ClaimReads | None] = contextvars.ContextVar(
    "timeline_claiming", default=None)
# While the publishers run: the regions of the events' cases, as their writer knew them.
_regions: contextvars.ContextVar[dict[int, str] | None] = contextvars.ContextVar(
    "timeline_regions", default=None)
# Every statement of a claim's transaction gives up after this long behind a lock: the rows
# it holds may be what a pending ACCESS EXCLUSIVE lock (DDL, TRUNCATE) waits for, while its
# reads wait behind that lock — a deadlock PostgreSQL cannot see, as one link is a thread.
CLAIM_LOCK_TIMEOUT = "5s"


def claiming_session() -> Session | None:
    """The session holding the outbox rows being published (PostgreSQL, while the publishers
    run; None elsewhere). Reads through it see committed data, and wait at most
    CLAIM_LOCK_TIMEOUT behind a lock; a failed read there fails the batch, which stays
    pending for the sweep."""
    claim = _claiming.get()
    return claim.get() if claim is not None else None


def case_regions() -> dict[int, str]:
    """While the publishers run: the regions of the events' cases as their writer knew them
    (for events sent from memory; empty for the sweep's). A case's region never changes
    once it is taken in, so a publisher reads only the ones missing here."""
    return _regions.get() or {}


def _run_publishers(envelopes: list[dict[str, Any]], claim: _ClaimReads | None,
                    regions: dict[int, str] | None) -> tuple[int, str | None]:
    """Hand the envelopes to every publisher: (how many went out, the failure if not all).
    What they read through the app's session is ended before the next step: two
    connections held by one thread at once would starve the pool under load (every thread
    holding one, waiting for another)."""
    session = db.session()
    idle = not session.in_transaction()
    done, failure = len(envelopes), None
    claiming = _claiming.set(claim)
    known = _regions.set(regions)
    try:
        for fn in registry().publishers.values():
            fn(envelopes)
    except NotPublished as exc:
        done, failure = exc.done, exc.reason
    except Exception as exc:
        done, failure = 0, f"{exc.__class__.__name__}: {exc}"
        log.exception("publishing %d events failed; they stay pending", len(envelopes))
    finally:
        _claiming.reset(claiming)
        _regions.reset(known)
        if idle and session.in_transaction():
            session.rollback()
    return done, failure


def _deliver(ids: list[int] | None, envelopes: list[dict[str, Any]] | None, limit: int = 500,
             regions: dict[int, str] | None = None) -> int:
    """Claim the pending rows (the given ids, or the oldest), hand their envelopes to the
    publishers, then clear their rows (or count a failure): one publisher per row.

    On PostgreSQL the claim's transaction holds the rows' locks while the publishers run,
    so the sweep and the publisher thread never send one event twice (a claim of events
    sent from memory has deleted them already: its commit clears them); the publishers use
    connections of their own."""
    if ids is not None and envelopes is not None and db.engine.dialect.name == "postgresql":
        return _deliver_taken(ids, envelopes, regions)
    with Session(db.engine) as s:
        pg = s.get_bind().dialect.name == "postgresql"
        if pg:
            s.connection().exec_driver_sql(f"SET LOCAL lock_timeout = '{CLAIM_LOCK_TIMEOUT}'")
        claimed = _claim(s, ids, envelopes, limit)
        if not claimed:
            return 0
        ids = [i for i, _ in claimed]
        envelopes = [env for _, env in claimed]
        if not pg:
            s.commit()  # SQLite: no lock to hold, and an open transaction would block writers
        done, failure = _run_publishers(envelopes, _ClaimReads(session=s) if pg else None, regions)
        try:
            _settle(s.connection(), ids, done, failure)
            s.commit()
        except sa.exc.DBAPIError:
            # A publisher's read failed inside the claim's transaction (a lock timeout):
            # PostgreSQL refuses anything more in it. Settle in a new one.
            if failure is None or not pg:
                raise
            s.rollback()
            _settle(s.connection(), ids, done, failure)
            s.commit()
    return _counted(done, len(ids), failure)


def _deliver_taken(ids: list[int], envelopes: list[dict[str, Any]],
                   regions: dict[int, str] | None) -> int:
    """`_deliver` of events sent from memory on PostgreSQL: the claim takes (deletes) their
    rows, so a batch that goes out is settled by the commit alone. On a bare connection
    rather than an ORM session: the claim is one statement on the driver's cursor, and a
    session's transaction, flush checks and events cost more than it (every intake
    publishes; the publishers' rare reads get a session bound to it)."""
    with db.engine.connect() as conn:
        conn.begin()
        statement, params = _take(ids)
        claim = driver.prepared(statement, conn.dialect)  # on the driver's cursor: a hot path
        taken: Taken = {i: (at, n) for i, at, n in driver.rows(conn, claim, params)}
        if len(taken) < len(ids):
            kept = [(i, env) for i, env in zip(ids, envelopes, strict=True) if i in taken]
            if not kept:
                return 0
            ids, envelopes = [i for i, _ in kept], [env for _, env in kept]
        reads = _ClaimReads(conn)
        try:
            done, failure = _run_publishers(envelopes, reads, regions)
        finally:
            reads.close()
        try:
            if failure is not None and done < len(ids):
                conn.execute(_PUT_BACK, [{"event_id": i, "created_at": taken[i][0],
                                          "attempts": taken[i][1] + 1} for i in ids[done:]])
            conn.commit()
        except sa.exc.DBAPIError:
            # A publisher's read failed inside the claim's transaction (a lock timeout):
            # PostgreSQL refuses anything more in it. Settle in a new one (the rollback put
            # back the rows the claim had taken).
            if failure is None:
                raise
            conn.rollback()
            _settle(conn, ids, done, failure)
            conn.commit()
    return _counted(done, len(ids), failure)


def _counted(done: int, n: int, failure: str | None) -> int:
    """Log a failed batch (one line, with the count of failed batches in a row) or the end
    of a run of them; `done`."""
    if failure is None:
        if _failures["count"]:
            log.info("publishing works again after %d failed batch(es)", _failures["count"])
        _failures["count"] = 0
    else:
        _failures["count"] += 1
        log.warning("published %d of %d events; the rest stay pending for the sweep (%s; "
                    "failed batches in a row: %d)", done, n, failure, _failures["count"])
    return done


def _settle(conn: sa.Connection, ids: list[int], done: int, failure: str | None) -> None:
    """Clear the rows of the first `done` events, count a failed attempt for the rest (the
    caller commits)."""
    if done:
        conn.execute(_CLEAR, {"ids": ids[:done]})
    if failure is not None:
        conn.execute(_RETRY_LATER, {"ids": ids[done:]})


# The publisher's statements, built once (Core, on the claim's connection): a batch is a
# handful of statements, and building and compiling them again each time was a good part
# of its cost.
_IDS = sa.bindparam("ids", expanding=True)
_CLAIM = sa.select(_OUTBOX.c.event_id).where(_OUTBOX.c.event_id.in_(_IDS))
# On PostgreSQL the claim of events sent from memory locks their rows (SKIP LOCKED) and
# deletes them in one statement: a batch that goes out is settled by the commit alone (the
# rows stay locked until then); one that does not puts back the rows of the events not sent
# (`_settle`). It also sets the transaction's lock_timeout (SET LOCAL, in the same round
# trip): the rows it locks are evaluated by its filter first, and without rows nothing else
# runs in the transaction.
def _take_of(ids: sa.ColumnElement[bool]) -> sa.Delete:
    return (sa.delete(_OUTBOX).where(_OUTBOX.c.event_id.in_(
        sa.select(_OUTBOX.c.event_id).where(
            ids, sa.func.set_config("lock_timeout", CLAIM_LOCK_TIMEOUT, sa.true()).is_not(None),
        ).with_for_update(skip_locked=True)))
        .returning(_OUTBOX.c.event_id, _OUTBOX.c.created_at, _OUTBOX.c.attempts))


# A request's own events (DIRECT_MAX at most) are claimed by a statement with one parameter
# per id, one statement per count, each built and compiled once: the server plans it once
# per connection. With the ids as one array (`= ANY`) it planned the claim anew at every
# execution: its generic plan guesses ten elements (and a hash join over the whole outbox),
# so the custom plan always looked cheaper. pg_stat_statements over 2,200 intakes: 59 us of
# planning and 27 us of execution per intake. Larger batches (the publisher thread's) take
# the array: one statement for any of them.
@functools.cache
def _take_counted(n: int) -> sa.Delete:
    return _take_of(_OUTBOX.c.event_id.in_([sa.bindparam(f"id_{k}", type_=sa.BigInteger)
                                            for k in range(n)]))


_TAKE = _take_of(_OUTBOX.c.event_id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger))))


def _take(ids: list[int]) -> tuple[sa.Delete, dict[str, Any]]:
    """The claim of these events sent from memory and its parameters."""
    if 0 < len(ids) <= DIRECT_MAX:
        return _take_counted(len(ids)), {f"id_{k}": i for k, i in enumerate(ids)}
    return _TAKE, {"ids": ids}


_PUT_BACK = sa.insert(_OUTBOX)
_CLEAR = sa.delete(_OUTBOX).where(_OUTBOX.c.event_id.in_(_IDS))
_RETRY_LATER = (sa.update(_OUTBOX).where(_OUTBOX.c.event_id.in_(_IDS))
                .values(attempts=_OUTBOX.c.attempts + 1))


def pending_count() -> int:
    """Events committed and not yet published (waits for this process's publisher first)."""
    drain()
    return db.session.execute(sa.select(sa.func.count()).select_from(EventOutbox)).scalar_one()

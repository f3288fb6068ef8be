"""A hot statement run on the driver's cursor, past SQLAlchemy's execution machinery.

SQLAlchemy's `Connection.execute` costs tens of microseconds of CPU per statement beyond
the driver's own (the compiled cache's key of the statement, the execution context, the
result's metadata from the cursor's description, its rows): for the repeat check's two
statements at each intake, more than the driver itself spends (measured: 100-180 us per
statement through SQLAlchemy against 50-90 us on the driver's cursor). A `Prepared`
statement is compiled once, and `rows` runs it on the psycopg connection under the
session's own transaction, with the same parameters SQLAlchemy would pass (the caller
passes lists where the statement's ARRAY parameters would become lists) and the same
values back (the statement's columns have no result processing on psycopg: the driver
loads JSON and arrays itself; a test compares both paths).

What stays SQLAlchemy's: an error of the driver goes through the connection's handling
(wrapped as SQLAlchemy's exception, so a lost database is still a 503, and a lost
connection invalidated); and while anyone listens to the engine's or connection's
events (a test or a profile listing the statements), the statement goes through
`Connection.execute` as before, so every listener sees it. Other dialects (SQLite) always
take that path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import sqlalchemy as sa
from psycopg.rows import namedtuple_row, tuple_row


def _listened(conn: sa.Connection) -> bool:
    """Whether anyone listens to the statements run on `conn` (its engine's listeners
    included, as they are now: an engine's `_has_events` stays set once any was added).
    Where none was ever added (served), the flags alone answer: asking the connection's
    dispatch builds its joined listener collections, for each new connection."""
    if not (conn._has_events or conn.engine._has_events):
        return False
    d = conn.dispatch
    return bool(d.before_execute or d.after_execute or d.before_cursor_execute
                or d.after_cursor_execute)


class Prepared:
    """A statement and its SQL text for one dialect, compiled once; with the values of its
    literal parameters (a county's prefix built into the statement).

    `planned_each_time`: psycopg never prepares it, so the server plans it with the values
    at every execution (a custom plan), however long the connection lives. For a statement
    whose right plan depends on its values, where a prepared one would have the server
    settle, after five executions, on a generic plan whose guesses (no statistics, a range
    of unknown width) read whole tables."""

    def __init__(self, statement: sa.Executable, dialect: sa.Dialect, *,
                 planned_each_time: bool = False) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        self.literals: dict[str, Any] = dict(compiled.params)
        self.dialect = dialect.name
        # psycopg's `prepare` argument: False never prepares, None after its threshold
        self.prepare: bool | None = False if planned_each_time else None


# Keyed by the statement itself (held here: a key's statement can never be another's).
_COMPILED: dict[tuple[sa.Executable, str], Prepared] = {}


def prepared(statement: sa.Executable, dialect: sa.Dialect, *,
             planned_each_time: bool = False) -> Prepared:
    """`statement` compiled for this dialect and driver, once per process (for statements
    that live as long as the process: module constants, or built once per dialect)."""
    key = (statement, f"{dialect.name}+{dialect.driver}")
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = Prepared(statement, dialect, planned_each_time=planned_each_time)
    return found


def rows(conn: sa.Connection, prepared: Prepared, params: dict[str, Any], *,
         named: bool = False) -> list[Any]:
    """The statement's rows on `conn` with `params` (besides its literals): tuples, or with
    `named` rows whose columns are attributes too, as SQLAlchemy's rows."""
    if prepared.dialect != "postgresql" or conn.dialect.name != "postgresql" or _listened(conn):
        return list(conn.execute(prepared.statement, params).all())
    return _on_cursor(conn, prepared.sql, prepared.literals | params, named, prepared.prepare)


def sql_rows(conn: sa.Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The rows (tuples) of plain SQL in the driver's parameter style, its values bound
    already (as `Connection.exec_driver_sql` takes them): on PostgreSQL on the driver's
    cursor, unless someone listens; elsewhere through `exec_driver_sql`."""
    if conn.dialect.name != "postgresql" or _listened(conn):
        return [tuple(row) for row in conn.exec_driver_sql(sql, params)]
    return _on_cursor(conn, sql, params, False)


# The key, in the pooled connection's info, of its driver connection's cursors (see _cursor).
_CURSORS = "mediation.driver.cursors"


def _cursor(conn: sa.Connection, named: bool) -> Any:
    """The driver connection's cursor for these rows (named or tuples), made once per
    driver connection and kept in the pool's info for it: making and closing a cursor (its
    own map of the connection's adapters, its state) cost about 25 us of CPU per statement,
    a third of a short statement's. A cursor closed (SQLAlchemy closes it on an error) or
    of another driver connection (the pool's record reconnected) is made again."""
    fairy = conn.connection
    raw = fairy.driver_connection
    kept = fairy.info.get(_CURSORS)
    if kept is None or kept[0] is not raw:
        kept = fairy.info[_CURSORS] = (raw, {})
    cursor = kept[1].get(named)
    if cursor is None or cursor.closed:
        cursor = kept[1][named] = raw.cursor(  # type: ignore[union-attr]
            row_factory=namedtuple_row if named else tuple_row)
    return cursor


def _on_cursor(conn: sa.Connection, sql: str, values: Any, named: bool,
               prepare: bool | None = None) -> list[Any]:
    cursor = None
    try:
        cursor = _cursor(conn, named)
        cursor.execute(sql, values, prepare=prepare)
        return cursor.fetchall()
    except Exception as exc:
        # SQLAlchemy's own handling of a driver's error: wrapped (DBAPIError), the
        # connection invalidated when lost, the cursor closed; raises.
        conn._handle_dbapi_exception(exc, sql, values, cursor, None)
        raise  # not reached: the handler raises


# --- One object by its key, as the session's `get` loads it ------------------------------
#
# `Session.get` of an object the session does not hold runs the ORM's whole query
# machinery for one row: the compiled statement's cache key, the loading context, the
# result's metadata (psycopg builds a Column object for each of the row's columns at every
# statement: 43 for a case), row processors and the identity map's merge. Measured on a
# message post (bench/profile_intake.py --write message): `require_case`'s get was a fifth
# of the request's CPU. `get` runs the same SELECT on the driver's cursor and makes the
# object the way a load leaves it (`loaded`).


class _Loader(NamedTuple):
    """A mapped class's SELECT by its key, its attributes in column order, and the result
    processing its columns need on this dialect (index, processor)."""

    prepared: Prepared
    keys: tuple[str, ...]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]


# Keyed by (class, dialect+driver); None for a class whose load is more than its row.
_LOADERS: dict[tuple[type, str], _Loader | None] = {}


def _loader(cls: type, dialect: sa.Dialect) -> _Loader | None:
    key = (cls, f"{dialect.name}+{dialect.driver}")
    if key in _LOADERS:
        return _LOADERS[key]
    mapper: sa.orm.Mapper = sa.inspect(cls)
    table = mapper.local_table
    props = list(mapper.column_attrs)
    simple = (mapper.inherits is None and mapper.polymorphic_on is None
              and mapper.version_id_col is None and len(mapper.primary_key) == 1
              and isinstance(table, sa.Table)
              and all(not p.deferred and len(p.columns) == 1 and p.columns[0].table is table
                      for p in props)
              # a relationship loaded with its object (joined, selectin…) is more than a row
              and all(r.lazy in ("select", True, "noload", "raise", "raise_on_sql", "write_only",
                                 "dynamic") for r in mapper.relationships))
    found = None
    if simple:
        columns = [p.columns[0] for p in props]
        statement = sa.select(*columns).where(mapper.primary_key[0] == sa.bindparam("pk"))
        processors = []
        for i, column in enumerate(columns):
            process = column.type._cached_result_processor(dialect, None)
            if process is not None:
                processors.append((i, process))
        found = _Loader(Prepared(statement, dialect), tuple(p.key for p in props), tuple(processors))
    _LOADERS[key] = found
    return found


def loaded(session: sa.orm.Session, cls: type, values: list[Any] | tuple[Any, ...],
           keys: tuple[str, ...]) -> Any:
    """An instance of `cls` in `session` as if the ORM had loaded it from this row (its
    column attributes' values in `keys`' order, processed already): every column loaded,
    nothing to flush, its identity from its key. The session must not hold another copy
    of it."""
    obj = sa.inspect(cls).class_manager.new_instance()
    obj.__dict__.update(zip(keys, values, strict=True))
    sa.orm.make_transient_to_detached(obj)  # its identity from the primary key, all loaded
    session.add(obj)  # detached -> persistent: in the identity map, nothing to flush
    return obj


def get(session: sa.orm.Session, cls: type, ident: Any) -> Any:
    """`session.get(cls, ident)`: on PostgreSQL, for an object the session does not hold
    while it has nothing to flush (a get would autoflush), of a class whose load is its row
    alone, its SELECT runs on the driver's cursor (unless someone listens to the
    statements); otherwise, and anywhere else, the session's own get."""
    if type(ident) is not int or session.new or session.deleted or session.dirty:
        return session.get(cls, ident)
    mapper = sa.inspect(cls)
    if mapper.identity_key_from_primary_key([ident]) in session.identity_map:
        return session.get(cls, ident)
    conn = session.connection(bind_arguments={"mapper": mapper})
    loader = _loader(cls, conn.dialect)
    if loader is None or conn.dialect.name != "postgresql" or _listened(conn):
        return session.get(cls, ident)
    found = _on_cursor(conn, loader.prepared.sql, loader.prepared.literals | {"pk": ident}, False)
    if not found:
        return None
    values = list(found[0])
    for i, process in loader.processors:
        values[i] = process(values[i])
    return loaded(session, cls, values, loader.keys)

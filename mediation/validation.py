"""Input the service cannot hold is refused at the edge, with a message, never a 500.

Each kind of bad input is handled once, here, for every route:

- numbers past the database's `integer` (ids, pages, counts): the base schema of every
  input schema bounds its integer fields, and the `int` URL converter bounds path ids
  (a larger id matches no route: 404);
- dates outside the calendar the service works in (1900-2099), in bodies and queries:
  the base schema bounds its date and time fields; month, quarter and week texts are
  read by `parses(...)` fields that share the same bounds;
- NUL characters (PostgreSQL refuses them in text) and JSON nested deeper than any
  request needs: one check before every request, over its path, query, form and body;
- what the database still refuses (a reference to a row that is not there, a value too
  large for its column): one error handler turns it into 422 or 409, naming the column
  where the database says which, and logs it without the statement's parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import Flask, request
from marshmallow import fields, validate
from marshmallow.utils import set_value
from werkzeug.datastructures import MultiDict
from werkzeug.routing import IntegerConverter

from mediation.errors import Conflict, DomainError, Invalid, NotFound

log = logging.getLogger(__name__)

# PostgreSQL's `integer`, the type of every id and count column.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# The calendar the service works in: petitions older than 1900 or dated past 2099 are
# typing errors, and date arithmetic near year 1 or 9999 overflows.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2099, 12, 31)
CALENDAR_MESSAGE = f"a date between {EARLIEST} and {LATEST}"
# Deeper than any request body of the API needs; a deeper one costs recursion to parse.
MAX_JSON_DEPTH = 32
NUL_MESSAGE = "must not contain NUL characters"


# --- values --------------------------------------------------------------------------------


def in_calendar(moment: dt.date | dt.datetime) -> None:
    """Raise ValueError unless the day lies between EARLIEST and LATEST."""
    day = moment.date() if isinstance(moment, dt.datetime) else moment
    if not EARLIEST <= day <= LATEST:
        raise ValueError(CALENDAR_MESSAGE)


def calendar_date(text: str) -> dt.date:
    """An ISO date typed by someone, in the service's calendar (ValueError otherwise)."""
    day = dt.date.fromisoformat(text)
    in_calendar(day)
    return day


class _InCalendar(validate.Validator):
    # No `min`/`max` attributes: apispec would print the dates as number bounds.
    error = CALENDAR_MESSAGE

    def __call__(self, value: Any) -> Any:
        if value is not None:
            try:
                in_calendar(value)
            except ValueError as exc:
                raise ma.ValidationError(self.error) from exc
        return value


def parses(parse: Callable[[str], Any]) -> Callable[[str], None]:
    """A validator that accepts a text when `parse` does (ValueError and OverflowError refuse)."""

    def check(value: str) -> None:
        try:
            parse(value)
        except (ValueError, OverflowError) as exc:
            raise ma.ValidationError(str(exc)) from exc

    return check


def harden(field: fields.Field) -> None:
    """Bound a field to what the database and the calendar hold (once per field object).

    A schema's fields are shallow copies of its class's: the validators get a new list, so
    the class's own field stays as declared.
    """
    if getattr(field, "_mediation_hardened", False):
        return
    field._mediation_hardened = True
    if isinstance(field, fields.List):
        harden(field.inner)
    elif isinstance(field, fields.Tuple):
        for inner in field.tuple_fields:
            harden(inner)
    elif isinstance(field, fields.Dict):
        for inner in (field.key_field, field.value_field):
            if inner is not None:
                harden(inner)
    elif isinstance(field, fields.Integer):
        field.validators = [*field.validators, validate.Range(
            min=INT_MIN, max=INT_MAX, error=f"must be between {INT_MIN} and {INT_MAX}")]
    elif isinstance(field, fields.Decimal):
        # The bounds go into the document as numbers: apispec would write Decimal bounds
        # as strings, which no JSON Schema validator accepts.
        for v in field.validators:
            if isinstance(v, validate.Range):
                if v.min is not None:
                    field.metadata.setdefault("minimum", float(v.min))
                if v.max is not None:
                    field.metadata.setdefault("maximum", float(v.max))
    elif isinstance(field, fields.Date | fields.DateTime):  # AwareDateTime, NaiveDateTime too
        field.validators = [*field.validators, _InCalendar()]


class InputSchema(ma.Schema):
    """The base of every schema that loads input: unknown fields are refused, integers fit
    the database's `integer`, dates lie in the service's calendar."""

    class Meta:
        unknown = ma.RAISE

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        harden(field_obj)

    def _load_plan(self) -> tuple[list[tuple[str, fields.Field, str, bool]], frozenset[str]]:
        """(key in the input, field, key in the output, whether that key is a dotted path)
        per loaded field, and the input's known keys; made once per schema instance."""
        known = self.__dict__.get("_mediation_load_plan")
        if known is not None and known[0] is self.load_fields:
            return known[1], known[2]
        plan = []
        for attr_name, field in self.load_fields.items():
            key = field.attribute or attr_name
            plan.append((field.data_key if field.data_key is not None else attr_name, field, key, "." in key))
        names = frozenset(name for name, *_ in plan)
        self.__dict__["_mediation_load_plan"] = (self.load_fields, plan, names)
        return plan, names

    def _deserialize(self, data: Any, *, error_store: Any, many: bool = False, partial: Any = None,
                     unknown: Any = ma.RAISE, index: int | None = None) -> Any:
        """marshmallow's, with less machinery around each field while nothing is wrong.

        For one dict with no unknown key to refuse and no `partial`, each field deserializes
        its value in marshmallow's order, with the same arguments, without the closure, the
        error-store call and the checks of `partial` marshmallow makes around each. At the
        first error the dict is loaded again by marshmallow itself, so that every message
        (and the valid data kept with them) is exactly marshmallow's."""
        if many or partial is not None or type(data) is not dict or unknown not in (ma.RAISE, ma.EXCLUDE):
            return super()._deserialize(data, error_store=error_store, many=many, partial=partial,
                                        unknown=unknown, index=index)
        plan, names = self._load_plan()
        if unknown == ma.RAISE and not names.issuperset(data):
            return super()._deserialize(data, error_store=error_store, many=many, partial=partial,
                                        unknown=unknown, index=index)
        loaded = self.dict_class()
        try:
            for name, field, key, dotted in plan:
                value = field.deserialize(data.get(name, ma.missing), name, data)
                if value is not ma.missing:
                    if dotted:
                        set_value(loaded, key, value)
                    else:
                        loaded[key] = value
        except ma.ValidationError:
            return super()._deserialize(data, error_store=error_store, many=many, partial=partial,
                                        unknown=unknown, index=index)
        return loaded


# --- path ids --------------------------------------------------------------------------------


class IdConverter(IntegerConverter):
    """`<int:...>` in a route: a non-negative number that fits the database's `integer`.

    A larger one matches no route, so it is a 404 like any unknown id; the OpenAPI document
    carries the bound (flask-smorest reads `max` from the converter).
    """

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", INT_MAX)
        super().__init__(map, *args, **kwargs)


# --- the request check -------------------------------------------------------------------------

def json_depth(value: Any) -> int:
    """How deep the arrays and objects of a loaded JSON value nest (0 for a scalar)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Where in a loaded JSON value a text (a key or a string) holds a NUL character."""
    found: list[str] = []
    if isinstance(value, str):
        if "\x00" in value:
            found.append(path or "_json")
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                found.append(path or "_json")
            else:
                found.extend(nul_paths(item, here))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(nul_paths(item, f"{path}.{i}" if path else str(i)))
    return found


def check_request() -> None:
    """Refuse NUL characters anywhere in a request and JSON nested too deeply."""
    if "\x00" in request.path:
        raise NotFound("page")
    errors: dict[str, list[str]] = {}
    for where, values in (("query", request.args), ("form", request.form if _has_form() else MultiDict())):
        for key, value in values.items(multi=True):
            if "\x00" in (key or "") or (isinstance(value, str) and "\x00" in value):
                errors.setdefault(key.replace("\x00", "") or f"_{where}", []).append(NUL_MESSAGE)
    body = request.get_data(cache=True) if request.is_json else b""  # 413 past the size limit
    if body and not _may_offend(body):
        body = b""  # nothing to find: no need to parse it here (the view's parser does)
    if body:
        too_deep = Invalid({"_json": [f"nested deeper than {MAX_JSON_DEPTH} levels"]},
                           "the JSON body is nested too deeply")
        try:
            # The parser stops a deep text with RecursionError, early and in linear time.
            loaded = json.loads(body)
        except RecursionError as exc:
            raise too_deep from exc
        except ValueError:
            loaded = None  # not JSON: the view's parser says so
        if json_depth(loaded) > MAX_JSON_DEPTH:
            raise too_deep
        for where in nul_paths(loaded):
            errors.setdefault(where, []).append(NUL_MESSAGE)
    if errors:
        raise Invalid(errors, "text must not contain NUL characters")


def _may_offend(body: bytes) -> bool:
    """Whether a JSON body might hold a NUL or nest too deeply, judged from its bytes alone
    (parsing and walking it costs far more). A loaded text can hold a NUL only from a NUL
    byte (which any UTF-16 or UTF-32 text has, too) or a `\\u0000` escape; strict UTF-8
    has no other encoding of it. And no value nests deeper than the body has `{` and `[`
    bytes (in strings too, which only counts too many)."""
    return (b"\x00" in body or b"\\u0000" in body
            or body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH)


def _has_form() -> bool:
    return request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")


# --- what the database refuses -------------------------------------------------------------


def _constraint_column(name: str | None) -> str | None:
    """The column a named constraint is on, from the models' metadata."""
    from mediation.extensions import db

    if not name:
        return None
    for table in db.metadata.tables.values():
        for constraint in table.constraints:
            if constraint.name == name:
                cols = [c.name for c in getattr(constraint, "columns", [])]
                return cols[0] if len(cols) == 1 else None
    return None


def refused_by_database(exc: Exception) -> DomainError | None:
    """The client error a database refusal stands for, or None for a server error."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    if isinstance(exc, OverflowError | sa.exc.DataError):
        # PostgreSQL: integer/numeric out of range, NUL in text, a text too long; SQLite:
        # an integer past 64 bits; anywhere: a date past the calendar's end.
        return Invalid({"_": ["a value is out of the range the service can store"]},
                       "a value is out of range")
    if isinstance(exc, sa.exc.IntegrityError):
        text = str(orig or exc)
        if sqlstate == "23503" or "FOREIGN KEY constraint failed" in text:
            column = _constraint_column(constraint) or "_"
            return Invalid({column: ["refers to a record that does not exist"]},
                           "a referenced record does not exist")
        if sqlstate == "23505" or "UNIQUE constraint failed" in text:
            return Conflict("such a record exists already", current_state=None)
        if sqlstate == "23514" or "CHECK constraint failed" in text:
            column = _constraint_column(constraint) or "_"
            return Invalid({column: ["is not an allowed value"]}, "validation failed")
    return None


def _database_refused(exc: Exception):
    from flask import current_app

    from mediation.extensions import db

    db.session.rollback()  # nothing of the request stays, and the session works again
    refusal = refused_by_database(exc)
    orig = getattr(exc, "orig", None)
    # Never the statement or its parameters: they may hold names and numbers.
    detail = (getattr(orig, "sqlstate", None), getattr(getattr(orig, "diag", None), "constraint_name", None))
    if refusal is None:
        log.error("database error %s %s on %s %s", type(exc).__name__, detail, request.method,
                  request.url_rule.rule if request.url_rule else "?")
        raise exc
    log.info("refused input: %s %s on %s %s", type(exc).__name__, detail, request.method,
             request.url_rule.rule if request.url_rule else "?")
    # The handler that serves the request's blueprint answers: JSON for the API, a page for
    # the pages.
    return current_app.handle_user_exception(refusal)


def init_app(app: Flask) -> None:
    """Install the converter (before any route is added), the request check and handlers."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(check_request)
    for exc_type in (sa.exc.DataError, sa.exc.IntegrityError, OverflowError):
        app.register_error_handler(exc_type, _database_refused)

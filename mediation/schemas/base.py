"""What every schema shares: strict loading, bounded text, enum choices, the region and
"not in the future" (the service's day) checks."""

from __future__ import annotations

import datetime as dt
import enum

import marshmallow as ma
from marshmallow import fields, validate

from mediation import clock
from mediation.regions import normalize_region
from mediation.validation import InputSchema


def valid_region(value: str) -> None:
    try:
        normalize_region(value)
    except ValueError as exc:
        raise ma.ValidationError(str(exc)) from exc


def not_future(value: dt.date) -> None:
    # The service's day (clock.today), not the machine's: a date typed in the morning in
    # Beijing is "tomorrow" in UTC.
    if value > clock.today():
        raise ma.ValidationError("cannot be in the future")


def one_of(e: type[enum.Enum]) -> validate.OneOf:
    """A field's choices: the values of an enum."""
    return validate.OneOf([m.value for m in e])


def Text(max_len: int, **kw) -> fields.String:  # noqa: N802 - reads like a field type
    return fields.String(validate=validate.Length(max=max_len), **kw)


class StrictSchema(InputSchema):
    """The base of every input schema: unknown fields refused, integers within the
    database's, dates within the service's calendar (see mediation.validation)."""



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


_PLAIN_GET_VALUE = fields.Field.get_value
_PLAIN_SERIALIZE = fields.Field.serialize
_PLAIN_GET_ATTRIBUTE = ma.Schema.get_attribute


class DumpSchema(ma.Schema):
    """An output schema that dumps dicts with less machinery around each field.

    marshmallow reads each field's value through five calls (`Field.serialize`,
    `Field.get_value`, `Schema.get_attribute`, `utils.get_value`, `_get_value_for_key`) before
    the field formats it: a case's answer has a hundred fields with its nested ones, and
    those calls cost more than the formatting. For a plain dict and a field that changes
    none of them, this reads the value as they do (`obj[key]`, else `getattr(obj, key)`, else
    the field's `dump_default`) and hands it to the field's own `_serialize`: the output is
    the same, value for value. Anything else (another object, a dotted `attribute`, a field
    or schema that overrides how values are read) goes through marshmallow as usual."""

    def _dump_plan(self) -> list[tuple[str, str, fields.Field, str | None]]:
        """(name, key in the output, field, key to read when the fast read applies) per
        dumped field; made once per schema instance and `dump_fields`."""
        known = self.__dict__.get("_mediation_plan")
        if known is not None and known[0] is self.dump_fields:
            return known[1]
        plain_schema = type(self).get_attribute is _PLAIN_GET_ATTRIBUTE
        plan = []
        for name, field in self.dump_fields.items():
            read = name if field.attribute is None else field.attribute
            fast = (plain_schema and field._CHECK_ATTRIBUTE and isinstance(read, str) and "." not in read
                    and type(field).serialize is _PLAIN_SERIALIZE
                    and type(field).get_value is _PLAIN_GET_VALUE)
            plan.append((name, field.data_key if field.data_key is not None else name, field,
                         read if fast else None))
        self.__dict__["_mediation_plan"] = (self.dump_fields, plan)
        return plan

    def _serialize(self, obj, *, many: bool = False):
        if many and obj is not None:
            return [self._serialize(d, many=False) for d in obj]
        if type(obj) is not dict:
            return super()._serialize(obj, many=False)
        missing = ma.missing
        ret = self.dict_class()
        for name, key, field, read in self._dump_plan():
            if read is None:
                value = field.serialize(name, obj, accessor=self.get_attribute)
            else:
                try:
                    value = obj[read]
                except KeyError:
                    value = getattr(obj, read, missing)
                if value is missing:
                    default = field.dump_default
                    value = default() if callable(default) else default
                if value is not missing:
                    value = field._serialize(value, name, obj)
            if value is missing:
                continue
            ret[key] = value
        return ret

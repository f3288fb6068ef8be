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
_AS_IS = fields.Field._serialize  # returns the value: Boolean, Raw, Field

# How the fast read formats a value (the field's own `_serialize` gives the same value):
_CALL, _KEEP, _TEXT, _INT, _TEXTS = range(5)


def _formatting(field: fields.Field) -> int:
    """_KEEP: the field's `_serialize` returns any value as it is; _TEXT, _INT: a str, an int
    (exactly: not a subclass) or None as it is (String: `ensure_text_type`, Integer: `int()`);
    _TEXTS: a list of such texts, copied (a List of Strings); _CALL: ask the field."""
    kind = type(field)
    if kind._serialize is _AS_IS:
        return _KEEP
    if kind is fields.String:
        return _TEXT
    if kind is fields.Integer and not field.as_string:
        return _INT
    if kind is fields.List and type(field.inner) is fields.String:
        return _TEXTS
    return _CALL


class DumpSchema(ma.Schema):
    """An output schema that dumps dicts with less machinery around each field.

    marshmallow reads each field's value through five calls (`Field.serialize`,
    `Field.get_value`, `Schema.get_attribute`, `utils.get_value`, `_get_value_for_key`) before
    the field formats it: a case's answer has a hundred fields with its nested ones, and
    those calls cost more than the formatting. For a plain dict and a field that changes
    none of them, this reads the value as they do (`obj[key]`, else `getattr(obj, key)`, else
    the field's `dump_default`) and hands it to the field's own `_serialize`, or, where that
    returns the value unchanged (texts, integers, booleans: `_formatting`), keeps it: the
    output is the same, value for value. Anything else (another object, a dotted
    `attribute`, a field or schema that overrides how values are read) goes through
    marshmallow as usual."""

    def _dump_plan(self) -> list[tuple[str, str, fields.Field, str | None, int]]:
        """(name, key in the output, field, key to read when the fast read applies, how to
        format its value) per dumped field; made once per schema instance and `dump_fields`."""
        known = self.__dict__.get("_mediation_dump_plan")
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
                         read if fast else None, _formatting(field)))
        self.__dict__["_mediation_dump_plan"] = (self.dump_fields, plan)
        return plan

    def _serialize(self, obj, *, many: bool = False):
        if many and obj is not None:
            return [self._serialize(d, many=False) for d in obj]
        if type(obj) is not dict:
            return super()._serialize(obj, many=False)
        missing = ma.missing
        ret = self.dict_class()
        for name, key, field, read, formatting in self._dump_plan():
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
                if value is missing or value is None and formatting != _CALL or formatting == _KEEP:
                    pass  # None: String, Integer and List give None for None
                elif formatting == _TEXT:
                    if type(value) is not str:
                        value = field._serialize(value, name, obj)
                elif formatting == _INT:
                    if type(value) is not int:
                        value = field._serialize(value, name, obj)
                elif formatting == _TEXTS:
                    inner = field.inner
                    value = [v if type(v) is str else inner._serialize(v, name, obj) for v in value]
                else:
                    value = field._serialize(value, name, obj)
            if value is missing:
                continue
            ret[key] = value
        return ret

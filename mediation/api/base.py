"""The flask-smorest Api, with one JSON error shape for every error."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Api
from flask_smorest.arguments import ArgumentsMixin
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException


class SchemaOnceParser(FlaskParser):
    """flask-smorest's argument parser, building each argument schema once.

    `@blp.arguments(SomeSchema)` hands webargs the class, and webargs would build an
    instance of it (binding and hardening every field) on every request. A schema instance
    keeps no state between loads (marshmallow 4: no per-instance context), so one serves
    every request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)


# Every flask-smorest Blueprint decorates its views with this parser (the blueprints import
# this module, through mediation.extensions, before they decorate anything).
ArgumentsMixin.ARGUMENTS_PARSER = SchemaOnceParser()


class ErrorSchema(ma.Schema):
    """Every error body: the status, a message, and per field messages or the current state."""

    code = ma.fields.Integer(metadata={"description": "HTTP status code"})
    status = ma.fields.String(metadata={"description": "HTTP status name"})
    message = ma.fields.String(metadata={"description": "what went wrong, in words"})
    errors = ma.fields.Dict(metadata={"description": "field -> messages (422)"})
    current_state = ma.fields.Raw(allow_none=True, metadata={
        "description": "the state that refused the change (409, 410)"})
    retry_after = ma.fields.Integer(metadata={"description": "seconds to wait (429)"})


class MediationApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        """Every error body is JSON: code, status, message, and errors or extras if any."""
        payload, code, headers = super().handle_http_exception(error)
        payload.setdefault("message", error.description)
        data = getattr(error, "data", None) or {}
        for key in ("current_state", "retry_after"):
            if key in data:
                payload[key] = data[key]
        if code == 422 and "errors" in payload:
            # webargs nests errors by location ({"json": {...}}); callers want the fields.
            errs = payload["errors"]
            if isinstance(errs, dict) and set(errs) <= {"json", "query", "form", "view_args"}:
                merged: dict = {}
                for part in errs.values():
                    merged.update(part)
                payload["errors"] = merged
        return payload, code, headers

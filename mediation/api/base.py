"""The flask-smorest Api, with one JSON error shape for every error."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Api
from werkzeug.exceptions import HTTPException


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

"""Domain errors raised by commands; one handler turns each into a JSON response."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code_name = "Bad Request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {"code": self.status, "status": self.code_name, "message": self.message, **self.extra}


class NotFound(DomainError):
    """Unknown, or invisible to the caller: the two are never told apart."""

    status = 404
    code_name = "Not Found"

    def __init__(self, what: str = "resource") -> None:
        super().__init__(f"{what} not found")


class Invalid(DomainError):
    """Validation failed; `errors` maps each field to its messages."""

    status = 422
    code_name = "Unprocessable Entity"

    def __init__(self, errors: dict[str, list[str]], message: str = "validation failed") -> None:
        super().__init__(message, errors=errors)


class Conflict(DomainError):
    """An illegal state change; the response carries the current state."""

    status = 409
    code_name = "Conflict"

    def __init__(self, message: str, current_state: Any = None, **extra: Any) -> None:
        super().__init__(message, current_state=current_state, **extra)


class Forbidden(DomainError):
    """The caller may see the thing but not do this to it."""

    status = 403
    code_name = "Forbidden"

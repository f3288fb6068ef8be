"""Multi-party mediation coordination for long-standing petition cases (信访积案)."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so that a small helper process (the spreadsheet reader) can import one module
    # of the package without loading the whole application.
    if name == "create_app":
        from mediation.app import create_app

        return create_app
    raise AttributeError(f"module 'mediation' has no attribute {name!r}")

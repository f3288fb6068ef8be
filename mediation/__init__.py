"""Multi-party mediation coordination for long-standing petition cases (信访积案)."""

from mediation.app import create_app

__all__ = ["create_app"]

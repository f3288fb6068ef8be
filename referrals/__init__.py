"""Providers, routing and the referral lifecycle (issue 3). Registered by the app factory."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing yet: the referral lifecycle arrives with its own issue."""

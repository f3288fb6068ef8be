"""The notification centre: a list per user of the events that concern them (offers,
invitations, reminders, hand-overs), filled from the event catalogue's recipient rules in
the event's own transaction; over the API (`/api/notifications`), on the pages (the
header's badge, /notifications) and live (the user's socket inbox refreshes both)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The append hook that writes notifications, the API and the pages."""
    from mediation.extensions import api, csrf
    from mediation.notifications import centre, models, pages  # noqa: F401 - models: the table
    from mediation.notifications.api import blp
    from mediation.registry import registry

    registry(app).append_hooks.register("notifications", centre.record)
    api.register_blueprint(blp)
    csrf.exempt(blp)  # bearer tokens, not cookies
    pages.init_app(app)

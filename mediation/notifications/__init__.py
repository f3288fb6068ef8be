"""The notification centre: a list per user of the events that concern them (offers,
invitations, reminders, hand-overs), filled from the event catalogue's recipient rules in
the event's own transaction; over the API (`/api/notifications`), on the pages (the
header's badge, /notifications) and live (the user's socket inbox refreshes both)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The append hook that writes notifications, the API and the pages."""
    from mediation import settings
    from mediation.events import declare
    from mediation.extensions import api, csrf
    from mediation.notifications import centre, events, models, outbound, pages, public, tasks  # noqa: F401 - the tables, tasks
    from mediation.notifications.api import blp, receipts
    from mediation.permissions import register_rules
    from mediation.registry import registry
    from mediation.server import add_periodic_job
    from mediation.tasks import add_beat

    settings.get("MEDIATION_NOTIFY_QUIET_HOURS", app)  # checked with the others at start-up
    registry(app).append_hooks.register("notifications", centre.record)
    from mediation.pii import register_encrypted

    register_encrypted(app, models.Preference, "phone_cipher", "wecom_mobile_cipher")
    register_encrypted(app, models.Delivery, "message_cipher")
    register_encrypted(app, models.Respondent, "phone_enc")
    register_rules(app, *centre.RULES)
    add_periodic_job(app, "notifications-deliver-due", outbound.sweep_due)
    add_beat(app, "notifications-deliver-due", outbound.SWEEP_TASK, 30.0)
    declare(app, *events.ALL)
    api.register_blueprint(blp)
    csrf.exempt(blp)  # bearer tokens, not cookies
    api.register_blueprint(receipts)
    csrf.exempt(receipts)
    app.register_blueprint(public.bp)  # the petitioner's query page: its forms carry CSRF tokens
    pages.init_app(app)

"""Mediation sessions and agreements (issue 5): sessions with their participants, the
mediation agreement (调解协议) from draft to effect, recorded back onto the case.

`mediation` knows nothing of referrals: who is a case's mediator, and who else holds an
accepted referral on it, comes from the source `referrals` registers in `sources`.
"""


def init_app(app) -> None:
    """Settings, the printable agreement page, the inbox rule for session events, and the
    cessation sweep.

    `MEDIATION_CESSATION_QUIET_DAYS` (default 180): days after the resolution without a new
    petition after which petitioning counts as ceased (息诉罢访)."""
    import os

    from mediation.config import ConfigError
    from mediation.server import add_periodic_job
    from mediation.sessions import followup, pages

    raw = app.config.get("MEDIATION_CESSATION_QUIET_DAYS")
    if raw is None:
        raw = os.environ.get("MEDIATION_CESSATION_QUIET_DAYS") or followup.DEFAULT_QUIET_DAYS
    try:
        days = int(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError("MEDIATION_CESSATION_QUIET_DAYS must be a whole number of days") from exc
    if days < 1:
        raise ConfigError("MEDIATION_CESSATION_QUIET_DAYS must be at least 1")
    app.config["MEDIATION_CESSATION_QUIET_DAYS"] = days
    app.register_blueprint(pages.bp)
    register_events()
    add_periodic_job(app, followup.sweep_cessations)


def register_events() -> None:
    """Session invitations, postponements, cancellations and starts reach each
    participant's `user:<id>` inbox (idempotent: the app factory may run many times)."""
    from mediation.permissions import register_event_recipients
    from mediation.sessions import chat
    from mediation.sessions.commands import INBOX_EVENTS, session_recipients

    for event_type in INBOX_EVENTS:
        register_event_recipients(event_type, session_recipients)
    for verb in ("posted", "edited", "deleted"):
        register_event_recipients(f"{chat.PREFIX}.{verb}", chat.message_recipients)

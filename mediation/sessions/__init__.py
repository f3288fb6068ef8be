"""Mediation sessions and agreements: sessions with their participants, the
mediation agreement (调解协议) from draft to effect, recorded back onto the case.

`mediation` knows nothing of referrals: who is a case's mediator, and who else holds an
accepted referral on it, comes from the source `referrals` registers in `sources`.
"""


def init_app(app) -> None:
    """The printable agreement page, the inbox rule for session events, and the
    cessation sweep (its quiet period: `MEDIATION_CESSATION_QUIET_DAYS`)."""
    from mediation.server import add_periodic_job
    from mediation.sessions import followup, pages, presence, tasks
    from mediation.tasks import add_beat

    app.register_blueprint(pages.bp)
    pages.init_app(app)  # the mediator's pages: schedule, session room, agreements
    register_events()
    add_periodic_job(app, followup.sweep_cessations)
    add_periodic_job(app, presence.sweep)
    add_beat("sessions-presence-sweep", tasks.PRESENCE_SWEEP, 30.0)


def register_events() -> None:
    """Session invitations, postponements, cancellations and starts reach each
    participant's `user:<id>` inbox (idempotent: the app factory may run many times)."""
    from mediation.permissions import register_event_audience, register_event_recipients
    from mediation.sessions import chat, presence
    from mediation.sessions.commands import INBOX_EVENTS, session_recipients

    for event_type in INBOX_EVENTS:
        register_event_recipients(event_type, session_recipients)
    for verb in ("posted", "edited", "deleted"):
        register_event_recipients(f"{chat.PREFIX}.{verb}", chat.message_recipients)
    # Who is in a session's room: the same audience as its chat (officials, and the
    # participants listed in the event, through their inboxes).
    for event_type in presence.EVENTS:
        register_event_audience(event_type, chat.SESSION_PARTICIPANTS.name)
        register_event_recipients(event_type, chat.message_recipients)

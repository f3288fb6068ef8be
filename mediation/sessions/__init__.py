"""Mediation sessions and agreements: sessions with their participants, the
mediation agreement (调解协议) from draft to effect, recorded back onto the case.

`mediation` knows nothing of referrals: who is a case's mediator, and who else holds an
accepted referral on it, comes from the provider source `referrals` registers.
"""


def init_app(app) -> None:
    """The event types, the pages (the printable agreement, the mediator's), the cessation
    sweep (its quiet period: `MEDIATION_CESSATION_QUIET_DAYS`) and the presence sweep."""
    from mediation.events import declare
    from mediation.server import add_periodic_job
    from mediation.sessions import events, followup, pages, presence, tasks
    from mediation.tasks import add_beat

    declare(app, *events.ALL)
    from mediation.documents.targets import register_target
    from mediation.sessions.documents import TARGETS

    for target in TARGETS:  # sessions, agreements, performance items take documents
        register_target(app, target)
    app.register_blueprint(pages.bp)
    pages.init_app(app)  # the mediator's pages: schedule, session room, agreements
    add_periodic_job(app, "sessions-cessations", followup.sweep_cessations)
    add_periodic_job(app, "sessions-presence", presence.sweep)
    add_beat(app, "sessions-presence-sweep", tasks.PRESENCE_SWEEP, 30.0)
    # With Redis the embedded loop does not run: beat must sweep cessations too.
    add_beat(app, "sessions-cessation-sweep", tasks.CESSATION_SWEEP, 3600.0)


"""Documents and evidence: the papers of a case file, kept by content hash in a pluggable
store, on the timeline as `document.*` events, and exported as a verifiable archive (卷宗)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The documents' event types, permission rules, labels, API, commands and sweep job."""
    from mediation import labels
    from mediation.documents import api, checklist, cli, events, models, pages, tasks
    from mediation.documents import commands as doc_commands
    from mediation.documents.rules import RULES
    from mediation.documents.targets import investigation_target, register_target
    from mediation.events import declare
    from mediation.extensions import api as smorest
    from mediation.extensions import csrf
    from mediation.pages import Section, register_case_section
    from mediation.permissions import register_rules
    from mediation.server import add_periodic_job
    from mediation.tasks import add_beat

    register_rules(app, *RULES)
    checklist.init_app(app)
    register_target(app, investigation_target())
    declare(app, *events.ALL)
    labels.register_groups(app, {"document_kind": {k.value: v for k, v in models.KIND_LABELS.items()}})
    smorest.register_blueprint(api.blp)
    csrf.exempt(api.blp)  # bearer tokens, not cookies
    app.register_blueprint(pages.bp)
    register_case_section(app, Section("case_documents", pages.SECTION_TITLE, pages.documents_section,
                                       on="document.", order=45, wide=True))
    app.cli.add_command(cli.archive_group)
    app.cli.add_command(cli.documents_group)
    add_periodic_job(app, "documents-orphan-sweep", doc_commands.sweep_orphans)
    add_beat(app, "documents-orphan-sweep", tasks.ORPHAN_SWEEP, 3600.0)

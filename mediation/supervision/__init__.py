"""Supervision (督查督办): KPIs with exact definitions, the weekly, monthly and quarterly
reports, the Excel ledger (台账), satisfaction surveys and the third-party export."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the spreadsheet reader's child process imports this package: keep it light
    from flask import Flask


def init_app(app: Flask) -> None:
    """Supervision's permission rules and event types, its API, the supervisors' and
    evaluator's pages, the survey page and the daily reminders."""
    from mediation.events import declare
    from mediation.permissions import register_rules
    from mediation.supervision import api, events
    from mediation.supervision.scope import RULES

    register_rules(app, *RULES)
    declare(app, *events.ALL)
    api.init_app(app)
    from mediation.documents.targets import register_target
    from mediation.supervision.documents import TARGET

    register_target(app, TARGET)  # a survey's papers
    register_rollup_fold(app)


def register_rollup_fold(app: Flask) -> None:
    """The KPI deltas folded into the rollup in the background (embedded loop and beat)."""
    from mediation.registry import registry
    from mediation.server import add_periodic_job
    from mediation.supervision import rollup, tasks  # noqa: F401 - the beat task
    from mediation.tasks import add_beat

    registry(app).append_hooks.register("supervision.rollup", rollup.on_append)
    add_periodic_job(app, "kpi-rollup-fold", rollup.fold_pending)
    add_beat(app, "kpi-rollup-fold", rollup.FOLD_TASK, FOLD_SECONDS)


# Reads add the unfolded deltas, so this only bounds how many they sum (~15 s of writes).
FOLD_SECONDS = 15.0

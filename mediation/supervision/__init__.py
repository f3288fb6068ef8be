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

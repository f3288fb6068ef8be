"""Supervision (督查督办): KPIs with exact definitions, the weekly, monthly and quarterly
reports, the Excel ledger (台账), satisfaction surveys and the third-party export."""

from __future__ import annotations


def register_rules() -> None:
    """Put supervision's rules into the permission table."""
    from mediation.permissions import register_rules as register
    from mediation.supervision.scope import RULES

    register(*RULES)

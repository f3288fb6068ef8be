"""Cases: intake, the dossier (一案一档), classification, clocks and owners — the core area."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The core's permission rules, the case's event types, the case page's own sections,
    the core pages' links and the lead official's duties page."""
    from mediation import pages
    from mediation.cases import board_pages, duty_pages, events, sentences
    from mediation.events import declare
    from mediation.permissions import CORE_RULES, register_rules

    register_rules(app, *CORE_RULES)
    declare(app, *events.ALL)
    pages.init_app(app)
    duty_pages.init_app(app)
    sentences.init_app(app)
    board_pages.init_app(app)

"""Supervision settings: app config first, then MEDIATION_* environment variables."""

from __future__ import annotations

import os

from flask import current_app

DEFAULTS = {
    # No progress event for this many days makes an open case "stalled" (周调度).
    "MEDIATION_STALL_DAYS": 14,
    # Reopened within this many days of being resolved or closed: possible fake resolution.
    "MEDIATION_REOPEN_WINDOW_DAYS": 180,
    # A clock due within this many days is "close" in the weekly report.
    "MEDIATION_DUE_SOON_DAYS": 7,
    # How long a survey link stays valid.
    "MEDIATION_SURVEY_TTL_DAYS": 14,
}


def setting(name: str) -> int:
    value = current_app.config.get(name, os.environ.get(name))
    return int(value) if value not in (None, "") else DEFAULTS[name]

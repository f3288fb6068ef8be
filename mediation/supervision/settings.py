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
    # Reminders: owners' contact duties and performance items due within this many days
    # (or overdue) are reminded of, once a day.
    "MEDIATION_REMINDER_DAYS": 3,
    # Statutory clocks (信访工作条例 duties) running out within this many days, or overdue.
    "MEDIATION_REMINDER_CLOCK_DAYS": 7,
    # The daily run starts at this hour, UTC (0 = 08:00 Beijing time).
    "MEDIATION_REMINDER_HOUR": 0,
    # 1: beat or the embedded loop runs the day's reminders; 0: only `mediation reminders
    # send` does (say, from the system's cron).
    "MEDIATION_REMINDER_AUTO": 1,
    # The embedded loop's first run waits this many seconds after the server starts, so a
    # server restarted (or started for a moment) does not fire the day's run at once.
    "MEDIATION_REMINDER_START_DELAY": 300,
    # How often beat (production) asks whether today's run is due, in seconds.
    "MEDIATION_REMINDER_CHECK_SECONDS": 3600,
}


def setting(name: str) -> int:
    value = current_app.config.get(name, os.environ.get(name))
    return int(value) if value not in (None, "") else DEFAULTS[name]

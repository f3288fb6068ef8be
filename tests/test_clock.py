"""The service's day: today, due dates, deadlines, reminders and the KPIs' "as of" are days
in MEDIATION_TIMEZONE (Beijing by default), checked at 23:30 and 00:30 UTC — the same
Beijing morning, but two different UTC dates. Every timestamp leaves the API with its offset,
SQLite included."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from mediation import clock
from mediation.extensions import db
from mediation.sessions.commands import JUDICIAL_CONFIRMATION_DAYS, judicial_confirmation_until
from mediation.supervision import kpis, reminders
from mediation.supervision.scope import Scope
from mediation.users import User
from tests.factories import make_user

UTC = dt.UTC
# A Beijing day (today's, so that tokens and the rest of the world stay valid), and two
# moments of its morning: 07:30 is still the previous day in UTC, 08:30 is the same day.
DAY = clock.today()
LATE = dt.datetime.combine(DAY - dt.timedelta(days=1), dt.time(23, 30), tzinfo=UTC)
EARLY = dt.datetime.combine(DAY, dt.time(0, 30), tzinfo=UTC)


@pytest.fixture
def frozen():
    yield clock.freeze
    clock.unfreeze()


def test_today_and_the_days_boundaries(app, frozen):
    for moment in (LATE, EARLY):
        frozen(moment)
        assert clock.now() == moment and clock.now().tzinfo is not None
        assert clock.today() == DAY
    frozen(clock.day_start(DAY) - dt.timedelta(microseconds=1))
    assert clock.today() == DAY - dt.timedelta(days=1)
    assert clock.day_start(DAY) == dt.datetime.combine(DAY - dt.timedelta(days=1), dt.time(16), tzinfo=UTC)
    assert clock.day_end(DAY) == clock.day_start(DAY) + dt.timedelta(days=1)
    assert clock.day_range(DAY, DAY + dt.timedelta(days=6)) == (
        clock.day_start(DAY), clock.day_start(DAY + dt.timedelta(days=7)))
    assert clock.local_date(LATE.replace(tzinfo=None)) == DAY  # naive (SQLite) means UTC
    assert clock.local_wall_time(dt.datetime.combine(DAY, dt.time(8, 30))) == EARLY
    # The zone is a setting: in UTC, 23:30 is still the day before.
    with app.app_context():
        app.config["MEDIATION_TIMEZONE"] = "UTC"
        try:
            frozen(LATE)
            assert clock.today() == DAY - dt.timedelta(days=1)
        finally:
            app.config["MEDIATION_TIMEZONE"] = clock.DEFAULT_TIMEZONE


@pytest.mark.parametrize("moment", [LATE, EARLY], ids=["23:30 UTC", "00:30 UTC"])
def test_a_contact_held_this_beijing_morning_is_not_in_the_future(api, frozen, moment):
    officer = api.user("case_officer", "510104")
    lead = api.user("lead_official", "510104")
    case = api.case(officer)
    url = f"/api/cases/{case['id']}"
    assert api.put(f"{url}/owner", officer, {"lead_official_id": lead.id,
                                             "assigned_on": (DAY - dt.timedelta(days=3)).isoformat()}
                   ).status_code == 200
    frozen(moment)
    r = api.post(f"{url}/contacts", lead, {"kind": "petitioner_meeting", "held_on": DAY.isoformat()})
    assert r.status_code == 201, r.get_json()
    r = api.post(f"{url}/contacts", lead, {"kind": "petitioner_meeting",
                                           "held_on": (DAY + dt.timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and "held_on" in r.get_json()["errors"]
    duties = {d["name"]: d for d in api.get(url, officer).get_json()["owner"]["duties"]}
    assert duties["petitioner_meeting"]["state"] == "running"


@pytest.mark.parametrize("moment", [LATE, EARLY], ids=["23:30 UTC", "00:30 UTC"])
def test_the_judicial_confirmation_window_counts_beijing_days(moment):
    assert judicial_confirmation_until(moment) == DAY + dt.timedelta(days=JUDICIAL_CONFIRMATION_DAYS)


def test_the_daily_reminders_start_at_the_local_hour(ctx, frozen):
    state = ctx.extensions[reminders.STATE]
    state.pop("done", None)
    try:
        frozen(LATE)  # 07:30 in Beijing: before MEDIATION_REMINDER_HOUR (8)
        assert reminders.daily() is None
        frozen(EARLY)  # 08:30
        assert reminders.daily()["day"] == DAY.isoformat()
        assert state["done"] == DAY
    finally:
        state.pop("done", None)


def test_a_case_resolved_at_23_30_utc_counts_on_the_next_beijing_day(ctx, frozen):
    from mediation.cases import commands

    admin = make_user("admin", None)
    frozen(LATE - dt.timedelta(days=2))
    case_id = commands.intake(admin, {"title": "t", "region_code": "510104",  # in the action
                                      "action_listed_on": clock.today(), "action_reason": "纳入"}).id
    commands.transition(db.session.get(User, admin.id), case_id, "in_progress", "test")
    frozen(LATE)
    commands.transition(db.session.get(User, admin.id), case_id, "resolved", "test")
    db.session.remove()
    days = [DAY - dt.timedelta(days=1), DAY]
    fast = kpis.counts_many(Scope(""), days)
    live = kpis.counts_many_live(Scope(""), days)
    assert fast == live
    assert [f["all"]["resolved"] for f in fast] == [0, 1]
    assert [f["all"]["cases"] for f in fast] == [1, 1]


def test_every_timestamp_leaves_the_api_with_its_offset(api):
    officer = api.user("case_officer", "510104")
    case = api.case(officer)
    body = api.get(f"/api/cases/{case['id']}", officer).get_json()  # read back from the database
    offset = re.compile(r"(Z|[+-]\d\d:\d\d)$")
    stamps = {k: v for k, v in body.items() if k.endswith("_at") and v}
    assert {"created_at", "updated_at"} <= set(stamps)
    assert all(offset.search(v) for v in stamps.values()), stamps
    events = api.get(f"/api/cases/{case['id']}/timeline", officer).get_json()["events"]
    assert events and all(offset.search(e["at"]) for e in events)
    with api.app.app_context():
        from mediation.cases.models import Case

        loaded = db.session.get(Case, case["id"])
        assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset() == dt.timedelta(0)
        db.session.remove()


def test_no_page_says_utc_and_no_code_asks_the_machine_for_the_day():
    root = Path(__file__).resolve().parent.parent
    assert not [p for p in (root / "templates").rglob("*.html") if "UTC）" in p.read_text(encoding="utf-8")]
    day_of_machine = re.compile(
        r"date\.today\(\)|datetime\.utcnow\(\)|utcnow\(\)\.date\(\)|datetime\.now\(\)")
    offenders = [str(p.relative_to(root)) for pkg in ("mediation", "referrals", "realtime")
                 for p in (root / pkg).rglob("*.py") if day_of_machine.search(p.read_text(encoding="utf-8"))]
    assert offenders == []

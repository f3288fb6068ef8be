"""Daily reminders: on a hand-built set the job sends exactly the items due or overdue to
exactly the users responsible for them, and nothing twice however often it runs (twice in
a row here; two threads at once on PostgreSQL; `mediation reminders send` as a process
against a running server, whose connected lead official receives theirs live)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from mediation import clock
from mediation.cases import commands
from mediation.cases.models import Case
from mediation.events import can_see_event
from mediation.extensions import db
from mediation.schemas.cases import CaseIn
from mediation.supervision import reminders
from mediation.supervision.models import Reminder
from mediation.timeline import Event
from mediation.users import User
from tests.factories import call, case_payload, make_case, make_user

TODAY = clock.today()


def ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def in_effect(w) -> int:
    """The world's agreement, signed by everyone: in effect."""
    from tests.factories import complete_content

    a = call(w, "POST", f"/api/cases/{w.case_id}/agreements", "mediator", complete_content(w)).get_json()
    call(w, "POST", f"/api/agreements/{a['id']}/finalise", "mediator")
    for who, body in (("officer", {"signer": "party", "party_index": 0, "method": "hand"}),
                      ("officer", {"signer": "party", "party_index": 1, "method": "seal"}),
                      ("mediator", {"signer": "mediator", "method": "account"})):
        assert call(w, "POST", f"/api/agreements/{a['id']}/sign", who, body).status_code == 200
    return a["id"]


def add_item(w, agreement_id: int, due: str, description: str) -> int:
    r = call(w, "POST", f"/api/agreements/{agreement_id}/performance", "mediator",
             {"kind": "payment", "description": description, "due_on": due})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def intake(officer: User, **fields) -> Case:
    body = case_payload(**{k: v for k, v in fields.items() if v is not None})
    for k in [k for k, v in fields.items() if v is None]:
        body.pop(k, None)
    return commands.intake(officer, CaseIn().load(body))


@pytest.fixture
def world(app, w):
    """The sessions world plus cases whose duties, clocks and items are due, or not, today.

    Expected reminders (user, case, kind, what):
    - world case: its handling clock runs out in 5 days (officer); the owner's meeting with
      the petitioner was due 5 days ago (lead); performance items due in 2 days and 1 day
      ago (mediator and officer each); not the one due in 10 days nor the one performed;
    - bare case: handling overdue since 2025 (officer);
    - owned case: meeting due in 2 days (lead); its hearing, due in 17, is not reminded;
    - later case: handling due in 20 days: nothing;
    - Qingyang case (510105, no county officer): acceptance due in 5 days, to the city officer;
    - orphan case: its owner was deactivated, its reply is in: nothing;
    - resolved case: overdue handling, but resolved: nothing.
    """
    agreement = in_effect(w)
    items = {"soon": add_item(w, agreement, day(2), "补发补偿款"),
             "late": add_item(w, agreement, day(-1), "书面道歉"),
             "far": add_item(w, agreement, day(10), "恢复通行"),
             "performed": add_item(w, agreement, day(-3), "退还押金")}
    r = call(w, "POST", f"/api/performance/{items['performed']}/done", "mediator", {"evidence": "回单"})
    assert r.status_code == 200
    with app.app_context():
        officer = db.session.get(User, w.users["officer"].id)
        lead = db.session.get(User, w.users["lead"].id)
        city = make_user("case_officer", "510100")
        lead2 = make_user("lead_official", "510104")
        commands.update(officer, w.case_id, {"received_on": ago(60), "accepted_on": ago(55)})
        commands.assign_owner(officer, w.case_id, lead.id, "county", ago(20))
        owned = intake(officer, received_on=ago(70).isoformat(), accepted_on=ago(65).isoformat(),
                       replied_on=ago(10).isoformat())
        commands.assign_owner(officer, owned.id, lead.id, "county", ago(13))
        later = intake(officer, received_on=ago(45).isoformat(), accepted_on=ago(40).isoformat())
        qingyang = intake(city, region_code="510105", received_on=ago(10).isoformat(), accepted_on=None)
        orphan = intake(officer, replied_on="2025-05-01")
        commands.assign_owner(officer, orphan.id, lead2.id, "county", ago(20))
        lead2.active = False
        resolved = make_case(officer)
        commands.transition(officer, resolved.id, "in_progress", "开始")
        commands.transition(officer, resolved.id, "resolved", "已化解")
        db.session.commit()
        ids = {"case": w.case_id, "bare": w.bare_case_id, "owned": owned.id, "later": later.id,
               "qingyang": qingyang.id, "orphan": orphan.id, "resolved": resolved.id,
               "officer": officer.id, "lead": lead.id, "city": city.id, "mediator": w.users["mediator"].id,
               **{f"item_{k}": v for k, v in items.items()}}
        db.session.remove()
    return ids


def expected(ids: dict) -> set[tuple]:
    return {
        (ids["officer"], ids["case"], "statutory_clock", "handling", 5),
        (ids["lead"], ids["case"], "owner_duty", "petitioner_meeting", -5),
        (ids["mediator"], ids["case"], "performance", ids["item_soon"], 2),
        (ids["officer"], ids["case"], "performance", ids["item_soon"], 2),
        (ids["mediator"], ids["case"], "performance", ids["item_late"], -1),
        (ids["officer"], ids["case"], "performance", ids["item_late"], -1),
        (ids["officer"], ids["bare"], "statutory_clock", "handling", (dt.date(2025, 5, 7) - TODAY).days),
        (ids["lead"], ids["owned"], "owner_duty", "petitioner_meeting", 2),
        (ids["city"], ids["qingyang"], "statutory_clock", "acceptance_decision", 5),
    }


def delivered() -> list[tuple]:
    """Every reminder in the `reminder.due` events: (user, case, kind, what, days left)."""
    db.session.expire_all()
    out = []
    events = sa.select(Event).where(Event.type == reminders.EVENT).order_by(Event.id)
    for ev in db.session.execute(events).scalars():
        for r in ev.payload["reminders"]:
            what = r["item_id"] if r["kind"] == "performance" else r["name"]
            out.append((ev.payload["user_id"], ev.case_id, r["kind"], what, r["days_left"]))
    return out


def test_the_job_sends_exactly_the_due_items_to_exactly_the_responsible_users(ctx, world):
    first = reminders.send()
    sent = delivered()
    assert sorted(sent) == sorted(expected(world))  # each once: no duplicates either
    assert first.sent == len(sent) == first.due and first.failed_cases == []
    # One event per case and user; each names its user and the day.
    events = db.session.execute(sa.select(Event).where(Event.type == reminders.EVENT)).scalars().all()
    assert first.events == len(events) == len({(e.case_id, e.payload["user_id"]) for e in events}) == 6
    assert {e.payload["day"] for e in events} == {TODAY.isoformat()}
    assert {e.actor_id for e in events} == {None}
    assert db.session.execute(sa.select(sa.func.count()).select_from(Reminder)).scalar_one() == len(sent)
    overdue = {(r[0], r[3]) for r in sent if r[4] < 0}
    assert overdue == {(world["lead"], "petitioner_meeting"), (world["mediator"], world["item_late"]),
                       (world["officer"], world["item_late"]), (world["officer"], "handling")}

    second = reminders.send()  # the same day again: nothing new
    assert (second.sent, second.events, second.due) == (0, 0, len(sent))
    assert sorted(delivered()) == sorted(sent)


def test_reminders_go_live_only_to_the_user_they_name(ctx, world):
    from realtime.relay import rooms_for

    reminders.send()
    mediator = db.session.get(User, world["mediator"])
    for ev in db.session.execute(sa.select(Event).where(Event.type == reminders.EVENT)).scalars():
        case = db.session.get(Case, ev.case_id)
        assert rooms_for(ev.envelope(), case, db.session) == [f"user:{ev.payload['user_id']}"]
        # On the timeline: the user it names and the case's officials; not another provider.
        assert can_see_event(mediator, case, ev.type, ev.payload) is (ev.payload["user_id"] == mediator.id)


def test_a_new_day_reminds_again_and_a_done_item_stops(ctx, world, w):
    reminders.send()
    before = len(delivered())
    r = call(w, "POST", f"/api/performance/{world['item_soon']}/done", "mediator", {"evidence": "转账回单"})
    assert r.status_code == 200
    tomorrow = reminders.send(TODAY + dt.timedelta(days=1))
    sent = delivered()[before:]
    assert not [s for s in sent if s[3] == world["item_soon"]]
    assert (world["lead"], world["owned"], "owner_duty", "petitioner_meeting", 1) in sent
    assert tomorrow.sent == len(sent) > 0


def test_settings_narrow_what_is_due(app, ctx, world):
    app.config.update(MEDIATION_REMINDER_DAYS=0, MEDIATION_REMINDER_CLOCK_DAYS=0)
    try:
        kinds = {(d.user_id, d.case_id, d.kind, d.name) for d in reminders.due_items(db.session, TODAY)}
    finally:
        app.config.pop("MEDIATION_REMINDER_DAYS")
        app.config.pop("MEDIATION_REMINDER_CLOCK_DAYS")
    # Only what is overdue is left: nothing due within 0 days is due today.
    assert (world["lead"], world["owned"], "owner_duty", "petitioner_meeting") not in kinds
    assert (world["officer"], world["case"], "statutory_clock", "handling") not in kinds
    assert (world["lead"], world["case"], "owner_duty", "petitioner_meeting") in kinds


def test_the_cli_sends_and_a_second_run_sends_nothing(app, world):
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["reminders", "send", "--dry-run"])
    assert dry.exit_code == 0 and "9 reminder(s) to send; 0 already sent" in dry.output
    first = runner.invoke(args=["reminders", "send"])
    assert first.exit_code == 0, first.output
    assert "sent 9 reminder(s) in 6 event(s)" in first.output
    again = runner.invoke(args=["reminders", "send"])
    assert "sent 0 reminder(s) in 0 event(s)" in again.output and "9 already sent today" in again.output
    with app.app_context():
        assert len(delivered()) == 9
        db.session.remove()


def test_the_embedded_loop_runs_it_once_a_day_when_the_hour_has_come(app, ctx, world):
    from mediation.server import periodic_jobs

    assert reminders.embedded_daily in periodic_jobs(app)
    state = app.extensions[reminders.STATE]
    started = state["started"]
    app.config.update(MEDIATION_REMINDER_START_DELAY=0, MEDIATION_REMINDER_HOUR=0)
    try:
        state.pop("done", None)
        assert reminders.embedded_daily()["sent"] == 9
        assert reminders.embedded_daily() is None  # done for today in this process
        app.config["MEDIATION_REMINDER_AUTO"] = 0
        state.pop("done")
        assert reminders.embedded_daily() is None
    finally:
        for k in ("MEDIATION_REMINDER_START_DELAY", "MEDIATION_REMINDER_HOUR", "MEDIATION_REMINDER_AUTO"):
            app.config.pop(k, None)
        state["started"] = started
        state.pop("done", None)
    assert len(delivered()) == 9


def test_beat_runs_the_daily_task(app, ctx, world):
    from mediation.registry import registry

    name, seconds = registry(app).beat["supervision-reminders"]
    assert name == reminders.TASK and seconds == 3600
    celery = app.extensions["celery"]
    assert celery.conf.beat_schedule["supervision-reminders"]["task"] == reminders.TASK
    app.extensions[reminders.STATE].pop("done", None)
    app.config["MEDIATION_REMINDER_HOUR"] = 0  # whatever the hour the test runs at
    try:
        assert celery.tasks[reminders.TASK].apply().get()["sent"] == 9  # the worker's run
    finally:
        app.extensions[reminders.STATE].pop("done", None)
        app.config.pop("MEDIATION_REMINDER_HOUR")
    assert len(delivered()) == 9


# --- two processes at once (PostgreSQL) ---------------------------------------------------------

THREADS = 2
CASES = 30


def test_two_runs_at_once_send_each_reminder_once(pg):
    officer = make_user("case_officer", "510104")
    lead = make_user("lead_official", "510104")
    for i in range(CASES):
        case = intake(officer, title=f"并发提醒{i}")  # handling overdue: the officer
        commands.assign_owner(officer, case.id, lead.id, "county", ago(20))  # meeting overdue: the lead
    db.session.remove()
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def run(i: int) -> None:
        with pg.app_context():
            try:
                barrier.wait(timeout=30)
                results[i] = reminders.send()
            except Exception as exc:  # asserted below
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert all(r.failed_cases == [] and r.due == 2 * CASES for r in results)
    assert sum(r.sent for r in results) == 2 * CASES
    sent = delivered()
    assert len(sent) == len(set(sent)) == 2 * CASES
    assert {(s[0], s[2]) for s in sent} == {(officer.id, "statutory_clock"), (lead.id, "owner_duty")}
    from mediation import timeline

    assert timeline.verify()[1] == []


# --- as a process, live ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_connected_lead_official_receives_the_reminder_sent_by_the_cli(tmp_path: Path):
    from tests.conftest import build_app
    from tests.factories import make_world
    from tests.test_realtime_live import Client, LiveServer

    url = f"sqlite:///{tmp_path / 'live.db'}"
    app = build_app(url, tmp_path / "seed-instance")
    there = make_world(app, {"officer": ("case_officer", "510104"), "lead": ("lead_official", "510104")},
                       {"a": ("officer", "510104")})
    case_id = there.cases["a"]
    with app.app_context():
        officer = db.session.get(User, there.officer.id)
        commands.update(officer, case_id, {"replied_on": dt.date(2025, 5, 1)})  # only the lead's duty
        commands.assign_owner(officer, case_id, there.lead.id, "county", ago(20))
        db.session.remove()
    # Only the CLI sends here: the server's own daily run is off.
    server = LiveServer(tmp_path, url, MEDIATION_REMINDER_AUTO="0").start()
    lead = officer_client = None
    try:
        lead = Client(server.base, there.tokens["lead"])
        officer_client = Client(server.base, there.tokens["officer"])
        done = server.cli("reminders", "send")
        assert done.returncode == 0, done.stderr
        assert "sent 1 reminder(s) in 1 event(s)" in done.stdout
        # The server's outbox sweep delivers it (every 15 s): a generous bound.
        envelope = lead.take(1, case_id, timeout=60)[0]
        assert envelope["type"] == "reminder.due" and envelope["data"]["user_id"] == there.lead.id
        [item] = envelope["data"]["reminders"]
        assert (item["kind"], item["name"], item["overdue"]) == ("owner_duty", "petitioner_meeting", True)
        assert officer_client.call("subscribe", {"case_id": 999999})["ok"] is False  # a round trip
        assert officer_client.events.empty()  # the officer is not told of the lead's duty
        again = server.cli("reminders", "send")
        assert again.returncode == 0 and "sent 0 reminder(s)" in again.stdout
    finally:
        for c in (lead, officer_client):
            if c is not None:
                c.close()
        server.stop()

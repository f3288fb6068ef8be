"""Daily reminders (每日提醒) to the inboxes of those responsible, live.

Once a day each responsible user is told, on the case's timeline as a `reminder.due` event
that the realtime relay routes to their own `user:<id>` room, of:
- the lead official (包案领导): their contact duties (五包: hearing progress monthly, meeting
  the petitioner every half month) due within `MEDIATION_REMINDER_DAYS` or overdue;
- the case's officers: statutory clocks (信访工作条例 duties) running out within
  `MEDIATION_REMINDER_CLOCK_DAYS` or overdue;
- the agreement's mediator and the case's officers: performance items (协议履行) due within
  `MEDIATION_REMINDER_DAYS` or overdue;
- the agreement's mediator, the case's officers and its lead official: follow-up visits
  (回访) due within `MEDIATION_REMINDER_DAYS` or missed, until the case is closed.

"The case's officers" are the active case officers of the nearest jurisdiction covering the
case (county, else city, else province, else national), so a provincial officer is not
reminded of every county's clocks while the county has its own officers.

Exactly once per item per user per day, however often and in however many processes the job
runs: each reminder is a row of `reminders` with a unique (day, user, item) key, inserted
with ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike); only the rows a run inserted are
sent, in the same transaction as their event. A run that fails for a case rolls that case
back; the next run sends what it did not.

Runs: Celery beat (production) every `MEDIATION_REMINDER_CHECK_SECONDS`, the server's
embedded loop (no Redis), both starting the day's run at `MEDIATION_REMINDER_HOUR` (local)
unless `MEDIATION_REMINDER_AUTO=0` (the embedded loop's first run waits
`MEDIATION_REMINDER_START_DELAY` seconds after the start); and `mediation reminders send` by
hand (or from cron).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from celery import shared_task
from flask import Flask, current_app
from sqlalchemy.orm import Session, selectinload

from mediation import timeline
from mediation.cases import queries, rules
from mediation.cases.models import Case
from mediation.clock import local, today
from mediation.extensions import db
from mediation.regions import region_prefix
from mediation.settings import get as setting
from mediation.supervision import events
from mediation.supervision.models import Reminder
from mediation.timeline import utcnow
from mediation.users import Role, User

log = logging.getLogger(__name__)

EVENT = events.REMINDER_DUE.name
TASK = "supervision.reminders"
KINDS = ("owner_duty", "statutory_clock", "performance", "followup_visit")
BATCH = 500
STATE = "supervision.reminders"  # app.extensions key: the day this process last ran fully


@dataclass(frozen=True)
class Due:
    """One thing one user is to be reminded of."""

    kind: str  # owner_duty | statutory_clock | performance
    case_id: int
    user_id: int
    name: str  # the clock or duty's name; a performance item's kind (payment | action)
    due_on: dt.date
    item_id: int | None = None
    description: str = ""

    @property
    def key(self) -> str:
        ident = self.item_id if self.item_id is not None else self.name
        return f"{self.kind}:{self.case_id}:{ident}:{self.due_on.isoformat()}"

    def view(self, day: dt.date) -> dict[str, Any]:
        left = (self.due_on - day).days
        return {"kind": self.kind, "name": self.name, "item_id": self.item_id,
                "description": self.description, "due_on": self.due_on.isoformat(),
                "days_left": left, "overdue": left < 0}


@dataclass
class SendResult:
    day: dt.date
    due: int = 0  # (user, item) pairs due today
    sent: int = 0  # of those, sent by this run (the others went earlier today)
    events: int = 0
    failed_cases: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "due": self.due, "sent": self.sent,
                "events": self.events, "failed_cases": list(self.failed_cases)}


# --- who is told ---------------------------------------------------------------------------

class _Officers:
    """The active case officers by jurisdiction prefix, read once per run."""

    def __init__(self, session: Session) -> None:
        self.by_prefix: dict[str, list[int]] = defaultdict(list)
        for uid, region in session.execute(sa.select(User.id, User.region).where(
                User.role == Role.CASE_OFFICER.value, User.active.is_(True)).order_by(User.id)):
            self.by_prefix[region_prefix(region) if region else ""].append(uid)

    def of(self, region_code: str) -> list[int]:
        """The officers of the nearest jurisdiction covering the region."""
        for n in (6, 4, 2, 0):
            ids = self.by_prefix.get(region_code[:n])
            if ids:
                return ids
        return []


def _active(session: Session, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(session.execute(sa.select(User.id).where(User.id.in_(ids), User.active.is_(True))).scalars())


# --- what is due ---------------------------------------------------------------------------

def due_items(session: Session, day: dt.date) -> list[Due]:
    """Every (user, item) due on `day`, in a stable order (case, user, key)."""
    limits = current_app.config["MEDIATION_CLOCKS"]
    duty_until = day + dt.timedelta(days=setting("MEDIATION_REMINDER_DAYS"))
    clock_until = day + dt.timedelta(days=setting("MEDIATION_REMINDER_CLOCK_DAYS"))
    officers = _Officers(session)
    out: list[Due] = []

    # Clocks and duties: only cases whose earliest open deadline (kept on the row, indexed)
    # falls within the horizon can have one due, so only those are read.
    # (the one definition of an open deadline, mediation.cases.queries: none on a concluded case)
    ids = session.execute(sa.select(Case.id).where(
        queries.deadline_by(max(duty_until, clock_until))).order_by(Case.id)).scalars().all()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        cases = session.execute(sa.select(Case).options(selectinload(Case.contacts))
                                .where(Case.id.in_(chunk)).order_by(Case.id)).scalars().all()
        leads = _active(session, {c.lead_official_id for c in cases if c.lead_official_id})
        for case in cases:
            for clock in rules.statutory_clocks(case, limits, day):
                open_duty = clock.kind == "duty" and clock.state in ("running", "overdue")
                if open_duty and clock.due_on <= clock_until:
                    out.extend(Due("statutory_clock", case.id, uid, clock.name, clock.due_on)
                               for uid in officers.of(case.region_code))
            if case.lead_official_id in leads:
                for duty in rules.owner_duties(case, limits, day):
                    if duty.state in ("running", "overdue") and duty.due_on <= duty_until:
                        out.append(Due("owner_duty", case.id, case.lead_official_id, duty.name, duty.due_on))

    out.extend(_performance_items(session, duty_until, officers))
    out.extend(_followup_visits(session, duty_until, officers))
    unique = {(d.case_id, d.user_id, d.key): d for d in out}
    return [unique[k] for k in sorted(unique)]


def _performance_items(session: Session, until: dt.date, officers: _Officers) -> list[Due]:
    from mediation.sessions.models import Agreement, AgreementStatus, PerformanceItem

    rows = session.execute(
        sa.select(PerformanceItem.id, PerformanceItem.case_id, PerformanceItem.kind,
                  PerformanceItem.description, PerformanceItem.due_on, Agreement.mediator_id,
                  Case.region_code)
        .join(Agreement, Agreement.id == PerformanceItem.agreement_id)
        .join(Case, Case.id == PerformanceItem.case_id)
        .where(PerformanceItem.done_at.is_(None), PerformanceItem.due_on <= until,
               Agreement.status == AgreementStatus.IN_EFFECT.value)
        .order_by(PerformanceItem.case_id, PerformanceItem.id)).all()
    mediators = _active(session, {r.mediator_id for r in rows})
    out = []
    for r in rows:
        users = ([r.mediator_id] if r.mediator_id in mediators else []) + officers.of(r.region_code)
        out.extend(Due("performance", r.case_id, uid, r.kind, r.due_on, r.id, r.description[:200])
                   for uid in users)
    return out


def _followup_visits(session: Session, until: dt.date, officers: _Officers) -> list[Due]:
    from mediation.sessions.models import Agreement, FollowupVisit

    rows = session.execute(
        sa.select(FollowupVisit.id, FollowupVisit.case_id, FollowupVisit.basis, FollowupVisit.due_on,
                  Agreement.mediator_id, Case.region_code, Case.lead_official_id)
        .join(Case, Case.id == FollowupVisit.case_id)
        .outerjoin(Agreement, Agreement.id == FollowupVisit.agreement_id)
        .where(FollowupVisit.recorded_at.is_(None), FollowupVisit.due_on <= until,
               Case.status != "closed")
        .order_by(FollowupVisit.case_id, FollowupVisit.id)).all()
    people = _active(session, {r.mediator_id for r in rows if r.mediator_id}
                     | {r.lead_official_id for r in rows if r.lead_official_id})
    out = []
    for r in rows:
        users = [u for u in (r.mediator_id, r.lead_official_id) if u in people] + officers.of(r.region_code)
        out.extend(Due("followup_visit", r.case_id, uid, r.basis, r.due_on, r.id) for uid in users)
    return out


# --- sending ---------------------------------------------------------------------------------

def _insert_if_absent(session: Session, rows: list[dict[str, Any]]) -> set[tuple[int, str]]:
    """Insert the reminders not sent yet; (user_id, item_key) of those this call inserted.
    The unique key decides between concurrent runs: a taken key inserts nothing."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = (insert(Reminder).values(rows)
            .on_conflict_do_nothing(index_elements=["day", "user_id", "item_key"])
            .returning(Reminder.user_id, Reminder.item_key))
    return {(u, k) for u, k in session.execute(stmt)}


def send(day: dt.date | None = None, session: Session | None = None) -> SendResult:
    """Send today's reminders not sent yet: one transaction per case (its reminder rows and
    one `reminder.due` event per user). With `session` = a plain Session (no after-commit
    hook) the events stay in the outbox for the running service's sweep to deliver."""
    session = session if session is not None else db.session()
    day = day or today()
    result = SendResult(day)
    items = due_items(session, day)
    session.rollback()  # hold nothing between the read and the per-case writes
    result.due = len(items)
    by_case: dict[int, list[Due]] = defaultdict(list)
    for d in items:
        by_case[d.case_id].append(d)
    for case_id, dues in by_case.items():
        try:
            now = utcnow()
            won = _insert_if_absent(session, [
                {"day": day, "user_id": d.user_id, "item_key": d.key, "case_id": d.case_id,
                 "kind": d.kind, "due_on": d.due_on, "sent_at": now} for d in dues])
            per_user: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for d in dues:
                if (d.user_id, d.key) in won:
                    per_user[d.user_id].append(d.view(day))
            if per_user:
                timeline.append_many(session, case_id, [
                    (events.REMINDER_DUE, {"user_id": uid, "day": day.isoformat(), "reminders": views})
                    for uid, views in sorted(per_user.items())], None)
            session.commit()
            result.sent += len(won)
            result.events += len(per_user)
        except Exception:  # one case must not stop the others; the next run retries it
            session.rollback()
            log.exception("reminders for case %s failed", case_id)
            result.failed_cases.append(case_id)
    return result


def already_sent(session: Session, day: dt.date) -> set[tuple[int, str]]:
    rows = session.execute(sa.select(Reminder.user_id, Reminder.item_key).where(Reminder.day == day))
    return {(u, k) for u, k in rows}


def daily() -> dict[str, Any] | None:
    """The periodic job: from the configured hour of the service's day, run once a day in
    this process (a re-run, here or elsewhere, would send nothing twice anyway)."""
    now = local(utcnow())
    if not setting("MEDIATION_REMINDER_AUTO") or now.hour < setting("MEDIATION_REMINDER_HOUR"):
        return None
    state = current_app.extensions.setdefault(STATE, {})
    if state.get("done") == now.date():
        return None
    result = send(now.date())
    if not result.failed_cases:
        state["done"] = now.date()
    return result.as_dict()


def embedded_daily() -> dict[str, Any] | None:
    """The embedded loop's job: `daily`, once the server has been up for
    MEDIATION_REMINDER_START_DELAY seconds."""
    state = current_app.extensions.setdefault(STATE, {})
    started = state.setdefault("started", time.monotonic())
    if time.monotonic() - started < setting("MEDIATION_REMINDER_START_DELAY"):
        return None
    return daily()


@shared_task(name=TASK, acks_late=True, reject_on_worker_lost=True)
def reminders_task() -> dict[str, Any] | None:
    """Beat's entry: the day's reminders, once the configured hour has come."""
    return daily()


def init_app(app: Flask) -> None:
    """The beat entry and the embedded job (the event type is supervision's: `events.py`)."""
    from mediation.server import add_periodic_job
    from mediation.tasks import add_beat

    add_beat(app, "supervision-reminders", TASK, float(setting("MEDIATION_REMINDER_CHECK_SECONDS", app)))
    app.extensions.setdefault(STATE, {})["started"] = time.monotonic()
    add_periodic_job(app, "supervision-reminders", embedded_daily)

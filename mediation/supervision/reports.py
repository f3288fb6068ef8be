"""Weekly scheduling (周调度), the monthly bulletin (月通报) and the quarterly evaluation
(季考评): queries that never commit, every figure from a SQL aggregate."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from mediation import clock
from mediation.cases import queries, rules
from mediation.cases.models import GROUP_VISIT_MIN, Case, Channel, Petition
from mediation.documents import checklist
from mediation.events import progress_types
from mediation.extensions import db
from mediation.oversight import counting as accountability
from mediation.settings import get as setting
from mediation.supervision import kpis
from mediation.supervision.models import Deduction, Inspection, Rectification
from mediation.supervision.scope import Scope
from mediation.timeline import Event
from mediation.validation import EARLIEST, LATEST

OPEN_STATUSES_EXCLUDE = kpis.RESOLVED_STATUSES
LIST_LIMIT = 500


def _year(text: str) -> int:
    year = int(text)
    if not EARLIEST.year <= year <= LATEST.year:
        raise ValueError(f"a year between {EARLIEST.year} and {LATEST.year}")
    return year


def parse_week(text: str) -> dt.date:
    m = re.fullmatch(r"(\d{4})-W(\d{2})", text or "")
    if not m:
        raise ValueError("a week as YYYY-Www, e.g. 2026-W48")
    return dt.date.fromisocalendar(_year(m[1]), int(m[2]), 1)


def parse_month(text: str) -> tuple[dt.date, dt.date]:
    m = re.fullmatch(r"(\d{4})-(\d{2})", text or "")
    if not m or not 1 <= int(m[2]) <= 12:
        raise ValueError("a month as YYYY-MM, e.g. 2026-11")
    _year(m[1])
    first = dt.date(int(m[1]), int(m[2]), 1)
    nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def parse_quarter(text: str) -> tuple[dt.date, dt.date]:
    m = re.fullmatch(r"(\d{4})-Q([1-4])", text or "")
    if not m:
        raise ValueError("a quarter as YYYY-Qn, e.g. 2026-Q4")
    year, q = _year(m[1]), int(m[2])
    first = dt.date(year, 3 * q - 2, 1)
    last = (dt.date(year + 1, 1, 1) if q == 4 else dt.date(year, 3 * q + 1, 1)) - dt.timedelta(days=1)
    return first, last


def _case_brief(row) -> dict[str, Any]:
    return {"case_id": row.id, "reference": row.reference, "title": row.title,
            "region_code": row.region_code, "status": row.status}


# --- weekly -----------------------------------------------------------------------------

def weekly(scope: Scope, monday: dt.date, today: dt.date) -> dict[str, Any]:
    """Each case's progress in the week, stalled cases, clocks overdue or close, signals."""
    kpis.short_query_settings()
    start, end = kpis.end_of(monday - dt.timedelta(days=1)), kpis.end_of(monday + dt.timedelta(days=6))
    as_of = min(monday + dt.timedelta(days=6), today)
    stall_days = setting("MEDIATION_STALL_DAYS")
    where = scope.condition()

    per_type = db.session.execute(
        sa.select(Case.id, Case.reference, Case.title, Case.region_code, Case.status,
                  Event.type, sa.func.count().label("n"), sa.func.max(Event.at).label("last"))
        .join(Event, Event.case_id == Case.id)
        .where(where, Event.at >= start, Event.at < end)
        .group_by(Case.id, Case.reference, Case.title, Case.region_code, Case.status, Event.type)
        .order_by(Case.id)
    ).all()
    progress: dict[int, dict[str, Any]] = {}
    for row in per_type:
        item = progress.setdefault(row.id, _case_brief(row) | {"events": 0, "types": {}})
        item["events"] += row.n
        item["types"][row.type] = row.n

    stall_cutoff = kpis.end_of(as_of) - dt.timedelta(days=stall_days)
    # Progress is human work: the catalogue says which event types are (a reminder, an
    # escalation, presence in a room or a look at a number is not).
    moved = sa.exists().where(Event.case_id == Case.id, Event.type.in_(progress_types()),
                              Event.at >= stall_cutoff, Event.at < kpis.end_of(as_of))
    stalled_q = sa.select(Case.id, Case.reference, Case.title, Case.region_code, Case.status).where(
        where, Case.status.not_in(OPEN_STATUSES_EXCLUDE), Case.created_at < stall_cutoff, ~moved)
    stalled_total = db.session.execute(
        sa.select(sa.func.count()).select_from(stalled_q.subquery())).scalar_one()
    stalled = [_case_brief(r) for r in db.session.execute(stalled_q.order_by(Case.id).limit(LIST_LIMIT))]

    soon = as_of + dt.timedelta(days=setting("MEDIATION_DUE_SOON_DAYS"))
    # Overdue and due soon by the one definition (mediation.cases.queries.overdue).
    due_q = sa.select(Case).where(where, queries.deadline_by(soon))
    overdue, due_soon, duties_overdue = [], [], []
    limits = current_app.config["MEDIATION_CLOCKS"]
    # Only the listed cases (overdue or close, at most LIST_LIMIT) are read one by one, to
    # name which of their clocks is late; the totals come from the index on next_deadline_on.
    listed = due_q.order_by(Case.next_deadline_on, Case.id).limit(LIST_LIMIT)
    for case in db.session.execute(listed).scalars():
        clocks = rules.statutory_clocks(case, limits, as_of)
        duties = rules.owner_duties(case, limits, as_of)
        late = [c.as_dict() for c in clocks + duties if c.state == "overdue"]
        brief = {"case_id": case.id, "reference": case.reference, "title": case.title,
                 "region_code": case.region_code, "status": case.status,
                 "next_deadline_on": case.next_deadline_on.isoformat()}
        if case.next_deadline_on < as_of:
            overdue.append(brief | {"overdue": late})
        else:
            due_soon.append(brief)
        owner_late = [c for c in duties if c.state == "overdue"]
        if owner_late:
            duties_overdue.append(brief | {"lead_official_id": case.lead_official_id,
                                           "duties": [c.as_dict() for c in owner_late]})
    overdue_total = db.session.execute(sa.select(sa.func.count()).select_from(Case).where(
        where, queries.overdue(as_of))).scalar_one()

    return {
        "week": f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}",
        "from": monday.isoformat(), "to": (monday + dt.timedelta(days=6)).isoformat(),
        "as_of": as_of.isoformat(), "region": scope.region_code, "stall_days": stall_days,
        "progress": list(progress.values()),
        "stalled": {"total": stalled_total, "cases": stalled},
        "overdue": {"total": overdue_total, "cases": overdue},
        "due_soon": due_soon,
        "petitions": petition_counts(scope, monday, monday + dt.timedelta(days=6)),
        "followup_visits_missed": _missed_visits(where, as_of),
        # The case file against its stage's checklist (档案完整), as it stands now.
        "missing_papers": checklist.missing_in(where, LIST_LIMIT),
        # 交办 whose department owes its reply past the due day (mediation/departments/)
        "handovers_overdue": _overdue_handovers(where, as_of),
        # 督办单 not answered past their deadline (mediation/oversight/)
        "orders_overdue": _overdue_orders(where, as_of),
        "signals": {
            "reopened_after_resolution": reopened_signals(scope, start, end),
            "no_meaningful_progress": stalled,
            "owner_duties_overdue": duties_overdue,
        },
    }


def _overdue_handovers(where: Any, as_of: dt.date) -> dict[str, Any]:
    from mediation.departments.commands import overdue_in

    return overdue_in(where, as_of, LIST_LIMIT)


def _overdue_orders(where: Any, as_of: dt.date) -> dict[str, Any]:
    from mediation.oversight.commands import overdue_in

    return overdue_in(where, as_of, LIST_LIMIT)


def _missed_visits(where: Any, as_of: dt.date) -> dict[str, Any]:
    """Follow-up visits (回访) due before the week's last day so far and not made."""
    from mediation.sessions.visits import missed

    total, visits = missed(where, as_of, LIST_LIMIT)
    return {"total": total, "visits": visits}


def reopened_signals(scope: Scope, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Cases reopened in the window within MEDIATION_REOPEN_WINDOW_DAYS of their last
    resolution or closure: possible fake resolution (虚假化解)."""
    window = dt.timedelta(days=setting("MEDIATION_REOPEN_WINDOW_DAYS"))
    done = aliased(Event)
    last_done = (sa.select(sa.func.max(done.at)).where(
        done.case_id == Event.case_id, done.type.in_(kpis.RESOLVED_EVENTS), done.seq < Event.seq)
        .scalar_subquery())
    rows = db.session.execute(
        sa.select(Case.id, Case.reference, Case.title, Case.region_code, Case.status,
                  Event.at.label("reopened_at"), last_done.label("resolved_at"))
        .join(Event, Event.case_id == Case.id)
        .where(scope.condition(), Event.type == "case.reopened", Event.at >= start, Event.at < end)
        .order_by(Event.at).limit(LIST_LIMIT)
    ).all()
    out = []
    for r in rows:  # reopenings in one window: a handful, not every case
        reopened, resolved = _aware(r.reopened_at), _aware(r.resolved_at)
        if resolved is not None and reopened - resolved <= window:
            out.append(_case_brief(r) | {"resolved_at": resolved.isoformat(),
                                         "reopened_at": reopened.isoformat(),
                                         "days_between": (reopened - resolved).days})
    return out


def _aware(moment: dt.datetime | str | None) -> dt.datetime | None:
    """A moment from a raw row (SQLite: ISO text, or naive), aware in UTC."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return clock.as_utc(moment)


# --- petitions: repeats and 越级访 -------------------------------------------------------

PETITION_FIGURES = ("petitions", "persons", "repeat", "skip_level", "group_visits")


def petition_counts(scope: Scope, first: dt.date, last: dt.date, level: str = "county") -> dict[str, Any]:
    """Petitions received from `first` to `last` (their dates, Beijing days) on cases in the
    scope: 件次, 人次, repeat petitions (重复访: any but a case's first), 越级访 (lodged above
    the level responsible) and 集体访, in total, by region (at `level`) and by department.
    Petitions stay counted on the case they came in on, merged away or not: each is one
    petition, never two.

    One scan of the period's petitions and their cases: summed per (region, the case's list
    of departments), a few hundred groups, from which the total, the regions and the
    departments (each entry of the list, as an unnest counts it) are summed again in the
    same statement."""
    kpis.short_query_settings()
    group_visit = sa.and_(Petition.channel == Channel.VISIT.value,
                          Petition.head_count >= GROUP_VISIT_MIN)
    region, _ = kpis.group_key(level)
    depts = sa.cast(Case.departments, sa.Text)
    groups = (sa.select(region.label("key"), depts.label("departments"),
                        sa.func.count().label("petitions"),
                        sa.func.coalesce(sa.func.sum(Petition.head_count), 0).label("persons"),
                        kpis.count_if(Petition.repeat).label("repeat"),
                        kpis.count_if(Petition.skip_level).label("skip_level"),
                        kpis.count_if(group_visit).label("group_visits"))
              .select_from(Petition).join(Case, Case.id == Petition.case_id)
              .where(scope.condition(), Petition.received_on >= first, Petition.received_on <= last)
              .group_by(region, depts).cte("petition_groups"))
    sums = [sa.func.sum(groups.c[f]).label(f) for f in PETITION_FIGURES]
    if db.session.get_bind().dialect.name == "postgresql":
        entries = sa.func.json_array_elements_text(sa.cast(groups.c.departments, sa.JSON))
    else:
        entries = sa.func.json_each(groups.c.departments)
    dept = entries.table_valued("value", joins_implicitly=True).alias("dept")
    kind = sa.literal_column("kind")
    q = sa.union_all(
        sa.select(sa.literal("total").label("kind"), sa.literal("all").label("key"), *sums),
        sa.select(sa.literal("region"), groups.c.key, *sums).group_by(groups.c.key),
        sa.select(sa.literal("department"), dept.c.value, *sums).select_from(groups)
        .join(dept, sa.true()).group_by(dept.c.value),
    ).order_by(kind, sa.literal_column("key"))
    out: dict[str, list[dict[str, Any]]] = {"total": [], "region": [], "department": []}
    for r in db.session.execute(q).mappings():
        if r["kind"] == "total" and r["petitions"] is None:
            continue  # no petitions: the SUM over no groups
        out[r["kind"]].append({"key": str(r["key"]), **{f: int(r[f] or 0) for f in PETITION_FIGURES}})
    for r in out["region"]:
        r["region_code"] = r["key"].ljust(6, "0")
    total = out["total"]
    return {"from": first.isoformat(), "to": last.isoformat(),
            "total": ({k: v for k, v in total[0].items() if k != "key"} if total
                      else dict.fromkeys(PETITION_FIGURES, 0)),
            "by_region": out["region"], "by_department": out["department"]}


# --- monthly ----------------------------------------------------------------------------

def ranked(rows: list[dict[str, Any]], field: str = "rate") -> None:
    """Competition ranking (1, 1, 3) by `field`, highest first; groups without a value
    (no cases) come last and share the last rank."""
    order = sorted(rows, key=lambda r: (r[field] is None, -(r[field] or 0), r["key"]))
    prev, rank = object(), 0
    for i, r in enumerate(order, start=1):
        if r[field] != prev:
            rank, prev = i, r[field]
        r["rank"] = rank
    rows[:] = order


def league(scope: Scope, days: list[dt.date], grouping: str) -> list[list[dict[str, Any]]]:
    """One ranked league table per date, from one scan (kpis.counts_many)."""
    tables = []
    for per_key in kpis.counts_many(scope, days, grouping):
        rows = [{"key": key, "cases": c["cases"], "resolved": c["resolved"],
                 "rate": kpis.rate(c["resolved"], c["cases"]),
                 "satisfaction": kpis.rate(c["satisfied"], c["answers"]), "answers": c["answers"]}
                for key, c in per_key.items()]
        ranked(rows)
        tables.append(rows)
    return tables


def monthly(scope: Scope, month: str, level: str = "county") -> dict[str, Any]:
    """League tables by region (at `level`) and by department, with change since last month."""
    first, last = parse_month(month)
    prev_last = first - dt.timedelta(days=1)
    tables = {}
    for name, grouping in (("regions", level), ("departments", "department")):
        now, before = league(scope, [last, prev_last], grouping)
        before = {r["key"]: r for r in before}
        for r in now:
            p = before.get(r["key"])
            r["previous_rate"] = p["rate"] if p else None
            r["previous_rank"] = p["rank"] if p else None
            r["rate_change"] = (round(r["rate"] - p["rate"], 4)
                                if p and r["rate"] is not None and p["rate"] is not None else None)
            r["rank_change"] = p["rank"] - r["rank"] if p else None  # positive: moved up
            if grouping != "department":
                r["region_code"] = r["key"].ljust(6, "0")
        tables[name] = now
    return {"month": month, "as_of": last.isoformat(), "previous_as_of": prev_last.isoformat(),
            "region": scope.region_code, "level": level,
            "petitions": petition_counts(scope, first, last, level),
            "definitions": [k for k in kpis.definitions()
                            if k["key"] in ("resolution_rate", "satisfaction_rate")],
            **tables}


def monthly_xlsx(report: dict[str, Any]) -> bytes:
    """The bulletin as a workbook: one sheet per league table."""
    from mediation.supervision.excel import workbook_bytes

    head = ["排名 rank", "单位 key", "案件数 cases", "已化解 resolved", "化解率 rate",
            "满意率 satisfaction", "上月化解率 previous rate", "变化 change", "名次变化 rank change"]
    sheets = {}
    for name, title in (("regions", "按地区"), ("departments", "按部门")):
        sheets[title] = [head] + [[r["rank"], r["key"], r["cases"], r["resolved"], r["rate"],
                                   r["satisfaction"], r["previous_rate"], r["rate_change"],
                                   r["rank_change"]] for r in report[name]]
    p = report.get("petitions")
    if p:
        phead = ["单位 key", "件次 petitions", "人次 persons", "重复访 repeat", "越级访 skip-level",
                 "集体访 group visits"]
        for name, title in (("by_region", "信访件·按地区"), ("by_department", "信访件·按部门")):
            sheets[title] = [phead] + [[r["key"], r["petitions"], r["persons"], r["repeat"],
                                        r["skip_level"], r["group_visits"]] for r in p[name]]
    sheets["说明"] = [["月份", report["month"]], ["统计截止", report["as_of"]]] + [
        [d["name_zh"], f"分子: {d['numerator']}; 分母: {d['denominator']}; 口径日期: {d['measured_on']}"]
        for d in report["definitions"]]
    return workbook_bytes(sheets)


# --- quarterly --------------------------------------------------------------------------

CHECKS = ("responsibility_in_place", "truly_resolved", "procedure_regular", "file_complete")
# Score = 100 - deduction points - FAILED_CHECK_POINTS per failed check - LATE_RECTIFICATION_
# POINTS per rectification not done by its deadline. Written here so the bulletin can say so.
BASE_SCORE = 100.0
FAILED_CHECK_POINTS = 1.0
LATE_RECTIFICATION_POINTS = 2.0


def quarterly(scope: Scope, quarter: str, level: str, today: dt.date) -> dict[str, Any]:
    """Inspections, deductions, rectifications of the quarter and a score per unit."""
    first, last = parse_quarter(quarter)
    where = scope.condition()
    inspections = db.session.execute(
        sa.select(Inspection, Case.reference, Case.region_code).join(Case, Case.id == Inspection.case_id)
        .where(where, Inspection.inspected_on >= first, Inspection.inspected_on <= last)
        .order_by(Inspection.inspected_on, Inspection.id)).all()
    deductions = db.session.execute(
        sa.select(Deduction, Case.reference, Case.region_code).join(Case, Case.id == Deduction.case_id)
        .where(where, Deduction.decided_on >= first, Deduction.decided_on <= last)
        .order_by(Deduction.decided_on, Deduction.id)).all()
    rects = db.session.execute(
        sa.select(Rectification, Case.reference, Case.region_code)
        .join(Case, Case.id == Rectification.case_id)
        .where(where, Rectification.due_on >= first, Rectification.due_on <= last)
        .order_by(Rectification.due_on, Rectification.id)).all()
    return {
        "quarter": quarter, "from": first.isoformat(), "to": last.isoformat(),
        "region": scope.region_code, "level": level,
        "scoring": {"base": BASE_SCORE, "per_failed_check": FAILED_CHECK_POINTS,
                    "per_late_rectification": LATE_RECTIFICATION_POINTS,
                    "per_warning_talk": accountability.WARNING_TALK_POINTS,
                    "per_accountability": accountability.ACCOUNTABILITY_POINTS,
                    "rule": "base - deduction points - failed checks x per_failed_check "
                            "- rectifications not done by their deadline x per_late_rectification "
                            "- warning talks (约谈提醒) x per_warning_talk "
                            "- accountability records (问责) x per_accountability"},
        "inspections": [inspection_view(i) | {"reference": ref, "region_code": rc}
                        for i, ref, rc in inspections],
        "deductions": [deduction_view(d) | {"reference": ref, "region_code": rc}
                       for d, ref, rc in deductions],
        "rectifications": [rectification_view(r, today) | {"reference": ref, "region_code": rc}
                           for r, ref, rc in rects],
        "accountability": accountability.listed(scope.prefix, first, last),
        "scores": {"regions": scores(scope, first, last, level, today),
                   "departments": scores(scope, first, last, "department", today)},
    }


def scores(scope: Scope, first: dt.date, last: dt.date, grouping: str, today: dt.date) -> list[dict]:
    """A score per region or department: three GROUP BY queries combined by key."""
    key, tv = kpis.group_key(grouping)

    def grouped(table, cols, *conds):
        q = sa.select(key.label("key"), *cols).select_from(Case).join(table, table.case_id == Case.id)
        if tv is not None:
            q = q.join(tv, sa.true())
        return db.session.execute(q.where(scope.condition(), *conds).group_by(key)).mappings()

    failed = sum(sa.case((getattr(Inspection, c).is_(False), 1), else_=0) for c in CHECKS)
    rows: dict[str, dict[str, Any]] = {}

    def row(k):
        return rows.setdefault(str(k), {"key": str(k), "inspections": 0, "failed_checks": 0,
                                        "deduction_points": 0.0, "rectifications": 0,
                                        "late_rectifications": 0})

    for r in grouped(Inspection, [sa.func.count().label("n"), sa.func.sum(failed).label("failed")],
                     Inspection.inspected_on >= first, Inspection.inspected_on <= last):
        row(r["key"]).update(inspections=int(r["n"]), failed_checks=int(r["failed"] or 0))
    for r in grouped(Deduction, [sa.func.sum(Deduction.points).label("pts")],
                     Deduction.decided_on >= first, Deduction.decided_on <= last):
        row(r["key"])["deduction_points"] = float(r["pts"] or 0)
    cutoff = min(today, last)
    late = sa.or_(sa.and_(Rectification.done_on.is_(None), Rectification.due_on < cutoff),
                  Rectification.done_on > Rectification.due_on)
    for r in grouped(Rectification, [sa.func.count().label("n"), kpis.count_if(late).label("late")],
                     Rectification.due_on >= first, Rectification.due_on <= last):
        row(r["key"]).update(rectifications=int(r["n"]), late_rectifications=int(r["late"]))
    # 约谈提醒 and 问责 against the unit in the quarter (mediation/oversight)
    for k, n in accountability.counts(scope.prefix, first, last, grouping).items():
        row(k).update(n)
    out = list(rows.values())
    for r in out:
        r.setdefault("warning_talks", 0)
        r.setdefault("accountabilities", 0)
        r["score"] = round(BASE_SCORE - r["deduction_points"] - FAILED_CHECK_POINTS * r["failed_checks"]
                           - LATE_RECTIFICATION_POINTS * r["late_rectifications"]
                           - accountability.points(r), 2)
        if grouping != "department":
            r["region_code"] = r["key"].ljust(6, "0")
    ranked(out, "score")
    return out


def inspection_view(i: Inspection) -> dict[str, Any]:
    return {"id": i.id, "case_id": i.case_id, "inspected_on": i.inspected_on.isoformat(),
            **{c: getattr(i, c) for c in CHECKS}, "passed": all(getattr(i, c) for c in CHECKS),
            "findings": i.findings, "inspector_id": i.inspector_id}


def deduction_view(d: Deduction) -> dict[str, Any]:
    return {"id": d.id, "case_id": d.case_id, "inspection_id": d.inspection_id, "kind": d.kind,
            "points": float(d.points), "reason": d.reason, "decided_on": d.decided_on.isoformat()}


def rectification_view(r: Rectification, today: dt.date) -> dict[str, Any]:
    state = ("done" if r.done_on and r.done_on <= r.due_on else "done_late" if r.done_on
             else "overdue" if r.due_on < today else "open")
    return {"id": r.id, "case_id": r.case_id, "deduction_id": r.deduction_id,
            "inspection_id": r.inspection_id, "requirement": r.requirement,
            "due_on": r.due_on.isoformat(), "done_on": r.done_on.isoformat() if r.done_on else None,
            "done_note": r.done_note, "state": state}

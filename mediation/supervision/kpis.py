"""The plan's figures, each defined once here (numerator, denominator, date measured on)
and computed by SQL aggregates (GROUP BY), never by a loop over cases.

"As of D" means at the end of day D (the service's day, MEDIATION_TIMEZONE). A case is in
the action (纳入专项行动) on D when it was listed by an explicit decision (the ledger import,
an intake that says so, an officer's listing: `cases.action_listed_on`, the ledger's date,
not the row's insert time) on or before D, and — a case with no category (category_mask 0)
— only with the officer's reason (`action_reason`). Cases listed on or before
MEDIATION_ACTION_BACKLOG_UNTIL are the action's backlog (存量), later ones its increment
(增量): every figure is also given for each (`segments`). A case counts as resolved if its
status at that moment was resolved
or closed. The status at D comes from `Case.status` when its last change
(`status_changed_at`) was before the end of D, and otherwise from the timeline: the last
`case.resolved`/`case.closed` before then with no `case.reopened` after it. A case
merged into another (`case.merged`) leaves the action from the end of the day of the merge:
it is counted neither in a denominator nor in a numerator after that (the survivor carries
the matter); a repeat petition linked to a case adds to its 件次, never a case. Likewise a
case has ceased petitioning (息诉罢访) at D when its last `case.petitioning_ceased` /
`case.petitioning_resumed` event before the end of D is a cessation; a case with no such
event at all (the flag set by hand at intake or in an edit) counts by its current flag.

The reports read these figures from the rollup (`rollup.py`: each case's steps derived from
these definitions in SQL, summed per day, month, region and department, kept exact in the
same transaction as every write): "as of D" is a SUM over a small table. `counts_many_live`
computes the same numbers from the base tables (the reference the tests hold the rollup to).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from mediation import clock
from mediation.cases.models import Assessment, Case, CaseFlag
from mediation.extensions import db
from mediation.supervision import rollup
from mediation.supervision.models import SurveyAnswer
from mediation.supervision.scope import Scope
from mediation.timeline import Event

# Defined in rollup.py (which derives the steps from them in SQL) and used here alike.
RESOLVED_STATUSES = rollup.RESOLVED_STATUSES
RESOLVED_EVENTS = rollup.RESOLVED_EVENTS
CEASED_EVENT, RESUMED_EVENT = rollup.CEASED_EVENT, rollup.RESUMED_EVENT
SATISFIED_MIN_RATING = rollup.SATISFIED_MIN_RATING
GROUPINGS = ("province", "city", "county", "department")
PREFIX_LEN = {"province": 2, "city": 4, "county": 6}


@dataclass(frozen=True)
class Kpi:
    key: str
    name_zh: str
    name: str
    numerator: str
    denominator: str
    measured_on: str
    target: float | None


MEASURED = ("the end of the requested date (a day in the service's time zone, Beijing time by "
            "default); today when no date is given")
KPIS: tuple[Kpi, ...] = (
    Kpi("resolution_rate", "积案化解率", "resolution rate",
        "cases whose status at the end of the date was resolved or closed",
        "cases in the action: listed (纳入专项行动: the ledger import, an intake or an officer's "
        "decision) with a list date on or before the date, categorised or listed with the "
        "officer's reason, and not merged into another by the end of the date (a merged case "
        "is not a second case; a repeat petition linked to a case adds a petition, never a case)",
        MEASURED, 0.98),
    Kpi("reasonable_demand_resolution_rate", "群众合理诉求解决率",
        "resolution rate of reasonable demands",
        "cases assessed reasonable (合理且有政策依据) whose status at the end of the date was "
        "resolved or closed",
        "cases in the action (merged-away cases excluded) assessed reasonable "
        "(assessment = reasonable)",
        MEASURED + "; the assessment is the current one", 1.00),
    Kpi("ceased_petitioning_rate", "息诉罢访率", "rate of ceasing to petition",
        "cases in the action that had ceased petitioning (已息诉罢访) at the end of the date: "
        "their last case.petitioning_ceased or case.petitioning_resumed event by then is a "
        "cessation (cases with no such event: the petitioning_ceased flag set by hand)",
        "cases in the action",
        MEASURED + "; cessations and new petitions are dated by their timeline events", 0.95),
    Kpi("satisfaction_rate", "群众满意率", "satisfaction",
        f"survey answers rating {SATISFIED_MIN_RATING} or 5 (满意、非常满意) received by the end "
        "of the date",
        "survey answers received by the end of the date for cases in the action (an answer "
        "counts from the day its case was listed)",
        MEASURED, None),
)
KPI_KEYS = tuple(k.key for k in KPIS)


def definitions() -> list[dict[str, Any]]:
    return [asdict(k) for k in KPIS]


def end_of(day: dt.date) -> dt.datetime:
    """The end of the service's day `day` (MEDIATION_TIMEZONE), in UTC."""
    return clock.day_end(day)


def resolved_as_of(cutoff: dt.datetime):
    """SQL: was the case resolved or closed at `cutoff`? (see the module docstring)"""
    done, reopen = aliased(Event), aliased(Event)
    reopened_later = sa.exists().where(reopen.case_id == done.case_id, reopen.type == rollup.REOPENED_EVENT,
                                       reopen.seq > done.seq, reopen.at < cutoff)
    from_events = sa.exists().where(done.case_id == Case.id, done.type.in_(RESOLVED_EVENTS),
                                    done.at < cutoff, ~reopened_later)
    return sa.case((Case.status_changed_at < cutoff, Case.status.in_(RESOLVED_STATUSES)),
                   else_=from_events)


def ceased_as_of(cutoff: dt.datetime):
    """SQL: had the case ceased petitioning at `cutoff`? The last cessation or resumption
    event before then decides; with none ever recorded, the hand-set flag does."""
    ceased, resumed, anything = aliased(Event), aliased(Event), aliased(Event)
    resumed_later = sa.exists().where(resumed.case_id == ceased.case_id, resumed.type == RESUMED_EVENT,
                                      resumed.seq > ceased.seq, resumed.at < cutoff)
    from_events = sa.exists().where(ceased.case_id == Case.id, ceased.type == CEASED_EVENT,
                                    ceased.at < cutoff, ~resumed_later)
    dated = sa.exists().where(anything.case_id == Case.id,
                              anything.type.in_((CEASED_EVENT, RESUMED_EVENT)))
    return sa.case((dated, from_events), else_=flag_set(CaseFlag.PETITIONING_CEASED))


def merged_as_of(cutoff: dt.datetime):
    """SQL: had the case been merged into another by `cutoff`? (it then leaves the action)"""
    merged = aliased(Event)
    return sa.exists().where(merged.case_id == Case.id, merged.type == rollup.MERGED_EVENT,
                             merged.at < cutoff)


def flag_set(flag: CaseFlag):
    """SQL: the JSON list of flags holds `flag` (text match works on SQLite and PostgreSQL)."""
    return sa.cast(Case.flags, sa.Text).like(f'%"{flag.value}"%')


def count_if(cond) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def group_key(grouping: str | None):
    """(key expression, extra FROM item) for a grouping; department unnests the JSON list."""
    if grouping is None:
        return sa.literal("all"), None
    if grouping in PREFIX_LEN:
        return sa.func.substr(Case.region_code, 1, PREFIX_LEN[grouping]), None
    if grouping == "department":
        fn = (sa.func.json_array_elements_text if db.engine.dialect.name == "postgresql"
              else sa.func.json_each)
        tv = fn(Case.departments).table_valued("value", joins_implicitly=True).alias("dept")
        return tv.c.value, tv
    raise ValueError(f"grouping must be one of {GROUPINGS}")


def _grouped(select_cols, grouping: str | None, where, join_answers: bool = False):
    key, tv = group_key(grouping)
    q = sa.select(key.label("key"), *select_cols).select_from(Case)
    if join_answers:
        q = q.join(SurveyAnswer, SurveyAnswer.case_id == Case.id)
    if tv is not None:
        q = q.join(tv, sa.true())
    return q.where(*where).group_by(key)


def short_query_settings() -> None:
    """PostgreSQL's JIT compiles these aggregates for ~0.3 s whatever the table size (the
    correlated EXISTS inflate the cost estimate past jit_above_cost) while they run in tens
    of milliseconds: turn it off for the rest of this transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL jit = off"))


@contextlib.contextmanager
def serial_reads() -> Iterator[None]:
    """The rollup reads sum a few thousand rows: PostgreSQL's parallel workers cost more to
    start than they save (and on a busy machine they wait for a core), so these statements
    run in the backend alone; the setting is back to the server's for the rest of the
    transaction."""
    pg = db.session.get_bind().dialect.name == "postgresql"
    if pg:
        db.session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
    try:
        yield
    finally:
        if pg:
            db.session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather TO DEFAULT"))


SEGMENTS = ("stock", "increment")


def counted() -> Any:
    """SQL: the case is counted in the action once listed (see the module docstring): listed
    (纳入专项行动), and categorised or included by an officer with a reason."""
    return sa.and_(Case.action_listed_on.is_not(None),
                   sa.or_(Case.category_mask != 0, sa.func.coalesce(Case.action_reason, "") != ""))


def in_segment(segment: str | None) -> Any:
    """SQL: the case's listing falls in the segment (存量 stock: listed by
    MEDIATION_ACTION_BACKLOG_UNTIL; 增量 increment: later); None: both."""
    if segment is None:
        return sa.true()
    if segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {SEGMENTS}")
    later = Case.action_listed_on > rollup.backlog_until()
    return later if segment == "increment" else ~later


def counts(scope: Scope, day: dt.date, grouping: str | None = None,
           segment: str | None = None) -> dict[str, dict[str, int]]:
    """Numerators and denominators of every KPI per group key, as of the end of `day`."""
    return counts_many(scope, [day], grouping, segment)[0]


def counts_many(scope: Scope, days: list[dt.date], grouping: str | None = None,
                segment: str | None = None) -> list[dict[str, dict]]:
    """`counts` for several dates in one scan of the rollup (the bulletin wants this month
    and last): for each date, the month rows of the months before its month plus the day
    rows of its month up to it, as conditional sums over the same rows (of the rollup and
    of the deltas not yet folded into it, read together in one statement)."""
    r = rollup.rollup_rows().c
    if grouping is None:
        key = sa.literal("all")
    elif grouping in PREFIX_LEN:
        key = sa.func.substr(r.region_code, 1, PREFIX_LEN[grouping])
    elif grouping == "department":
        key = r.department
    else:
        raise ValueError(f"grouping must be one of {GROUPINGS}")
    dept = grouping == "department"
    dim, new_dim = ((rollup.DEPT_DIM, rollup.NEW_DEPT_DIM) if dept
                    else (rollup.CASE_DIM, rollup.NEW_CASE_DIM))
    # increment: its own rows; stock: all rows minus the increment's.
    dims = {None: {dim: 1}, "increment": {new_dim: 1}, "stock": {dim: 1, new_dim: -1}}[segment]
    sign = sa.case(*((r.dim == d, k) for d, k in dims.items()), else_=0)

    def window(day: dt.date):
        first = day.replace(day=1)
        return sa.or_(sa.and_(r.grain == rollup.MONTH, r.day < first),
                      sa.and_(r.grain == rollup.DAY, r.day >= first, r.day <= day))

    cols = [sa.func.coalesce(sa.func.sum(sa.case((window(day), sign * getattr(r, m)), else_=0)), 0)
            .label(f"{m}_{i}") for i, day in enumerate(days) for m in rollup.METRICS]
    region = (r.region_code.startswith(scope.prefix, autoescape=True) if scope.prefix else sa.true())
    q = (sa.select(key.label("key"), *cols)
         .where(r.dim.in_(list(dims)), region, sa.or_(*(window(day) for day in days))).group_by(key))
    out: list[dict[str, dict[str, int]]] = [{} for _ in days]
    with serial_reads():
        rows = db.session.execute(q).mappings().all()
    for row in rows:
        for i in range(len(days)):
            if row[f"cases_{i}"]:
                out[i][str(row["key"])] = {m: int(row[f"{m}_{i}"]) for m in rollup.METRICS}
    return out


def counts_by_segment(scope: Scope, day: dt.date) -> dict[str | None, dict[str, int]]:
    """The scope's counts as of `day` for the whole action (key None) and each of its
    segments, in one read of the rollup: the whole action's rows and the increment's are
    summed side by side, the backlog is their difference (as `counts_many` takes it). A
    part with no case in it is EMPTY, as `counts` leaves such a group out."""
    r = rollup.rollup_rows().c
    first = day.replace(day=1)
    window = sa.or_(sa.and_(r.grain == rollup.MONTH, r.day < first),
                    sa.and_(r.grain == rollup.DAY, r.day >= first, r.day <= day))
    dims = {"all": rollup.CASE_DIM, "increment": rollup.NEW_CASE_DIM}
    cols = [sa.func.coalesce(sa.func.sum(sa.case((r.dim == dim, getattr(r, m)), else_=0)), 0)
            .label(f"{m}_{part}") for part, dim in dims.items() for m in rollup.METRICS]
    region = (r.region_code.startswith(scope.prefix, autoescape=True) if scope.prefix else sa.true())
    q = sa.select(*cols).where(r.dim.in_(list(dims.values())), region, window)
    with serial_reads():
        row = db.session.execute(q).mappings().one()
    whole = {m: int(row[f"{m}_all"]) for m in rollup.METRICS}
    increment = {m: int(row[f"{m}_increment"]) for m in rollup.METRICS}
    stock = {m: whole[m] - increment[m] for m in rollup.METRICS}
    return {part: (c if c["cases"] else dict(EMPTY))
            for part, c in ((None, whole), ("stock", stock), ("increment", increment))}


def counts_many_live(scope: Scope, days: list[dt.date], grouping: str | None = None,
                     segment: str | None = None) -> list[dict[str, dict]]:
    """The same numbers as `counts_many`, from the base tables by the definitions above (one
    scan of the cases with correlated EXISTS over the timeline: seconds on a large ledger).
    The reference that the rollup is held to by the tests and `mediation reports check`."""
    short_query_settings()
    reasonable = Case.assessment == Assessment.REASONABLE.value
    cols, answer_cols = [], []
    for i, day in enumerate(days):
        cutoff = end_of(day)
        created = Case.action_listed_on <= day
        in_action = sa.and_(created, ~merged_as_of(cutoff))
        resolved = sa.and_(in_action, resolved_as_of(cutoff))
        ceased = ceased_as_of(cutoff)
        cols += [count_if(in_action).label(f"cases_{i}"),
                 count_if(resolved).label(f"resolved_{i}"),
                 count_if(sa.and_(in_action, reasonable)).label(f"reasonable_{i}"),
                 count_if(sa.and_(reasonable, resolved)).label(f"reasonable_resolved_{i}"),
                 count_if(sa.and_(in_action, ceased)).label(f"ceased_{i}")]
        # Survey answers stay with the case they were given on, merged or not.
        answered = sa.and_(created, SurveyAnswer.answered_at < cutoff)
        answer_cols += [count_if(answered).label(f"answers_{i}"),
                        count_if(sa.and_(answered, SurveyAnswer.rating >= SATISFIED_MIN_RATING))
                        .label(f"satisfied_{i}")]
    latest = end_of(max(days))
    where = [scope.condition(), counted(), in_segment(segment), Case.action_listed_on <= max(days)]
    out: list[dict[str, dict[str, int]]] = [{} for _ in days]
    for row in db.session.execute(_grouped(cols, grouping, where)).mappings():
        for i in range(len(days)):
            if row[f"cases_{i}"]:
                out[i][str(row["key"])] = {k: int(row[f"{k}_{i}"]) for k in (
                    "cases", "resolved", "reasonable", "reasonable_resolved", "ceased")} | {
                    "answers": 0, "satisfied": 0}
    answers = _grouped(answer_cols, grouping, [*where, SurveyAnswer.answered_at < latest],
                       join_answers=True)
    for row in db.session.execute(answers).mappings():
        for i in range(len(days)):
            key = str(row["key"])
            if key in out[i]:
                out[i][key]["answers"] = int(row[f"answers_{i}"])
                out[i][key]["satisfied"] = int(row[f"satisfied_{i}"])
    return out


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def figures(c: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each KPI's numerator, denominator, value and target from one group's counts."""
    pairs = {
        "resolution_rate": (c["resolved"], c["cases"]),
        "reasonable_demand_resolution_rate": (c["reasonable_resolved"], c["reasonable"]),
        "ceased_petitioning_rate": (c["ceased"], c["cases"]),
        "satisfaction_rate": (c["satisfied"], c["answers"]),
    }
    out = {}
    for k in KPIS:
        num, den = pairs[k.key]
        value = rate(num, den)
        out[k.key] = {"numerator": num, "denominator": den, "value": value, "target": k.target,
                      "met": None if value is None or k.target is None else value >= k.target}
    return out


EMPTY = {"cases": 0, "resolved": 0, "reasonable": 0, "reasonable_resolved": 0, "ceased": 0,
         "answers": 0, "satisfied": 0}


def report(scope: Scope, day: dt.date, grouping: str | None = None) -> dict[str, Any]:
    """The KPI report: definitions, the figures for the scope, and per group if asked."""
    parts = counts_by_segment(scope, day)
    overall = parts[None]
    body: dict[str, Any] = {
        "as_of": day.isoformat(), "region": scope.region_code, "definitions": definitions(),
        "cases": overall["cases"], "kpis": figures(overall), "level": grouping, "groups": [],
        "backlog_until": rollup.backlog_until().isoformat(), "segments": {},
    }
    for segment in SEGMENTS:  # 存量 and 增量: the same figures for each part of the action
        part = parts[segment]
        body["segments"][segment] = {"cases": part["cases"], "kpis": figures(part)}
    if grouping:
        for key, c in sorted(counts(scope, day, grouping).items()):
            row: dict[str, Any] = {"key": key, "cases": c["cases"], "kpis": figures(c)}
            if grouping in PREFIX_LEN:
                row["region_code"] = key.ljust(6, "0")
            body["groups"].append(row)
    return body

"""The plan's figures, each defined once here (numerator, denominator, date measured on)
and computed by SQL aggregates (GROUP BY), never by a loop over cases.

"As of D" means at the end of day D (UTC): a case counts if it was in the ledger by then,
and as resolved if its status at that moment was resolved or closed. The status at D comes
from `Case.status` when its last change (`status_changed_at`) was before the end of D, and
otherwise from the timeline: the last `case.resolved`/`case.closed` before then with no
`case.reopened` after it. Likewise a case has ceased petitioning (息诉罢访) at D when its last
`case.petitioning_ceased` / `case.petitioning_resumed` event before the end of D is a
cessation; a case with no such event at all (the flag set by hand at intake or in an edit)
counts by its current flag.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from mediation.cases.models import Assessment, Case, CaseFlag, Status
from mediation.extensions import db
from mediation.supervision.models import SurveyAnswer
from mediation.supervision.scope import Scope
from mediation.timeline import Event

RESOLVED_STATUSES = (Status.RESOLVED.value, Status.CLOSED.value)
RESOLVED_EVENTS = ("case.resolved", "case.closed")
CEASED_EVENT, RESUMED_EVENT = "case.petitioning_ceased", "case.petitioning_resumed"
SATISFIED_MIN_RATING = 4  # 4 满意 and 5 非常满意 out of 1..5
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


MEASURED = "the end of the requested date (UTC); today when no date is given"
KPIS: tuple[Kpi, ...] = (
    Kpi("resolution_rate", "积案化解率", "resolution rate",
        "cases whose status at the end of the date was resolved or closed",
        "cases in the action: cases in the ledger (created) by the end of the date",
        MEASURED, 0.98),
    Kpi("reasonable_demand_resolution_rate", "群众合理诉求解决率",
        "resolution rate of reasonable demands",
        "cases assessed reasonable (合理且有政策依据) whose status at the end of the date was "
        "resolved or closed",
        "cases in the action assessed reasonable (assessment = reasonable)",
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
        "survey answers received by the end of the date for cases in the action",
        MEASURED, None),
)
KPI_KEYS = tuple(k.key for k in KPIS)


def definitions() -> list[dict[str, Any]]:
    return [asdict(k) for k in KPIS]


def end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def resolved_as_of(cutoff: dt.datetime):
    """SQL: was the case resolved or closed at `cutoff`? (see the module docstring)"""
    done, reopen = aliased(Event), aliased(Event)
    reopened_later = sa.exists().where(reopen.case_id == done.case_id, reopen.type == "case.reopened",
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


def counts(scope: Scope, day: dt.date, grouping: str | None = None) -> dict[str, dict[str, int]]:
    """Numerators and denominators of every KPI per group key, as of the end of `day`."""
    return counts_many(scope, [day], grouping)[0]


def counts_many(scope: Scope, days: list[dt.date], grouping: str | None = None) -> list[dict[str, dict]]:
    """`counts` for several dates in one scan of the cases (the bulletin wants this month
    and last): each date's counts are conditional aggregates over the same rows."""
    short_query_settings()
    reasonable = Case.assessment == Assessment.REASONABLE.value
    cols, answer_cols = [], []
    for i, day in enumerate(days):
        cutoff = end_of(day)
        in_action = Case.created_at < cutoff
        resolved = sa.and_(in_action, resolved_as_of(cutoff))
        ceased = ceased_as_of(cutoff)
        cols += [count_if(in_action).label(f"cases_{i}"),
                 count_if(resolved).label(f"resolved_{i}"),
                 count_if(sa.and_(in_action, reasonable)).label(f"reasonable_{i}"),
                 count_if(sa.and_(reasonable, resolved)).label(f"reasonable_resolved_{i}"),
                 count_if(sa.and_(in_action, ceased)).label(f"ceased_{i}")]
        answered = sa.and_(in_action, SurveyAnswer.answered_at < cutoff)
        answer_cols += [count_if(answered).label(f"answers_{i}"),
                        count_if(sa.and_(answered, SurveyAnswer.rating >= SATISFIED_MIN_RATING))
                        .label(f"satisfied_{i}")]
    latest = end_of(max(days))
    where = [scope.condition(), Case.created_at < latest]
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
    overall = counts(scope, day).get("all", dict(EMPTY))
    body: dict[str, Any] = {
        "as_of": day.isoformat(), "region": scope.region_code, "definitions": definitions(),
        "cases": overall["cases"], "kpis": figures(overall), "level": grouping, "groups": [],
    }
    if grouping:
        for key, c in sorted(counts(scope, day, grouping).items()):
            row: dict[str, Any] = {"key": key, "cases": c["cases"], "kpis": figures(c)}
            if grouping in PREFIX_LEN:
                row["region_code"] = key.ljust(6, "0")
            body["groups"].append(row)
    return body

"""Which cases a list shows: one filter, used by the API's case list and the officer's board."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from mediation import audit
from mediation.cases import rules
from mediation.cases.models import Case, Petitioner
from mediation.clock import today
from mediation.extensions import db
from mediation.permissions import Action, can, visible_cases_filter
from mediation.pii import ID_NUMBER_RE, PHONE_RE, cipher
from mediation.regions import normalize_region, region_prefix
from mediation.users import User

# The columns a list sorts by: `sort=<key>` ascending, `sort=-<key>` descending. Every order
# ends with the case id (descending), so equal keys keep one order from page to page; cases
# without a value (no deadline, no owner) come last either way. The keys a busy office sorts
# on are indexed (reference, status, category, deadline, received, updated; owner through
# its indexed foreign key).
SORT_KEYS = ("reference", "title", "status", "category", "owner", "deadline", "received",
             "region", "updated", "id")
_STATUS_ORDER = ("intake", "in_progress", "agreement_reached", "resolved", "closed", "reopened")


def _sort_column(key: str, query: sa.Select) -> tuple[sa.Select, Any]:
    if key == "owner":
        owner = aliased(User)
        query = query.outerjoin(owner, owner.id == Case.lead_official_id)
        return query, sa.func.coalesce(owner.display_name, owner.username)
    column = {
        "reference": Case.reference, "title": Case.title, "category": Case.category_mask,
        "deadline": Case.next_deadline_on, "received": Case.received_on,
        "region": Case.region_code, "updated": Case.updated_at, "id": Case.id,
        "status": sa.case({s: i for i, s in enumerate(_STATUS_ORDER)}, value=Case.status, else_=99),
    }[key]
    return query, column


def sorted_cases(query: sa.Select, sort: str) -> sa.Select:
    """The query in the order `sort` names (see SORT_KEYS), stable across pages."""
    key = sort.lstrip("-")
    query, column = _sort_column(key, query)
    ordered = column.desc() if sort.startswith("-") else column.asc()
    if key == "id":
        return query.order_by(ordered)
    return query.order_by(column.is_(None), ordered, Case.id.desc())


def page_of(query: sa.Select, page: int, size: int, clamp: bool = True) -> tuple[list[Case], int, int]:
    """One page of the (sorted) query, the total and the page shown: with `clamp` (the
    board) a page past the end shows the last one; the API answers it with no items."""
    total = db.session.execute(sa.select(sa.func.count()).select_from(
        query.order_by(None).subquery())).scalar_one()
    if clamp:
        page = min(page, max(1, -(-total // size)))
    rows = list(db.session.execute(query.offset((page - 1) * size).limit(size)).scalars())
    return rows, total, page


def filtered_cases(user: User, args: dict[str, Any]) -> sa.Select:
    """SELECT of the cases the user may see, narrowed by the list filters in `args`:
    status, category (1-6), region (GB/T 2260 prefix), owner (lead official id),
    overdue (a clock or duty past due), q (see `text_match`)."""
    query = sa.select(Case).where(visible_cases_filter(user))
    if args.get("status"):
        query = query.where(Case.status == args["status"])
    if args.get("category"):
        bit = 1 << (args["category"] - 1)
        query = query.where(Case.category_mask.op("&")(bit) != 0)
    if args.get("region"):
        prefix = region_prefix(normalize_region(args["region"]))
        query = query.where(Case.region_code.startswith(prefix, autoescape=True))
    if args.get("owner"):
        query = query.where(Case.lead_official_id == args["owner"])
    if args.get("overdue") is not None:
        query = query.where(overdue() if args["overdue"] else not_overdue())
    if args.get("q"):
        query = query.where(search_condition(user, args["q"]))
    return query


def search_condition(user: User, q: str):
    """SQL for the search box: a number (identity or phone) as one term, else every word
    of `q` must match (see `text_match`), so "张三 物业" finds 张三's property case."""
    q = q.strip()
    if number_kind(q):
        return text_match(user, q)
    terms = q.split()[:5]
    return sa.and_(*[text_match(user, t) for t in terms]) if len(terms) > 1 else text_match(user, q)


def deadline_by(day: dt.date) -> Any:
    """SQL: the case has an open deadline (a running duty clock or owner duty) due on or
    before `day`. A concluded case (resolved, closed) has none: its clocks ended with it."""
    return sa.and_(Case.next_deadline_on <= day, Case.status.not_in(rules.CONCLUDED))


def overdue(day: dt.date | None = None) -> Any:
    """SQL: THE definition of overdue (rules.is_overdue in SQL): an open deadline due before
    `day` (default: today, the service's day) on a case not concluded. The board's filter,
    `GET /api/cases?overdue=`, the weekly report and the reminders all use it."""
    return sa.and_(Case.next_deadline_on < (day or today()), Case.status.not_in(rules.CONCLUDED))


def not_overdue(day: dt.date | None = None) -> Any:
    """SQL: the complement of `overdue` (no deadline counts as not overdue)."""
    return sa.or_(Case.next_deadline_on.is_(None), Case.next_deadline_on >= (day or today()),
                  Case.status.in_(rules.CONCLUDED))


def number_kind(q: str) -> str | None:
    """"id_number" or "phone" when the text is shaped like one, else None."""
    compact = re.sub(r"[\s\-]", "", q)
    if ID_NUMBER_RE.match(compact):
        return "id_number"
    if PHONE_RE.match(compact):
        return "phone"
    return None


def _unit_contains(q: str):
    """SQL: one of the case's respondent units (a JSON list) contains `q`. The list's
    elements are read as text: the stored JSON escapes non-ASCII characters."""
    fn = (sa.func.json_array_elements_text if db.session.get_bind().dialect.name == "postgresql"
          else sa.func.json_each)
    unit = fn(Case.departments).table_valued("value", joins_implicitly=True).alias("unit")
    return sa.exists(sa.select(1).select_from(unit).where(unit.c.value.icontains(q, autoescape=True)))


def text_match(user: User, q: str):
    """SQL: the case's title, summary or reference contains `q` (letters in any case), or
    one of its petitioners' names, or one of its respondent units (the JSON list's text).
    A number is looked up through the blind index only for the roles that may search by
    number (the same rule as the search by number: on cases they may reveal on, throttled
    and recorded); for others it matches as text alone."""
    name = sa.select(Petitioner.id).where(Petitioner.case_id == Case.id,
                                          Petitioner.name.icontains(q, autoescape=True))
    conditions = [Case.title.icontains(q, autoescape=True),
                  Case.summary.icontains(q, autoescape=True),
                  Case.reference.icontains(q, autoescape=True),
                  _unit_contains(q),
                  sa.exists(name)]
    kind = number_kind(q)
    if kind and can(user, Action.PII_SEARCH):
        audit.search_allowed(user.id, kind, "case list search (q)")
        column = Petitioner.id_number_index if kind == "id_number" else Petitioner.phone_index
        indexes = cipher().blind_indexes(kind, q)
        found = db.session.execute(
            sa.select(sa.func.count(sa.distinct(Petitioner.case_id))).join(Case)
            .where(column.in_(indexes), visible_cases_filter(user))).scalar_one()
        audit.record_search(user.id, kind, "case list search (q)", found)
        # The search is recorded on its own, whatever becomes of the listing that asked.
        db.session.commit()
        conditions.append(sa.exists(sa.select(Petitioner.id).where(
            Petitioner.case_id == Case.id, column.in_(indexes))))
    return sa.or_(*conditions)

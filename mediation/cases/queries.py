"""Which cases a list shows: one filter, used by the API's case list and the officer's board."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mediation.cases.models import Case
from mediation.clock import today
from mediation.permissions import visible_cases_filter
from mediation.regions import normalize_region, region_prefix
from mediation.users import User


def filtered_cases(user: User, args: dict[str, Any]) -> sa.Select:
    """SELECT of the cases the user may see, narrowed by the list filters in `args`:
    status, category (1-6), region (GB/T 2260 prefix), owner (lead official id),
    overdue (a clock or duty past due), q (text in title or summary)."""
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
        late = Case.next_deadline_on < today()
        query = query.where(late if args["overdue"] else sa.or_(Case.next_deadline_on.is_(None), ~late))
    if args.get("q"):
        query = query.where(sa.or_(Case.title.contains(args["q"], autoescape=True),
                                   Case.summary.contains(args["q"], autoescape=True)))
    return query

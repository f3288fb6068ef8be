"""A provider's record (我的办案记录): every referral its providers were offered, past and
current, with counts by status, by outcome and by month — the basis of per-case subsidy
claims (以案定补) and of the directory's acceptance rate. The provider's members see their
own providers'; admins and supervisors see any provider's (`Action.PROVIDER_RECORDS_READ`).

Rows name the case by its reference and title only: no party, no number. The month is the
Beijing month of the offer (a referral belongs to the month it was offered in), so a
month's counts do not change as referrals are completed later.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from mediation import clock
from mediation.cases.models import Case
from mediation.clock import local_date
from mediation.errors import NotFound
from mediation.extensions import db
from mediation.labels import label
from mediation.permissions import Action, can
from mediation.users import User
from referrals.continuity import kept_until
from referrals.lifecycle import provider_ids_of
from referrals.models import Provider, Referral, ReferralStatus

# Accepted at some point: still accepted, completed, or withdrawn after a response.
_TAKEN = (ReferralStatus.ACCEPTED.value, ReferralStatus.COMPLETED.value)


def _accepted_ever(r: Referral) -> bool:
    return r.status in _TAKEN or (r.status == ReferralStatus.WITHDRAWN and r.responded_at is not None)


def provider_for(user: User, provider_id: int) -> Provider:
    """A provider whose record the user may read: their own, or any for admins and
    supervisors; 404 otherwise."""
    provider = db.session.get(Provider, provider_id)
    if provider is None or not (provider_id in provider_ids_of(user)
                                or can(user, Action.PROVIDER_RECORDS_READ)):
        raise NotFound("provider")
    return provider


def record_of(provider_ids: list[int], now: dt.datetime | None = None) -> dict[str, Any]:
    """The referrals of these providers, newest first, with their counts."""
    rows = db.session.execute(
        sa.select(Referral, Case.reference, Case.title, Provider.name)
        .join(Case, Case.id == Referral.case_id).join(Provider, Provider.id == Referral.provider_id)
        .where(Referral.provider_id.in_(provider_ids))
        .order_by(Referral.offered_at.desc(), Referral.id.desc())).all()
    now = now or clock.now()
    items: list[dict[str, Any]] = []
    by_status: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    months: dict[str, Counter[str]] = {}
    for r, reference, title, provider_name in rows:
        until = kept_until(r)
        month = local_date(r.offered_at).strftime("%Y-%m")
        by_status[r.status] += 1
        if r.outcome:
            by_outcome[r.outcome] += 1
        m = months.setdefault(month, Counter())
        m["offered"] += 1
        m["accepted"] += _accepted_ever(r)
        m["completed"] += r.status == ReferralStatus.COMPLETED
        items.append({
            "id": r.id, "case_id": r.case_id, "reference": reference, "title": title,
            "provider_id": r.provider_id, "provider_name": provider_name, "need": r.need,
            "status": r.status, "offered_at": r.offered_at, "responded_at": r.responded_at,
            "closed_at": r.closed_at, "outcome": r.outcome, "month": month,
            "record_until": until if until is not None and until >= now else None,
        })
    responded = sum(by_status[s] for s in ("accepted", "completed", "declined", "expired"))
    accepted = sum(1 for r, *_ in rows if _accepted_ever(r))
    return {
        "provider_ids": provider_ids, "total": len(items),
        "by_status": dict(sorted(by_status.items())), "by_outcome": dict(sorted(by_outcome.items())),
        "by_month": [{"month": k, "offered": v["offered"], "accepted": v["accepted"],
                      "completed": v["completed"]} for k, v in sorted(months.items(), reverse=True)],
        "acceptance_rate": round(accepted / responded, 3) if responded else None,
        "referrals": items,
    }


def my_record(user: User) -> dict[str, Any]:
    return record_of(provider_ids_of(user))


def provider_record(user: User, provider_id: int) -> dict[str, Any]:
    return record_of([provider_for(user, provider_id).id])


def workbook_sheets(record: dict[str, Any]) -> dict[str, list[list[Any]]]:
    """The record as sheets for `mediation.supervision.excel.workbook_bytes` (which writes
    formula-like text as text: case titles are typed by anyone), in the page's language."""
    def day(moment: dt.datetime | None) -> str:
        return local_date(moment).isoformat() if moment else ""

    referrals = [[_("案件编号"), _("案件标题"), _("服务机构"), _("需求"), _("状态"), _("结果"),
                  _("邀请日期"), _("答复日期"), _("办结日期")]]
    referrals += [[r["reference"], r["title"], r["provider_name"], label(r["need"], "need"),
                   label(r["status"], "referral_status"), label(r["outcome"], "referral_outcome"),
                   day(r["offered_at"]), day(r["responded_at"]), day(r["closed_at"])]
                  for r in record["referrals"]]
    months = [[_("月份"), _("邀请"), _("接受"), _("办结")]]
    months += [[m["month"], m["offered"], m["accepted"], m["completed"]] for m in record["by_month"]]
    outcomes = [[_("结果"), _("件数")]]
    outcomes += [[label(k, "referral_outcome"), v] for k, v in record["by_outcome"].items()]
    return {_("办案记录"): referrals, _("按月统计"): months, _("按结果统计"): outcomes}

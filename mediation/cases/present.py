"""How a case is shown: one dict per case, masked by default."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mediation.cases import petitions, rules
from mediation.cases.commands import limits, listing_view, petitioner_view, remembered_detail
from mediation.cases.models import Case, CaseLink
from mediation.clock import today
from mediation.extensions import db
from mediation.timeline import iso


def case_view(case: Case, detail: bool = True) -> dict[str, Any]:
    """The case as the API and pages show it; personal numbers are always masked."""
    now, clock_limits = today(), limits()
    cats = rules.effective_categories(case)
    clocks = rules.statutory_clocks(case, clock_limits, now)
    duties = rules.owner_duties(case, clock_limits, now)
    suggested, why = rules.suggested_owner_level(case, cats)
    # Most cases have no lead official: with no id and nothing set, the relationship's lazy
    # loader would answer None too, through its machinery (an attribute not yet loaded)
    official = (None if case.lead_official_id is None and "lead_official" not in case.__dict__
                else case.lead_official)
    owner = {
        "lead_official_id": case.lead_official_id,
        "name": official.display_name if official else None,
        "level": case.owner_level,
        "assigned_on": case.owner_assigned_on.isoformat() if case.owner_assigned_on else None,
        "suggested_level": suggested,
        "suggested_because": why,
        "duties": [d.as_dict() for d in duties],
    }
    view: dict[str, Any] = {
        "id": case.id, "reference": case.reference, "title": case.title,
        "summary": case.summary, "region_code": case.region_code, "status": case.status,
        "departments": case.departments or [], "received_on": case.received_on,
        "accepted_on": case.accepted_on, "replied_on": case.replied_on,
        "review_requested_on": case.review_requested_on,
        "review_answered_on": case.review_answered_on,
        "rereview_requested_on": case.rereview_requested_on,
        "rereview_answered_on": case.rereview_answered_on,
        "times_handled": case.times_handled, "livelihood_fields": case.livelihood_fields or [],
        "visits_in_person": case.visits_in_person, "online_complaints": case.online_complaints,
        "flags": case.flags or [],
        "categories": [c.as_dict() for c in cats],
        "assessment": case.assessment, "strategy": rules.strategy_for(case.assessment),
        "strategy_note": case.strategy_note,
        "needs": rules.effective_needs(case),
        "needs_source": "officer" if case.needs_set is not None else "derived",
        "owner": owner,
        "clocks": [c.as_dict() for c in clocks],
        "overdue": rules.is_overdue(clocks + duties),
        "next_deadline_on": case.next_deadline_on,
        "extension": {"days": case.extension_days, "approver": case.extension_approver,
                      "reason": case.extension_reason} if case.extension_days else None,
        "petitioners": [petitioner_view(p) for p in case.petitioners],
        "last_seq": case.last_seq, "created_at": case.created_at, "updated_at": case.updated_at,
        "petition_count": case.petition_count or 0, "person_count": case.person_count or 0,
        "merged_into": case.merged_into_id,
        "action": listing_view(case),
    }
    if detail:
        known = remembered_detail(case)
        if known is None:
            known = (petitions.petitions_of(case.id), db.session.execute(
                sa.select(CaseLink).where(CaseLink.case_id == case.id).order_by(CaseLink.id)).scalars())
        view["petitions"] = [petitions.petition_view(p) for p in known[0]]
        view["links"] = [{"case_id": link.other_id, "kind": link.kind, "reason": link.reason,
                          "at": iso(link.at)} for link in known[1]]
        view["dossier"] = {
            "background": case.background, "demand_basis": case.demand_basis,
            "focal_conflict": case.focal_conflict,
            "investigations": [{
                "id": i.id, "method": i.method, "conducted_on": i.conducted_on.isoformat(),
                "investigators": i.investigators, "findings": i.findings,
            } for i in case.investigations],
            "contacts": [{
                "id": c.id, "kind": c.kind, "held_on": c.held_on.isoformat(), "note": c.note,
                "owner_id": c.owner_id,
            } for c in case.contacts],
        }
    return view

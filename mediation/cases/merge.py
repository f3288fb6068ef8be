"""A later merge of two existing cases of one person and one matter.

The absorbed case is closed as merged and points to the survivor; neither timeline is
rewritten: the absorbed case's chain ends with `case.merged` naming the survivor, and the
survivor's records `case.absorbed` with the absorbed case's last hash, so whoever verifies
the survivor can tie it to the exact end of the absorbed chain. The survivor takes over the
absorbed case's 件次 and 人次; the absorbed case leaves the KPIs' denominator from the day
of the merge (a merged case is not a second case)."""

from __future__ import annotations

import sqlalchemy as sa

from mediation import timeline
from mediation.cases import events
from mediation.cases.commands import refresh
from mediation.cases.models import Case, CaseLink, Status
from mediation.errors import Conflict
from mediation.extensions import db
from mediation.permissions import Action, require_case
from mediation.timeline import utcnow
from mediation.transactions import transactional
from mediation.users import User


@transactional
def merge(actor: User, absorbed_id: int, survivor_id: int, reason: str) -> Case:
    """Merge case `absorbed_id` into `survivor_id`; returns the survivor. Both must be
    cases the officer covers (404 otherwise); into itself, from or into a merged case is a
    409 with the current state; of two concurrent merges of one case exactly one wins."""
    absorbed = require_case(actor, absorbed_id, Action.CASE_EDIT)
    survivor = require_case(actor, survivor_id, Action.CASE_EDIT)
    if absorbed.id == survivor.id:
        raise Conflict("a case cannot be merged into itself",
                       current_state={"status": absorbed.status, "merged_into": absorbed.merged_into_id})
    for case in (absorbed, survivor):
        if case.merged_into_id is not None:
            raise Conflict(f"case {case.id} was merged into another already",
                           current_state={"case_id": case.id, "status": case.status,
                                          "merged_into": case.merged_into_id})
    previous = absorbed.status
    # The database decides between concurrent merges: the first to set merged_into wins;
    # the survivor must still be unmerged when this commits (its row is locked here too).
    taken = db.session.execute(
        sa.update(Case).where(Case.id == absorbed.id, Case.merged_into_id.is_(None))
        .values(merged_into_id=survivor.id, status=Status.CLOSED.value, status_changed_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    kept = db.session.execute(
        sa.update(Case).where(Case.id == survivor.id, Case.merged_into_id.is_(None))
        .values(updated_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if taken != 1 or kept != 1:
        row = db.session.execute(sa.select(Case.id, Case.status, Case.merged_into_id).where(
            Case.id.in_((absorbed.id, survivor.id)))).all()
        raise Conflict("one of the cases was merged meanwhile", current_state=[
            {"case_id": r.id, "status": r.status, "merged_into": r.merged_into_id} for r in row])
    db.session.refresh(absorbed)
    db.session.refresh(survivor)
    last = timeline.append(db.session, absorbed.id, events.CASE_MERGED, {
        "into_case_id": survivor.id, "into_reference": survivor.reference, "from": previous,
        "reason": reason}, actor.id)
    survivor.petition_count = (survivor.petition_count or 0) + (absorbed.petition_count or 0)
    survivor.person_count = (survivor.person_count or 0) + (absorbed.person_count or 0)
    db.session.add_all([
        CaseLink(case_id=absorbed.id, other_id=survivor.id, kind="merged_into", reason=reason,
                 by_id=actor.id),
        CaseLink(case_id=survivor.id, other_id=absorbed.id, kind="absorbed", reason=reason,
                 by_id=actor.id)])
    timeline.append(db.session, survivor.id, events.CASE_ABSORBED, {
        "absorbed_case_id": absorbed.id, "absorbed_reference": absorbed.reference,
        "absorbed_last_seq": last.seq, "absorbed_last_hash": last.hash, "reason": reason,
        "petition_count": survivor.petition_count, "person_count": survivor.person_count},
        actor.id)
    refresh(survivor, actor)
    return survivor

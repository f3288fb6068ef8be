"""The papers a case at its stage should hold (档案完整), as data: `checklist.json` beside
this module, or the file `MEDIATION_DOCUMENT_CHECKLIST` names. The case page shows what is
there and what is missing; the weekly report lists cases with papers missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from mediation.cases.models import Case, Status
from mediation.documents.models import Document, Kind
from mediation.extensions import db

DEFAULT = Path(__file__).with_name("checklist.json")


def load(path: str | None) -> dict[str, list[str]]:
    """Read and check a checklist file; a bad one raises ValueError naming what is wrong."""
    source = Path(path) if path else DEFAULT
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"document checklist {source}: {exc}") from exc
    statuses, kinds = {s.value for s in Status}, {k.value for k in Kind}
    table: dict[str, list[str]] = {}
    for stage, required in raw.items():
        if stage.startswith("_"):
            continue
        if stage not in statuses:
            raise ValueError(f"document checklist {source}: {stage!r} is not a case status")
        unknown = [k for k in required if k not in kinds]
        if unknown:
            raise ValueError(f"document checklist {source}: unknown kinds {unknown} for {stage}")
        table[stage] = list(dict.fromkeys(required))
    return table


def init_app(app: Flask) -> None:
    from mediation import settings

    app.extensions["mediation.documents.checklist"] = load(
        settings.get("MEDIATION_DOCUMENT_CHECKLIST", app))


def table() -> dict[str, list[str]]:
    return current_app.extensions["mediation.documents.checklist"]


def _present(case_ids: list[int]) -> dict[int, set[str]]:
    rows = db.session.execute(sa.select(Document.case_id, Document.kind).distinct().where(
        Document.case_id.in_(case_ids), Document.withdrawn_at.is_(None),
        Document.purged_at.is_(None))).all()
    found: dict[int, set[str]] = {}
    for case_id, kind in rows:
        found.setdefault(case_id, set()).add(kind)
    return found


def for_case(case: Case) -> list[dict[str, Any]]:
    """Each paper the case's stage asks for, and whether the file holds one."""
    present = _present([case.id]).get(case.id, set())
    return [{"kind": k, "present": k in present} for k in table().get(case.status, [])]


def missing_condition():
    """A SQL condition on `Case`: true for cases whose stage asks for a paper they lack."""
    per_stage = []
    for stage, kinds in table().items():
        if not kinds:
            continue
        lacks = [~sa.exists().where(Document.case_id == Case.id, Document.kind == k,
                                    Document.withdrawn_at.is_(None), Document.purged_at.is_(None))
                 for k in kinds]
        per_stage.append(sa.and_(Case.status == stage, sa.or_(*lacks)))
    return sa.or_(*per_stage) if per_stage else sa.false()


def missing_in(where, limit: int) -> dict[str, Any]:
    """Cases (within `where`) with papers missing: the total and the first `limit`, each
    with the kinds it lacks."""
    query = sa.select(Case.id, Case.reference, Case.title, Case.region_code, Case.status).where(
        where, missing_condition())
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.order_by(Case.id).limit(limit)).all()
    present = _present([r.id for r in rows])
    cases = [{"case_id": r.id, "reference": r.reference, "title": r.title,
              "region_code": r.region_code, "status": r.status,
              "missing": [k for k in table().get(r.status, []) if k not in present.get(r.id, set())]}
             for r in rows]
    return {"total": total, "cases": cases}

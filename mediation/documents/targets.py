"""The records a document may be attached to besides the case's dossier: an investigation,
a session (minutes, recordings), an agreement (the signed scan), a performance item (its
evidence), a legal opinion, a counselling note. Each area registers its own records here
(`register_target` from its `init_app`), so that `mediation` never imports `referrals`.

A target's `load(user, record_id)` answers for one record what the documents need: the
case it belongs to, who may read what is attached (the record's own visibility is asked
again on every read), whether the user may attach to it, and the record's state when it
takes no more papers (409). It raises NotFound when the user may not see the record. A
target that `vouches` lets its readers at its papers without sight of the case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from mediation.errors import Invalid
from mediation.users import User


@dataclass(frozen=True)
class Attachment:
    case_id: int
    visibility: str  # models.Visibility: case, officials, author
    may_attach: bool
    closed: str | None = None
    # The record's readers read (and its attachers attach) without seeing the case itself:
    # a department replying to a hand-over (`mediation/departments/`) sees no case.
    vouches: bool = False


@dataclass(frozen=True)
class AttachTarget:
    name: str
    load: Callable[[User, int], Attachment]
    doc: str = ""
    title: Any = ""  # the record's kind in words (lazily translated), for the pages
    # The case's records of this kind the user may attach to, as (id, words): offered by the
    # case page's upload form. None: attached through the API or the record's own page.
    choices: Callable[[User, Any], list[tuple[int, str]]] | None = None


def register_target(app: Flask, target: AttachTarget) -> None:
    from mediation.registry import registry

    registry(app).document_targets.register(target.name, target)


def target(name: str) -> AttachTarget:
    from mediation.registry import registry

    found = registry().document_targets.get(name)
    if found is None:
        known = ", ".join(sorted(registry().document_targets.keys()))
        raise Invalid({"attach_to": [f"must be one of {known} and the record's id, as kind:id"]})
    return found


def parse(attach_to: str) -> tuple[AttachTarget, int]:
    name, _, number = attach_to.partition(":")
    if not number.isdigit() or len(number) > 18:
        raise Invalid({"attach_to": ["must be the record's kind and id, as kind:id"]})
    return target(name), int(number)


def investigation_target() -> AttachTarget:
    """The core's own record: an investigation of the dossier."""

    def load(user: User, record_id: int) -> Attachment:
        from mediation.cases.models import Investigation
        from mediation.errors import NotFound
        from mediation.extensions import db
        from mediation.permissions import Action, can, require_case

        record = db.session.get(Investigation, record_id)
        if record is None:
            raise NotFound("investigation")
        case = require_case(user, record.case_id)
        return Attachment(case.id, "case", can(user, Action.DOCUMENT_ADD, case))

    from flask_babel import lazy_gettext as _l

    return AttachTarget("investigation", load, "an investigation record of the dossier", _l("调查记录"))

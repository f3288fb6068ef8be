"""Adding, reading, withdrawing and purging documents. Each command validates, writes, and
commits once; bytes reach the store before the rows, and a failure removes what this
request wrote (a crash in between leaves an orphan the sweep removes after its grace)."""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from flask import current_app

from mediation import settings, timeline
from mediation.cases.models import Case, Status
from mediation.clock import now
from mediation.documents import events, targets
from mediation.documents.models import Document, Kind, Visibility
from mediation.documents.sniff import ALLOWED, READABLE, sniff
from mediation.documents.spool import HashingSpool
from mediation.documents.storage import object_key, store
from mediation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, require_case
from mediation.transactions import after_commit, transactional
from mediation.users import User

log = logging.getLogger(__name__)
MAX_NAME = 255


class Gone(DomainError):
    status = 410
    code_name = "Gone"


@dataclass
class Upload:
    """One file of a request: the name the client gave and the spooled bytes."""

    name: str
    spool: HashingSpool


def max_bytes() -> int:
    return settings.get("MEDIATION_UPLOAD_MAX_MB") * 1024 * 1024


def name_problem(name: str) -> str | None:
    """Why a file name cannot be kept, or None. Chinese names are kept as they are."""
    if not name or not name.strip():
        return "has no name"
    if len(name) > MAX_NAME:
        return f"name is longer than {MAX_NAME} characters"
    if "/" in name or "\\" in name:
        return "name contains a path separator"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "name contains control characters"
    if name.strip() in (".", ".."):
        return "is not a file name"
    return None


def _problems(uploads: list[Upload]) -> tuple[list[str], list[str | None]]:
    """Every refusal, each naming its file, and each accepted file's real type."""
    problems: list[str] = []
    types: list[str | None] = []
    limit = settings.get("MEDIATION_UPLOAD_MAX_MB")
    for up in uploads:
        shown = up.name if up.name and name_problem(up.name) is None else repr(up.name)
        kind = None
        why = name_problem(up.name)
        if why is None and up.spool.size == 0:
            why = "is empty"
        if why is None and up.spool.too_large:
            why = f"is larger than {limit} MB"
        if why is None:
            up.spool.flush()
            kind = sniff(up.spool.path)
            if kind is None:
                why = f"is not a type the case file accepts ({READABLE}), judged by its content"
        if why is not None:
            problems.append(f"{shown}: {why}")
        types.append(kind)
    return problems, types


def add_documents(actor: User, case_id: int, uploads: list[Upload], kind: str,
                  visibility: str = Visibility.CASE.value, attach_to: str = "") -> list[Document]:
    """Add files to the case's dossier, or to one of its records (`attach_to`, as
    `kind:id`). All or nothing: one refusal refuses the request."""
    written: list[str] = []
    try:
        return _add(actor, case_id, uploads, kind, visibility, attach_to, written)
    except BaseException:
        _remove_written(case_id, written)
        raise


@transactional
def _add(actor: User, case_id: int, uploads: list[Upload], kind: str, visibility: str,
         attach_to: str, written: list[str]) -> list[Document]:
    errors: dict[str, list[str]] = {}
    attached_type, attached_id = "case", None
    if attach_to:
        # The record decides: who may attach, who reads, whether it still takes papers.
        try:
            case = require_case(actor, case_id)
        except NotFound:
            case = None
        target, attached_id = targets.parse(attach_to)
        info = target.load(actor, attached_id)
        if case is None:  # only a record that vouches for its users opens an unseen case
            case = db.session.get(Case, case_id) if info.vouches else None
            if case is None:
                raise NotFound("case")
        if info.case_id != case.id:
            raise NotFound(target.name.replace("_", " "))
        if not info.may_attach:
            raise Forbidden(f"you may not attach documents to this {target.name.replace('_', ' ')}")
        if info.closed:
            raise Conflict(f"the {target.name.replace('_', ' ')} is {info.closed}: it takes no more "
                           "papers", current_state=info.closed)
        attached_type, visibility = target.name, info.visibility
    else:
        case = require_case(actor, case_id, Action.DOCUMENT_ADD)
        if visibility not in (Visibility.CASE, Visibility.OFFICIALS):
            errors["visibility"] = ["must be case or officials"]
    if case.status == Status.CLOSED:
        raise Conflict("the case is closed: its file takes no more papers", current_state=case.status)
    if kind not in Kind.__members__.values():
        errors["kind"] = [f"must be one of {', '.join(Kind)}"]
    if not uploads:
        errors["files"] = ["choose at least one file"]
    problems, types = _problems(uploads)
    if problems:
        errors["files"] = problems
    if errors:
        raise Invalid(errors, "; ".join(problems) if problems else "validation failed")
    target = store()
    docs = []
    for up, content_type in zip(uploads, types, strict=True):
        key = object_key(case.id, up.spool.sha256)
        if target.put(key, up.spool.path):
            written.append(key)
        doc = Document(case_id=case.id, attached_type=attached_type, attached_id=attached_id,
                       kind=kind, name=up.name, size=up.spool.size,
                       content_type=content_type, sha256=up.spool.sha256, visibility=visibility,
                       uploaded_by_id=actor.id, uploaded_at=now())
        db.session.add(doc)
        docs.append(doc)
    db.session.flush()
    timeline.append_many(db.session, case.id, [(events.DOCUMENT_ADDED, event_data(d)) for d in docs],
                         actor.id)
    case.updated_at = now()
    return docs


def _remove_written(case_id: int, keys: list[str]) -> None:
    """Remove the objects a failed request wrote, unless a committed row points to one
    (another request's upload of the same file that found it already there)."""
    if not keys:
        return
    db.session.rollback()
    for key in keys:
        sha = key.rsplit("/", 1)[-1]
        try:
            if not _referenced(case_id, sha):
                store().delete(key)
        except Exception:  # the sweep removes it later
            log.warning("could not remove %s after a failed upload", key, exc_info=True)
    db.session.rollback()


def _referenced(case_id: int, sha: str) -> bool:
    return db.session.execute(sa.select(Document.id).where(
        Document.case_id == case_id, Document.sha256 == sha, Document.purged_at.is_(None)
    ).limit(1)).first() is not None


def event_data(doc: Document) -> dict[str, Any]:
    return {"document_id": doc.id, "name": doc.name, "kind": doc.kind, "size": doc.size,
            "content_type": doc.content_type, "sha256": doc.sha256, "visibility": doc.visibility,
            "attached_type": doc.attached_type, "attached_id": doc.attached_id,
            "by": doc.uploaded_by_id}


def may_read(user: User, doc: Document, case: Case) -> bool:
    """The visibility of what the document is attached to: the case's papers for whoever
    sees the case, internal ones for officials, counselling attachments for their author.
    A withdrawn document stays readable to officials only (it is held, not shown)."""
    if doc.attached_type != "case":
        try:  # the record's own visibility, asked now
            targets.target(doc.attached_type).load(user, doc.attached_id)
        except NotFound:
            return False
    if doc.visibility == Visibility.AUTHOR:
        return doc.uploaded_by_id == user.id
    official = can(user, Action.CASE_INTERNAL, case)
    if doc.visibility == Visibility.OFFICIALS or doc.withdrawn_at is not None:
        return official
    return True


def visible_documents(user: User, case_id: int) -> list[Document]:
    case = require_case(user, case_id)
    rows = db.session.execute(sa.select(Document).where(Document.case_id == case.id)
                              .order_by(Document.id)).scalars()
    return [d for d in rows if may_read(user, d, case)]


def _vouched_case(user: User, doc: Document) -> Case | None:
    """The document's case for a user who does not see it, when the record the document is
    attached to vouches for them (a department's reply to a hand-over)."""
    if doc.attached_type == "case":
        return None
    try:
        info = targets.target(doc.attached_type).load(user, doc.attached_id)
    except NotFound:
        return None
    return db.session.get(Case, doc.case_id) if info.vouches and info.case_id == doc.case_id else None


def readable(user: User, document_id: int) -> Document:
    """The document if the user may read it (404 otherwise, as if it did not exist)."""
    doc = db.session.get(Document, document_id)
    if doc is None:
        raise NotFound("document")
    try:
        case = require_case(user, doc.case_id)
    except NotFound:
        case = _vouched_case(user, doc)
        if case is None:
            raise NotFound("document") from None
    if not may_read(user, doc, case):
        raise NotFound("document")
    return doc


def open_content(doc: Document) -> BinaryIO:
    if doc.purged_at is not None:
        raise Gone("the document's content was removed by the retention purge")
    try:
        return store().open(object_key(doc.case_id, doc.sha256))
    except FileNotFoundError:
        raise Gone("the document's content is missing from the store") from None


def _own_document(user: User, document_id: int, action: Action) -> tuple[Document, Case]:
    doc = readable(user, document_id)
    case = require_case(user, doc.case_id, action)
    return doc, case


@transactional
def withdraw(actor: User, document_id: int, reason: str) -> Document:
    """Take a document out of the case file; its bytes are kept (legal hold)."""
    doc, case = _own_document(actor, document_id, Action.DOCUMENT_WITHDRAW)
    if not reason.strip():
        raise Invalid({"reason": ["say why the document is withdrawn"]})
    changed = db.session.execute(sa.update(Document).where(
        Document.id == doc.id, Document.withdrawn_at.is_(None)).values(
        withdrawn_at=now(), withdrawn_by_id=actor.id, withdrawn_reason=reason.strip())
        .execution_options(synchronize_session="fetch")).rowcount
    if changed != 1:
        raise Conflict("the document is already withdrawn", current_state="withdrawn")
    db.session.refresh(doc)
    timeline.append(db.session, case.id, events.DOCUMENT_WITHDRAWN,
                    {**event_data(doc), "reason": reason.strip()}, actor.id)
    case.updated_at = now()
    return doc


@transactional
def purge(actor: User, document_id: int) -> Document:
    """An admin's retention purge: the withdrawn document's bytes leave the store."""
    doc, case = _own_document(actor, document_id, Action.DOCUMENT_PURGE)
    if doc.withdrawn_at is None:
        raise Conflict("only a withdrawn document may be purged", current_state="in_file")
    changed = db.session.execute(sa.update(Document).where(
        Document.id == doc.id, Document.purged_at.is_(None)).values(purged_at=now())
        .execution_options(synchronize_session="fetch")).rowcount
    if changed != 1:
        raise Conflict("the document is already purged", current_state="purged")
    db.session.refresh(doc)
    timeline.append(db.session, case.id, events.DOCUMENT_PURGED, event_data(doc), actor.id)
    app = current_app._get_current_object()
    after_commit(db.session, "documents.purge", (doc.case_id, doc.sha256),
                 lambda items: _delete_unreferenced(app, items))
    return doc


def _delete_unreferenced(app, items: list[tuple[int, str]]) -> None:
    with app.app_context():
        for case_id, sha in items:
            if not _referenced(case_id, sha):
                store(app).delete(object_key(case_id, sha))
        db.session.remove()


_last_sweep: dict[str, dt.datetime] = {}
SWEEP_EVERY = dt.timedelta(hours=1)


def sweep_orphans(force: bool = False) -> int:
    """Remove stored objects no document points to, once older than the grace period
    (an upload in flight has written its object but not yet committed its row). The
    embedded server calls it every few seconds: it lists the store at most hourly."""
    target_url = store().url
    last = _last_sweep.get(target_url)
    if not force and last is not None and now() - last < SWEEP_EVERY:
        return 0
    _last_sweep[target_url] = now()
    grace = dt.timedelta(hours=settings.get("MEDIATION_ORPHAN_GRACE_HOURS"))
    cutoff = now() - grace
    removed = 0
    target = store()
    for key, modified in list(target.listing("cases/")):
        parts = key.split("/")
        if len(parts) != 3 or not parts[1].isdigit() or modified > cutoff:
            continue
        if not _referenced(int(parts[1]), parts[2]):
            target.delete(key)
            removed += 1
    db.session.remove()
    return removed


def spool_folder() -> Path:
    return Path(current_app.instance_path) / "uploads-in-flight"


def new_spool() -> HashingSpool:
    return HashingSpool(spool_folder(), max_bytes())


__all__ = ["ALLOWED", "Upload", "add_documents", "new_spool", "purge", "readable", "sweep_orphans",
           "visible_documents", "withdraw"]

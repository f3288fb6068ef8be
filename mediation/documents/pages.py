"""The case page's documents: the list (thumbnails for images, PDFs opened in the
browser), a file picker and a drop zone uploading several files at once with a progress
bar (`static/js/documents.js`), and the archive's button. Live: `document.*` events
re-render the part on every open case page."""

from __future__ import annotations

import tempfile
from typing import Any

from flask import Response, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import labels, web
from mediation.cases.models import Case
from mediation.documents import api, archive, checklist, commands
from mediation.documents.models import Visibility
from mediation.documents.sniff import inline
from mediation.errors import DomainError
from mediation.permissions import Action, can, require_case
from mediation.users import User

bp = web.page_blueprint("documents_pages", __name__)


def _attach_options(user: User, case: Case) -> list[tuple[str, str]]:
    """The records of the case the user may attach to from this form (`kind:id`, words),
    after the dossier itself: follow-up visits, surveys (targets that offer `choices`)."""
    from mediation.registry import registry

    out: list[tuple[str, str]] = []
    for t in registry().document_targets.values():
        if t.choices is None:
            continue
        for record_id, words in t.choices(user, case):
            out.append((f"{t.name}:{record_id}", f"{t.title} · {words}"))
    return out


def _target_words(name: str) -> str:
    from mediation.registry import registry

    found = registry().document_targets.get(name)
    return str(found.title) if found is not None and found.title else name


def _view(d: Any) -> dict[str, Any]:
    # A thumbnail only for images a browser shows (not HEIC: downloaded as it is).
    return api.document_view(d) | {"image": d.content_type.startswith("image/") and inline(d.content_type),
                                   "page_url": f"/documents/{d.id}",
                                   "internal": d.visibility != Visibility.CASE,
                                   "attached_words": _target_words(d.attached_type),
                                   "withdrawn_reason": d.withdrawn_reason,
                                   "withdrawn_moment": d.withdrawn_at,
                                   "purged": d.purged_at is not None}


def documents_section(user: User, case: Case) -> dict[str, Any]:
    visible = commands.visible_documents(user, case.id)
    docs = [d for d in visible if d.withdrawn_at is None]
    # Withdrawn papers stay held (legal hold): officials see them apart, admins may purge.
    withdrawn = [d for d in visible if d.withdrawn_at is not None]
    may_add = can(user, Action.DOCUMENT_ADD, case)
    options = _attach_options(user, case)
    return {
        "documents": [_view(d) for d in docs],
        "withdrawn": [_view(d) for d in withdrawn],
        "can_withdraw": can(user, Action.DOCUMENT_WITHDRAW, case),
        "can_purge": can(user, Action.DOCUMENT_PURGE, case),
        "attach_options": options,
        "can_upload": may_add or bool(options),
        "can_add": may_add,
        "can_export": can(user, Action.ARCHIVE_EXPORT, case),
        "kinds": labels.choices("document_kind"),
        "max_mb": commands.max_bytes() // (1024 * 1024),
        # What the stage asks for is the officials' concern (档案完整).
        "checklist": checklist.for_case(case) if can(user, Action.CASE_INTERNAL, case) else None,
    }


@bp.post("/cases/<int:case_id>/documents")
@login_required
def upload(case_id: int):
    """The page's upload (XMLHttpRequest, CSRF token in the header): JSON either way."""
    try:
        docs = commands.add_documents(current_user, case_id, api.uploads_of_request(),
                                      request.form.get("kind", ""),
                                      request.form.get("visibility", "case"),
                                      request.form.get("attach_to", ""))
    except DomainError as err:
        return jsonify(err.payload()), err.status
    return jsonify([api.document_view(d) for d in docs]), 201


# Uploads to this view are streamed to disk while hashed (mediation.security reads these).
upload.upload_stream = api.CaseDocuments.upload_stream  # type: ignore[attr-defined]
upload.upload_request_limit = api.CaseDocuments.upload_request_limit  # type: ignore[attr-defined]


@bp.get("/documents/<int:document_id>")
@login_required
def download(document_id: int):
    """A document through the app, with the visibility of what it is attached to."""
    return api.send_document(commands.readable(current_user, document_id))


@bp.post("/documents/<int:document_id>/withdraw")
@login_required
def withdraw(document_id: int):
    """Withdraw a paper from the case file (its bytes are kept): the reason and a tick that
    the user read what happens are required."""
    doc = commands.readable(current_user, document_id)
    if request.form.get("understood") != "1":
        flash(_("请确认已了解撤回的后果"), "error")
    else:
        web.report(web.attempt(commands.withdraw, current_user, document_id,
                               request.form.get("reason", "")), _("材料已撤回（文件仍保留）"))
    return redirect(url_for("pages.case_page", case_id=doc.case_id) + "#case_documents")


@bp.post("/documents/<int:document_id>/purge")
@login_required
def purge(document_id: int):
    """An admin's retention purge of a withdrawn paper's bytes (the row and events stay)."""
    doc = commands.readable(current_user, document_id)
    if request.form.get("understood") != "1":
        flash(_("请确认已了解清除的后果"), "error")
    else:
        web.report(web.attempt(commands.purge, current_user, document_id), _("文件内容已清除"))
    return redirect(url_for("pages.case_page", case_id=doc.case_id) + "#case_documents")


@bp.get("/cases/<int:case_id>/archive")
@login_required
def export(case_id: int):
    """The archive (卷宗) as a ZIP."""
    case = require_case(current_user, case_id, Action.ARCHIVE_EXPORT)
    spooled = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed below
    archive.export(case.id, spooled)
    size = spooled.tell()
    spooled.seek(0)

    def chunks():
        try:
            while block := spooled.read(64 * 1024):
                yield block
        finally:
            spooled.close()

    response = Response(chunks(), mimetype="application/zip")
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = api.content_disposition(f"卷宗-{case.reference}.zip", False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


SECTION_TITLE = _l("案卷材料")

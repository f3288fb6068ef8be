"""The case page's documents: the list (thumbnails for images, PDFs opened in the
browser), a file picker and a drop zone uploading several files at once with a progress
bar (`static/js/documents.js`), and the archive's button. Live: `document.*` events
re-render the part on every open case page."""

from __future__ import annotations

import tempfile
from typing import Any

from flask import Response, jsonify, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import labels, web
from mediation.cases.models import Case
from mediation.documents import api, archive, checklist, commands
from mediation.documents.models import Visibility
from mediation.errors import DomainError
from mediation.permissions import Action, can, require_case
from mediation.users import User

bp = web.page_blueprint("documents_pages", __name__)


def documents_section(user: User, case: Case) -> dict[str, Any]:
    docs = [d for d in commands.visible_documents(user, case.id) if d.withdrawn_at is None]
    return {
        "documents": [api.document_view(d) | {"image": d.content_type.startswith("image/"),
                                              "page_url": f"/documents/{d.id}",
                                              "internal": d.visibility != Visibility.CASE}
                      for d in docs],
        "can_add": can(user, Action.DOCUMENT_ADD, case),
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
                                      request.form.get("visibility", "case"))
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

"""Documents over the API: multipart uploads streamed to disk, downloads through the app."""

from __future__ import annotations

import tempfile
from typing import Any
from urllib.parse import quote

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from mediation.api.auth import authenticated, current
from mediation.documents import archive, commands
from mediation.documents.models import Document, Kind
from mediation.documents.sniff import inline
from mediation.permissions import Action, require_case
from mediation.schemas.base import StrictSchema, Text
from mediation.timeline import iso

blp = Blueprint("documents", __name__, url_prefix="/api",
                description="Documents of a case file, and its archive (卷宗)")

CHUNK = 64 * 1024


class DocumentOut(ma.Schema):
    id = ma.fields.Integer()
    case_id = ma.fields.Integer()
    attached_type = ma.fields.String()
    attached_id = ma.fields.Integer(allow_none=True)
    kind = ma.fields.String()
    name = ma.fields.String()
    size = ma.fields.Integer()
    content_type = ma.fields.String()
    sha256 = ma.fields.String()
    visibility = ma.fields.String()
    uploaded_by = ma.fields.Integer(allow_none=True)
    uploaded_at = ma.fields.String()
    withdrawn_at = ma.fields.String(allow_none=True)
    withdrawn_reason = ma.fields.String(allow_none=True)
    purged = ma.fields.Boolean()
    url = ma.fields.String()


class DocumentWithdrawIn(StrictSchema):
    reason = Text(500, required=True)


def document_view(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "case_id": doc.case_id, "attached_type": doc.attached_type,
            "attached_id": doc.attached_id, "kind": doc.kind, "name": doc.name, "size": doc.size,
            "content_type": doc.content_type, "sha256": doc.sha256, "visibility": doc.visibility,
            "uploaded_by": doc.uploaded_by_id, "uploaded_at": iso(doc.uploaded_at),
            "withdrawn_at": iso(doc.withdrawn_at) if doc.withdrawn_at else None,
            "withdrawn_reason": doc.withdrawn_reason, "purged": doc.purged_at is not None,
            "url": f"/api/documents/{doc.id}/content"}


def uploads_of_request() -> list[commands.Upload]:
    return [commands.Upload(storage.filename or "", storage.stream)
            for storage in request.files.getlist("files")]


_UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files", "kind"],
    "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "one or more files (PDF, JPEG, PNG, WebP, DOCX, XLSX, MP3, M4A, "
                                 "WAV, MP4; the type is read from the content)"},
        "kind": {"type": "string", "enum": [k.value for k in Kind]},
        "visibility": {"type": "string", "enum": ["case", "officials"], "default": "case",
                       "description": "for the dossier's papers; an attachment takes its record's"},
        "attach_to": {"type": "string", "pattern": "^[a-z_]+:[0-9]+$",
                      "description": "a record of the case instead of the dossier, as kind:id — "
                                     "investigation, session, agreement, performance, opinion, "
                                     "counselling_note"},
    }}}}}


@blp.route("/cases/<int:case_id>/documents")
class CaseDocuments(MethodView):
    # Uploads are streamed to a temporary file while hashed (mediation.security reads these).
    @staticmethod
    def upload_stream():
        return commands.new_spool()

    @staticmethod
    def upload_request_limit() -> int:
        # Several files in one request, each within the per-file limit (checked per file).
        return 10 * commands.max_bytes() + 1024 * 1024

    @authenticated
    @blp.response(200, DocumentOut(many=True))
    def get(self, case_id):
        """The case's documents you may read, withdrawn ones marked."""
        return [document_view(d) for d in commands.visible_documents(current(), case_id)]

    @authenticated
    @blp.doc(requestBody=_UPLOAD_BODY)
    @blp.response(201, DocumentOut(many=True))
    @blp.alt_response(409, response="CONFLICT", description="The case is closed")
    @blp.alt_response(503, response="DEFAULT_ERROR", description="The document store cannot be reached")
    def post(self, case_id):
        """Add files to the case's dossier or one of its records (multipart `files`, `kind`,
        `visibility`, `attach_to`).

        Each file is checked — a name without path separators or control characters, not
        empty, within `MEDIATION_UPLOAD_MAX_MB`, a type on the allowlist read from its
        content — and one refusal (422, naming the file and why) refuses them all."""
        kind = request.form.get("kind", "")
        visibility = request.form.get("visibility", "case")
        attach_to = request.form.get("attach_to", "")
        docs = commands.add_documents(current(), case_id, uploads_of_request(), kind, visibility,
                                      attach_to)
        return [document_view(d) for d in docs]


@blp.route("/documents/<int:document_id>")
class DocumentItem(MethodView):
    @authenticated
    @blp.response(200, DocumentOut)
    def get(self, document_id):
        """One document's description (404 if you may not read it)."""
        return document_view(commands.readable(current(), document_id))


def content_disposition(name: str, inline_ok: bool) -> str:
    """RFC 6266 with RFC 5987's filename* so Chinese names survive; an ASCII fallback."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name)
    return (f"{'inline' if inline_ok else 'attachment'}; filename=\"{fallback}\"; "
            f"filename*=UTF-8''{quote(name, safe='')}")


def send_document(doc: Document) -> Response:
    body = commands.open_content(doc)

    def chunks():
        try:
            while True:
                block = body.read(CHUNK)
                if not block:
                    break
                yield block
        finally:
            body.close()

    safe = inline(doc.content_type)
    # The store's stream needs no request context (a file, or S3's body): the chunks are
    # not tied to one, so a response dropped unread (a client gone, a test) closes its
    # stream when collected without popping whichever context is current then.
    response = Response(chunks(), mimetype=doc.content_type)
    response.headers["Content-Length"] = str(doc.size)
    response.headers["Content-Disposition"] = content_disposition(doc.name, safe)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if safe:  # a PDF shown in place runs no script of its own
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["ETag"] = f'"{doc.sha256}"'
    return response


@blp.route("/documents/<int:document_id>/content")
class DocumentContent(MethodView):
    @authenticated
    @blp.response(200, description="The bytes, inline only for PDFs and images")
    @blp.alt_response(410, response="DEFAULT_ERROR", description="Purged by the retention purge")
    def get(self, document_id):
        """Download a document with the visibility of what it is attached to."""
        return send_document(commands.readable(current(), document_id))


@blp.route("/documents/<int:document_id>/withdraw")
class DocumentWithdraw(MethodView):
    @authenticated
    @blp.arguments(DocumentWithdrawIn)
    @blp.response(200, DocumentOut)
    @blp.alt_response(409, response="CONFLICT", description="Already withdrawn")
    def post(self, data, document_id):
        """Withdraw a document from the case file; its bytes are kept (legal hold)."""
        return document_view(commands.withdraw(current(), document_id, data["reason"]))


@blp.route("/documents/<int:document_id>/purge")
class DocumentPurge(MethodView):
    @authenticated
    @blp.response(200, DocumentOut)
    @blp.alt_response(409, response="CONFLICT", description="Not withdrawn, or already purged")
    def post(self, document_id):
        """An admin's retention purge of a withdrawn document: its bytes leave the store."""
        return document_view(commands.purge(current(), document_id))


@blp.route("/cases/<int:case_id>/archive")
class CaseArchive(MethodView):
    @authenticated
    @blp.response(200, description="The archive (卷宗) as a ZIP: index.html, documents/, "
                                   "timeline.json, manifest.json, verify.py")
    def get(self, case_id):
        """Export the case's archive: every paper, the timeline with its hashes, a checker."""
        case = require_case(current(), case_id, Action.ARCHIVE_EXPORT)
        spooled = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by the response
        archive.export(case.id, spooled)
        size = spooled.tell()
        spooled.seek(0)

        def chunks():
            try:
                while block := spooled.read(CHUNK):
                    yield block
            finally:
                spooled.close()

        response = Response(chunks(), mimetype="application/zip")
        response.headers["Content-Length"] = str(size)
        response.headers["Content-Disposition"] = content_disposition(
            f"卷宗-{case.reference}.zip", False)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

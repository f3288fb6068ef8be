"""Documents of the case file through the API, on the filesystem store: upload (streamed,
hashed, stored once per case), each refusal, visibility for every kind of reader, the
timeline's events, withdrawal (the bytes kept) and the admin's purge, the orphan sweep."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from mediation.cases.models import Case
from mediation.documents import commands
from mediation.documents.storage import FileStore, object_key, store
from mediation.extensions import db
from tests.factories import docx_bytes, pdf_bytes, png_bytes, upload
from tests.factories.documents import raw_upload

TABLES = ("documents", "events")


def counts(app) -> dict[str, int]:
    from mediation import timeline

    timeline.drain()
    with app.app_context():
        found = {t: db.session.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}
        db.session.remove()
    return found


def stored(app) -> list[str]:
    with app.app_context():
        return sorted(k for k, _ in store().listing("cases/"))


def in_flight(app) -> list[str]:
    folder = Path(app.instance_path) / "uploads-in-flight"
    return sorted(os.listdir(folder)) if folder.exists() else []


def _empty(app) -> None:
    with app.app_context():
        for key, _ in list(store().listing()):
            store().delete(key)


@pytest.fixture(autouse=True)
def _empty_store(app):
    # Before too: the suite's app (and its store) is shared, and other modules' uploads
    # stay in it (the store listing here must hold this test's objects alone).
    _empty(app)
    yield
    _empty(app)


def timeline(w, user, case_id):
    r = w.api.get(f"/api/cases/{case_id}/timeline", user)
    assert r.status_code == 200
    return r.get_json()["events"]


def test_upload_two_files_stores_them_by_hash_and_puts_them_on_the_timeline(app, w):
    pdf, png = pdf_bytes("信访件"), png_bytes()
    r = upload(w.api, w.officer, w.case_id, [("信访件-张三.pdf", pdf), ("现场照片 1.png", png)],
               kind="petition_letter")
    assert r.status_code == 201, r.get_json()
    docs = r.get_json()
    assert [d["name"] for d in docs] == ["信访件-张三.pdf", "现场照片 1.png"]
    assert [d["content_type"] for d in docs] == ["application/pdf", "image/png"]
    assert [d["sha256"] for d in docs] == [hashlib.sha256(pdf).hexdigest(), hashlib.sha256(png).hexdigest()]
    assert [d["size"] for d in docs] == [len(pdf), len(png)]
    # The bytes are in the store under the case and their hash; nothing is left in flight.
    assert stored(app) == sorted(object_key(w.case_id, d["sha256"]) for d in docs)
    assert in_flight(app) == []
    added = [e for e in timeline(w, w.officer, w.case_id) if e["type"] == "document.added"]
    assert [e["data"]["name"] for e in added] == ["信访件-张三.pdf", "现场照片 1.png"]
    first = added[0]["data"]
    assert {k: first[k] for k in ("kind", "size", "content_type", "sha256")} == {
        "kind": "petition_letter", "size": len(pdf), "content_type": "application/pdf",
        "sha256": hashlib.sha256(pdf).hexdigest()}
    assert "content" not in first and all(not isinstance(v, bytes) for v in first.values())

    # Download through the app: the same bytes, the Chinese name kept, never sniffed.
    r = w.api.get(docs[0]["url"], w.officer)
    assert r.status_code == 200 and r.data == pdf
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("inline;")
    assert f"filename*=UTF-8''{quote('信访件-张三.pdf', safe='')}" in disposition
    r = w.api.get(docs[1]["url"], w.mediator)  # a provider on the case reads its papers
    assert r.status_code == 200 and r.data == png and r.headers["Content-Disposition"].startswith("inline;")


def test_a_docx_is_served_as_an_attachment_and_the_same_file_is_stored_once(app, w):
    docx = docx_bytes()
    for _ in range(2):
        r = upload(w.api, w.officer, w.case_id, [("调查笔录.docx", docx)], kind="investigation_record")
        assert r.status_code == 201, r.get_json()
    doc = r.get_json()[0]
    assert doc["content_type"].endswith("wordprocessingml.document")
    assert stored(app) == [object_key(w.case_id, hashlib.sha256(docx).hexdigest())]
    assert counts(app)["documents"] == 2
    r = w.api.get(doc["url"], w.officer)
    assert r.headers["Content-Disposition"].startswith("attachment;") and r.data == docx
    # Another case's copy is another object: each case's file stands on its own.
    other = w.api.case(w.officer)
    assert upload(w.api, w.officer, other["id"], [("调查笔录.docx", docx)]).status_code == 201
    assert len(stored(app)) == 2


@pytest.mark.parametrize(("name", "content", "why"), [
    ("空白.pdf", b"", "is empty"),
    ("伪装.pdf", b"MZ\x90\x00" + b"\x00" * 200, "is not a type the case file accepts"),
    ("脚本.png", b"<script>alert(1)</script>", "is not a type the case file accepts"),
    ("../../etc/passwd.pdf", pdf_bytes(), "path separator"),
    ("响铃\x07.pdf", pdf_bytes(), "control characters"),
    ("制表\t符.pdf", pdf_bytes(), "control characters"),
])
def test_each_refusal_names_the_file_and_why_and_leaves_nothing(app, w, name, content, why):
    before = counts(app)
    r = raw_upload(w.api, w.officer, w.case_id, [("好的.pdf", pdf_bytes()), (name, content)])
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    [message] = body["errors"]["files"]
    assert why in message
    assert (repr(name) if why in ("path separator", "control characters") else name) in message
    # All or nothing: the good file is not kept either.
    assert counts(app) == before and stored(app) == [] and in_flight(app) == []


def test_a_windows_path_is_never_kept_as_a_name(app, w):
    # In a quoted header a backslash escapes the next character: whatever arrives, a name
    # with a separator is refused and an accepted one holds none.
    for client_name in ("C:\\材料\\证据.pdf", "C:\\\\材料\\\\证据.pdf"):
        r = raw_upload(w.api, w.officer, w.case_id, [(client_name, pdf_bytes())])
        if r.status_code == 201:
            kept = r.get_json()[0]["name"]
            assert "\\" not in kept and "/" not in kept and kept.endswith("证据.pdf")
        else:
            assert r.status_code == 422 and "path separator" in r.get_json()["errors"]["files"][0]


def test_an_oversized_file_is_refused_without_keeping_its_bytes(app, w):
    app.config["MEDIATION_UPLOAD_MAX_MB"] = 1
    try:
        big = pdf_bytes() + b"0" * (1024 * 1024 + 10)
        r = upload(w.api, w.officer, w.case_id, [("大文件.pdf", big)])
    finally:
        app.config["MEDIATION_UPLOAD_MAX_MB"] = 25
    assert r.status_code == 422
    assert r.get_json()["errors"]["files"] == ["大文件.pdf: is larger than 1 MB"]
    assert stored(app) == [] and in_flight(app) == [] and counts(app)["documents"] == 0


def test_bad_kind_no_files_invisible_case_and_closed_case(app, w):
    r = upload(w.api, w.officer, w.case_id, [("a.pdf", pdf_bytes())], kind="secret")
    assert r.status_code == 422 and "kind" in r.get_json()["errors"]
    r = upload(w.api, w.officer, w.case_id, [])
    assert r.status_code == 422 and "files" in r.get_json()["errors"]
    # A case the user cannot see does not exist for them; a provider may not add to the file.
    assert upload(w.api, w.stranger, w.case_id, [("a.pdf", pdf_bytes())]).status_code == 404
    assert upload(w.api, w.counsellor, w.case_id, [("a.pdf", pdf_bytes())]).status_code == 404
    assert upload(w.api, w.mediator, w.case_id, [("a.pdf", pdf_bytes())]).status_code == 403
    with app.app_context():
        db.session.execute(sa.update(Case).where(Case.id == w.case_id).values(status="closed"))
        db.session.commit()
    r = upload(w.api, w.officer, w.case_id, [("a.pdf", pdf_bytes())])
    assert r.status_code == 409 and r.get_json()["current_state"] == "closed"
    assert stored(app) == [] and in_flight(app) == [] and counts(app)["documents"] == 0


def test_the_store_unreachable_is_503_and_nothing_is_half_written(app, w, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    before = counts(app)
    saved = app.extensions.get("mediation.documents.store")
    app.extensions["mediation.documents.store"] = FileStore(blocker / "documents")
    try:
        r = upload(w.api, w.officer, w.case_id, [("a.pdf", pdf_bytes())])
    finally:
        if saved is None:
            app.extensions.pop("mediation.documents.store")
        else:
            app.extensions["mediation.documents.store"] = saved
    assert r.status_code == 503
    assert "document store" in r.get_json()["message"]
    assert counts(app) == before and in_flight(app) == []


def test_visibility_for_every_reader(app, w):
    public = upload(w.api, w.officer, w.case_id, [("证据.pdf", pdf_bytes("a"))]).get_json()[0]
    internal = upload(w.api, w.officer, w.case_id, [("内部.pdf", pdf_bytes("b"))],
                      visibility="officials").get_json()[0]
    readers = {"officer": (200, 200), "supervisor": (200, 200), "mediator": (200, 404),
               "lawyer": (200, 404), "counsellor": (404, 404), "stranger": (404, 404),
               "party": (404, 404), "evaluator": (404, 404)}
    for name, (want_public, want_internal) in readers.items():
        user = w.users[name]
        got = (w.api.get(public["url"], user).status_code, w.api.get(internal["url"], user).status_code)
        assert got == (want_public, want_internal), name
        listed = w.api.get(f"/api/cases/{w.case_id}/documents", user)
        if want_public == 200:
            assert [d["name"] for d in listed.get_json()] == (
                ["证据.pdf", "内部.pdf"] if want_internal == 200 else ["证据.pdf"]), name
        else:
            assert listed.status_code == 404, name
        # The internal document's events are not on the timeline of who may not read it.
        if want_public == 200:
            names = [e["data"]["name"] for e in timeline(w, user, w.case_id) if e["type"] == "document.added"]
            assert names == (["证据.pdf", "内部.pdf"] if want_internal == 200 else ["证据.pdf"]), name


def test_withdraw_keeps_the_bytes_and_only_an_admin_purges_them(app, w):
    admin = w.api.user("admin")
    doc = upload(w.api, w.officer, w.case_id, [("协议.pdf", pdf_bytes())],
                 kind="signed_agreement").get_json()[0]
    key = object_key(w.case_id, doc["sha256"])
    assert w.api.post(f"/api/documents/{doc['id']}/purge", admin).status_code == 409  # not withdrawn
    withdraw = f"/api/documents/{doc['id']}/withdraw"
    assert w.api.post(withdraw, w.mediator, {"reason": "错传"}).status_code == 403
    r = w.api.post(f"/api/documents/{doc['id']}/withdraw", w.officer, {"reason": "上传错误"})
    assert r.status_code == 200 and r.get_json()["withdrawn_reason"] == "上传错误"
    r = w.api.post(f"/api/documents/{doc['id']}/withdraw", w.officer, {"reason": "再次"})
    assert r.status_code == 409 and r.get_json()["current_state"] == "withdrawn"
    assert stored(app) == [key]  # legal hold
    assert w.api.get(doc["url"], w.officer).status_code == 200  # officials still read it
    assert w.api.get(doc["url"], w.mediator).status_code == 404
    assert w.api.post(f"/api/documents/{doc['id']}/purge", w.officer).status_code == 403
    r = w.api.post(f"/api/documents/{doc['id']}/purge", admin)
    assert r.status_code == 200 and r.get_json()["purged"] is True
    from mediation import timeline as tl

    tl.drain()
    assert stored(app) == []
    assert w.api.get(doc["url"], w.officer).status_code == 410
    types = [e["type"] for e in timeline(w, w.officer, w.case_id)]
    assert types[-3:] == ["document.added", "document.withdrawn", "document.purged"]


def test_purge_keeps_an_object_another_document_still_uses(app, w):
    admin = w.api.user("admin")
    pdf = pdf_bytes()
    first = upload(w.api, w.officer, w.case_id, [("一.pdf", pdf)]).get_json()[0]
    upload(w.api, w.officer, w.case_id, [("二.pdf", pdf)])
    w.api.post(f"/api/documents/{first['id']}/withdraw", w.officer, {"reason": "重复"})
    assert w.api.post(f"/api/documents/{first['id']}/purge", admin).status_code == 200
    assert stored(app) == [object_key(w.case_id, first["sha256"])]


def test_the_sweep_removes_old_orphans_only(app, w):
    doc = upload(w.api, w.officer, w.case_id, [("a.pdf", pdf_bytes())]).get_json()[0]
    with app.app_context():
        root = store().root
        orphan_old = root / "cases" / str(w.case_id) / ("a" * 64)
        orphan_new = root / "cases" / str(w.case_id) / ("b" * 64)
        orphan_old.write_bytes(b"left by a crash")
        orphan_new.write_bytes(b"an upload in flight")
        old = time.time() - 3 * 86400
        os.utime(orphan_old, (old, old))
        kept = root / object_key(w.case_id, doc["sha256"])
        os.utime(kept, (old, old))
        assert commands.sweep_orphans(force=True) == 1
        assert not orphan_old.exists() and orphan_new.exists() and kept.exists()

"""Documents on a follow-up visit (回访记录) and on a satisfaction survey, through the API and
the case page's upload form; withdrawing a document and an admin's retention purge on the
case page, each with what will happen said before it happens.

A visit's papers are read by whoever reads the visit (the case's officials, the agreement's
mediator) and attached by whoever records visits; a survey's are internal and attached only
by those who send surveys (supervisors covering the case, admins), since a survey judges
the officers' handling.
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from mediation.documents.models import Document
from mediation.documents.storage import object_key, store
from mediation.extensions import db
from mediation.timeline import Event
from tests.factories import call, pdf_bytes, png_bytes, upload
from tests.page_client import PageClient, csrf_token
from tests.test_sessions_visits import in_effect


@pytest.fixture(autouse=True)
def _empty_store(app):
    """The store is the instance folder's, shared by the session's tests: left empty."""
    yield
    with app.app_context():
        for key, _ in list(store().listing()):
            store().delete(key)


@pytest.fixture
def visit_id(app, w) -> int:
    in_effect(w)
    return call(w, "GET", f"/api/cases/{w.case_id}/visits", "officer").get_json()[0]["id"]


def _listed(w, who: str) -> list[tuple[str, str]]:
    r = call(w, "GET", f"/api/cases/{w.case_id}/documents", who)
    assert r.status_code == 200, r.get_json()
    return [(d["name"], f"{d['attached_type']}:{d['attached_id']}") for d in r.get_json()]


def test_a_follow_up_visit_takes_papers_read_as_the_visit_is(app, w, visit_id):
    target = f"visit:{visit_id}"
    r = upload(w.api, w.users["officer"], w.case_id, [("回访记录表.pdf", pdf_bytes())],
               kind="followup_record", attach_to=target)
    assert r.status_code == 201, r.get_json()
    [doc] = r.get_json()
    assert (doc["attached_type"], doc["attached_id"]) == ("visit", visit_id)
    # The agreement's mediator records visits: attaches too, and reads them.
    r = upload(w.api, w.users["mediator"], w.case_id, [("回访照片.png", png_bytes())],
               kind="followup_record", attach_to=target)
    assert r.status_code == 201, r.get_json()
    assert set(_listed(w, "mediator")) >= {("回访记录表.pdf", target), ("回访照片.png", target)}
    assert ("回访记录表.pdf", target) in _listed(w, "supervisor")
    # The lawyer sees the case but not its visits: neither the papers nor their events.
    assert all(t != target for _, t in _listed(w, "lawyer"))
    assert call(w, "GET", f"/api/documents/{doc['id']}/content", "lawyer").status_code == 404
    events = call(w, "GET", f"/api/cases/{w.case_id}/timeline", "lawyer").get_json()["events"]
    assert not any(e["type"] == "document.added" and e["data"].get("attached_type") == "visit"
                   for e in events)
    r = upload(w.api, w.users["lawyer"], w.case_id, [("x.pdf", pdf_bytes())], attach_to=target)
    assert r.status_code == 404, r.get_json()  # the visit is not theirs to see
    r = upload(w.api, w.users["stranger"], w.case_id, [("x.pdf", pdf_bytes())], attach_to=target)
    assert r.status_code == 404
    r = upload(w.api, w.users["officer"], w.bare_case_id, [("x.pdf", pdf_bytes())], attach_to=target)
    assert r.status_code == 404  # a visit of another case


def test_a_survey_takes_internal_papers_from_those_who_send_surveys(app, w):
    r = call(w, "POST", f"/api/cases/{w.case_id}/surveys", "supervisor", {})
    assert r.status_code == 201, r.get_json()
    target = f"survey:{r.get_json()['invite_id']}"
    r = upload(w.api, w.users["officer"], w.case_id, [("问卷.pdf", pdf_bytes())], attach_to=target)
    assert r.status_code == 403, r.get_json()  # the handling it judges is the officer's
    r = upload(w.api, w.users["supervisor"], w.case_id, [("纸质问卷.pdf", pdf_bytes())],
               kind="other", attach_to=target)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()[0]["visibility"] == "officials"
    assert ("纸质问卷.pdf", target) in _listed(w, "officer")
    for who in ("mediator", "lawyer"):
        assert all(t != target for _, t in _listed(w, who)), who


def _page(app, w, who: str) -> PageClient:
    return PageClient(app).sign_in(w.users[who].username)


def test_the_upload_form_offers_the_visits_and_takes_them(app, w, visit_id, csrf_on):
    page = _page(app, w, "officer")
    part = page.text(f"/cases/{w.case_id}?part=case_documents")
    assert f'<option value="visit:{visit_id}">回访记录 · ' in part and 'data-upload-attach' in part
    token = csrf_token(page.text(f"/cases/{w.case_id}"))
    r = page.client.post(f"/cases/{w.case_id}/documents", headers={"X-CSRFToken": token},
                         data={"kind": "followup_record", "attach_to": f"visit:{visit_id}",
                               "files": [(io.BytesIO(pdf_bytes()), "第一次回访.pdf")]},
                         content_type="multipart/form-data")
    assert r.status_code == 201, r.get_data(as_text=True)
    part = page.text(f"/cases/{w.case_id}?part=case_documents")
    assert "第一次回访.pdf" in part and f'data-attached="visit:{visit_id}">附于回访记录' in part
    # The lawyer is offered no visit (and may not add to the dossier: no form at all).
    assert "data-upload-attach" not in _page(app, w, "lawyer").text(f"/cases/{w.case_id}?part=case_documents")


def test_withdraw_and_purge_on_the_case_page_say_what_happens(app, w, csrf_on):
    r = upload(w.api, w.users["officer"], w.case_id, [("错传的身份证.png", png_bytes())], kind="identity")
    [doc] = r.get_json()
    case_path = f"/cases/{w.case_id}"
    officer = _page(app, w, "officer")
    part = officer.text(f"{case_path}?part=case_documents")
    assert "data-withdraw" in part and "文件本身仍按法定留存保存" in part
    # Without the tick, nothing happens.
    r = officer.post(f"/documents/{doc['id']}/withdraw", {"reason": "传错了"}, token_from=case_path)
    assert r.status_code == 302
    with app.app_context():
        assert db.session.get(Document, doc["id"]).withdrawn_at is None
    r = officer.post(f"/documents/{doc['id']}/withdraw", {"reason": "传错了", "understood": "1"},
                     token_from=case_path)
    assert r.status_code == 302 and r.headers["Location"].endswith("#case_documents")
    part = officer.text(f"{case_path}?part=case_documents")
    assert "data-withdrawn-documents" in part and "传错了" in part
    assert "data-purge" not in part  # purging is the admin's
    with app.app_context():
        assert store().exists(object_key(w.case_id, doc["sha256"]))  # withdrawn, not removed
    assert officer.get(f"/documents/{doc['id']}").status_code == 200  # held, officials read it
    # A party of the case no longer sees it at all.
    assert "错传的身份证" not in _page(app, w, "lawyer").text(f"{case_path}?part=case_documents")
    admin = PageClient(app).sign_in(w.api.user("admin").username)
    part = admin.text(f"{case_path}?part=case_documents")
    assert "data-purge" in part and "永久删除该文件的内容" in part
    r = admin.post(f"/documents/{doc['id']}/purge", {"understood": "1"}, token_from=case_path)
    assert r.status_code == 302
    assert "内容已清除" in admin.text(f"{case_path}?part=case_documents")
    assert admin.get(f"/documents/{doc['id']}").status_code == 410
    with app.app_context():
        assert not store().exists(object_key(w.case_id, doc["sha256"]))
    with app.app_context():
        types = db.session.execute(sa.select(Event.type).where(
            Event.case_id == w.case_id, Event.type.like("document.%")).order_by(Event.seq)).scalars().all()
        assert types[-2:] == ["document.withdrawn", "document.purged"]


def heic_bytes(major: bytes = b"heic", compatible: bytes = b"mif1heic") -> bytes:
    """An ISO-BMFF file's opening as a phone writes it: the ftyp box, then a meta box."""
    ftyp = b"ftyp" + major + b"\x00\x00\x00\x00" + compatible
    return (4 + len(ftyp)).to_bytes(4, "big") + ftyp + b"\x00\x00\x00\x10meta" + bytes(8)


def ofd_bytes(entry: str = '<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd='
              '"http://www.ofdspec.org/2016" Version="1.0" DocType="OFD"><ofd:DocBody/></ofd:OFD>') -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("OFD.xml", entry)
        z.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    return buf.getvalue()


def test_heic_and_ofd_are_known_from_their_bytes_and_downloaded_as_they_are(app, w, tmp_path):
    from mediation.documents.sniff import sniff

    r = upload(w.api, w.users["officer"], w.case_id,
               [("现场.HEIC", heic_bytes()), ("通知书.ofd", ofd_bytes()),
                ("通用.heif", heic_bytes(b"mif1", b"mif1heic"))], kind="site_photo")
    assert r.status_code == 201, r.get_json()
    assert [d["content_type"] for d in r.get_json()] == ["image/heic", "application/ofd", "image/heic"]
    for d in r.get_json():
        got = call(w, "GET", f"/api/documents/{d['id']}/content", "officer")
        assert got.status_code == 200 and got.headers["Content-Disposition"].startswith("attachment")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
    page = PageClient(app).sign_in(w.users["officer"].username)
    part = page.text(f"/cases/{w.case_id}?part=case_documents")
    assert "现场.HEIC" in part and 'class="thumb"' not in part  # no thumbnail a browser cannot draw
    # Neither a zip that only calls itself OFD nor an AVIF (mif1 without an HEVC brand) passes.
    for name, content in (("假.ofd", ofd_bytes("<html>not ofd</html>")),
                          ("图.avif", heic_bytes(b"avif", b"mif1avif"))):
        r = upload(w.api, w.users["officer"], w.case_id, [(name, content)])
        assert r.status_code == 422 and name in r.get_json()["errors"]["files"][0], r.get_json()
    probe = tmp_path / "probe"
    probe.write_bytes(heic_bytes(b"mif1", b"mif1avif"))
    assert sniff(probe) is None

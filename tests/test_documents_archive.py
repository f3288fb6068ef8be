"""The case archive (卷宗): exported by the command and the API, verified offline by
`mediation archive verify` and by the verify.py inside it; one byte of one document
changed, or a document left out, and verify names it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mediation.documents.storage import store
from tests.factories import docx_bytes, pdf_bytes, png_bytes, upload


@pytest.fixture(autouse=True)
def _empty_store(app):
    yield
    with app.app_context():
        for key, _ in list(store().listing()):
            store().delete(key)


def rewrite(src: Path, dst: Path, change) -> None:
    """Copy the ZIP, passing each member through change(name, data) -> data or None (left out)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = change(item.filename, zin.read(item.filename))
            if data is not None:
                zout.writestr(item, data)


def a_case_with_papers(w) -> list[dict]:
    docs = []
    docs += upload(w.api, w.officer, w.case_id, [("现场照片.png", png_bytes())], kind="site_photo").get_json()
    docs += upload(w.api, w.officer, w.case_id, [("信访件.pdf", pdf_bytes())],
                   kind="petition_letter").get_json()
    docs += upload(w.api, w.officer, w.case_id, [("调查笔录.docx", docx_bytes())],
                   kind="investigation_record").get_json()
    withdrawn = upload(w.api, w.officer, w.case_id, [("错传.pdf", pdf_bytes("x"))]).get_json()[0]
    assert w.api.post(f"/api/documents/{withdrawn['id']}/withdraw", w.officer,
                      {"reason": "错传"}).status_code == 200
    return docs


def test_export_verify_then_one_changed_byte_is_named(app, w, tmp_path):
    docs = a_case_with_papers(w)
    target = tmp_path / "卷宗.zip"
    runner = app.test_cli_runner()
    r = runner.invoke(args=["archive", "export", str(w.case_id), str(target)])
    assert r.exit_code == 0, r.output
    assert "3 document(s)" in r.output
    with zipfile.ZipFile(target) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
        index = z.read("index.html").decode()
        timeline = json.loads(z.read("timeline.json"))
    # The file list's order: petition letter, investigation record, site photo; the
    # withdrawn paper stays out (its events are in the timeline).
    assert [d["kind"] for d in manifest["documents"]] == ["petition_letter", "investigation_record",
                                                          "site_photo"]
    assert {d["sha256"] for d in manifest["documents"]} == {d["sha256"] for d in docs}
    assert "卷宗目录" in index and index.index("信访件.pdf") < index.index("现场照片.png")
    assert "错传.pdf" not in index
    assert {"index.html", "manifest.json", "timeline.json", "verify.py"} <= set(names)
    assert timeline["head"] == timeline["events"][-1]["hash"]

    r = runner.invoke(args=["archive", "verify", str(target)])
    assert r.exit_code == 0 and "OK" in r.output, r.output
    # The script inside the archive needs nothing but Python.
    extracted = tmp_path / "verify.py"
    with zipfile.ZipFile(target) as z:
        extracted.write_bytes(z.read("verify.py"))
    ok = subprocess.run([sys.executable, "-I", str(extracted), str(target)], capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr

    # One byte of one document flipped: both checkers name that file.
    victim = manifest["documents"][1]["path"]
    tampered = tmp_path / "tampered.zip"

    def flip(name: str, data: bytes) -> bytes:
        if name != victim:
            return data
        return data[:100] + bytes([data[100] ^ 0x01]) + data[101:]

    rewrite(target, tampered, flip)
    r = runner.invoke(args=["archive", "verify", str(tampered)])
    assert r.exit_code != 0
    assert f"{victim}: content changed" in r.output
    assert sum("content changed" in line for line in r.output.splitlines()) == 1
    bad = subprocess.run([sys.executable, "-I", str(extracted), str(tampered)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and f"{victim}: content changed" in bad.stdout

    # The manifest's hash rewritten to match: the timeline's chain still tells.
    def forge(name: str, data: bytes) -> bytes:
        if name == "manifest.json":
            m = json.loads(data)
            m["documents"][1]["sha256"] = "0" * 64
            return json.dumps(m).encode()
        return data

    forged = tmp_path / "forged.zip"
    rewrite(target, forged, forge)
    r = runner.invoke(args=["archive", "verify", str(forged)])
    assert r.exit_code != 0 and "differs from the timeline's" in r.output

    # A paper left out, or an event edited, is named too.
    left_out = tmp_path / "left-out.zip"
    rewrite(target, left_out, lambda name, data: None if name == victim else data)
    r = runner.invoke(args=["archive", "verify", str(left_out)])
    assert r.exit_code != 0 and f"{victim}: missing from the archive" in r.output

    def edit_event(name: str, data: bytes) -> bytes:
        if name == "timeline.json":
            t = json.loads(data)
            t["events"][0]["data"] = t["events"][0]["data"].replace("}", ',"x":1}', 1)
            return json.dumps(t, ensure_ascii=False).encode()
        return data

    edited = tmp_path / "edited.zip"
    rewrite(target, edited, edit_event)
    r = runner.invoke(args=["archive", "verify", str(edited)])
    assert r.exit_code != 0 and "timeline: event 1 does not match its hash" in r.output


def test_the_archive_over_the_api_for_officials_only(app, w, tmp_path):
    a_case_with_papers(w)
    r = w.api.get(f"/api/cases/{w.case_id}/archive", w.supervisor)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    path = tmp_path / "api.zip"
    path.write_bytes(r.data)
    from mediation.documents.verify_archive import verify

    assert verify(str(path)) == []
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        assert len(json.loads(z.read("manifest.json"))["documents"]) == 3
    assert w.api.get(f"/api/cases/{w.case_id}/archive", w.mediator).status_code == 403
    assert w.api.get(f"/api/cases/{w.case_id}/archive", w.stranger).status_code == 404

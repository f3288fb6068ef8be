"""Uploads and exports are safe.

- The ledger import reads only its known columns and a capped number of rows, whatever
  size the sheet declares; a workbook that unpacks too large is refused before parsing;
  reading runs in a child process with a time limit, refused with 422 and the reason.
- Waiting uploads are encrypted, 0600 in a 0700 folder, gone after import or their time.
- Every xlsx and csv export writes formula-like text (= + - @ tab CR) as text.
- The instance folder is 0700 and the SQLite database 0600, at creation and at start.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import stat
import time
import zipfile
from pathlib import Path

from openpyxl import Workbook, load_workbook

from mediation import create_app
from mediation.supervision import ledger, uploads
from mediation.supervision.excel import FORMULA_STARTS, MAX_UNPACKED, csv_text, read_sheet, write_workbook
from mediation.supervision.ledger import HEADERS, KEYS, MAX_COLUMNS
from tests.conftest import PII_KEY, SECRET
from tests.factories import case_payload, make_user
from tests.page_client import PageClient

ID_NUMBER = "510104198001011234"


def sheet(rows: list[dict], extra_cells: dict[str, str] | None = None, dimension: str | None = None) -> bytes:
    """A ledger workbook; `dimension` rewrites the <dimension ref> the sheet declares."""
    wb = Workbook()
    ws = wb.active
    ws.append([HEADERS[k] for k in KEYS])
    for row in rows:
        ws.append([row.get(k) for k in KEYS])
    for ref, value in (extra_cells or {}).items():
        ws[ref] = value
    buf = io.BytesIO()
    wb.save(buf)
    if dimension is None:
        return buf.getvalue()
    src, out = zipfile.ZipFile(io.BytesIO(buf.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"'.encode(), data)
                assert n == 1
            dst.writestr(item, data)
    return out.getvalue()


ROW = {"reference": "SEC-2025-001", "title": "征地补偿", "region_code": "510104",
       "petitioner_name": "李四", "petitioner_id_number": ID_NUMBER}


# --- reading ------------------------------------------------------------------------------------

def test_a_huge_declared_dimension_is_not_read(ctx):
    data = sheet([ROW], extra_cells={"XFD2": "far away", "AZ2": "beyond the known columns"},
                 dimension="A1:XFD8000")
    assert len(data) < 10_000  # a few kilobytes that once cost seconds of CPU
    rows = read_sheet(data, MAX_COLUMNS, 100, 30)
    # what was read: the rows that exist, each only as wide as the columns we look at
    assert len(rows) == 2 and all(len(r) == MAX_COLUMNS for r in rows)
    assert "far away" not in str(rows) and "beyond the known columns" not in str(rows)
    parsed, errors = ledger.parse(data)
    assert errors == [] and len(parsed) == 1
    assert set(parsed[0][1]) <= set(KEYS)  # only known columns come out


def test_rows_beyond_the_cap_are_refused(ctx):
    ctx.config["MEDIATION_LEDGER_MAX_ROWS"] = 3
    try:
        rows = [{**ROW, "reference": f"SEC-{i}"} for i in range(5)]
        parsed, errors = ledger.parse(sheet(rows, dimension="A1:XFD1048576"))
        assert parsed == [] and errors[0]["message"] == ledger.TOO_MANY_ROWS
        parsed, errors = ledger.parse(sheet(rows[:3]))  # exactly the cap is fine
        assert errors == [] and len(parsed) == 3
    finally:
        ctx.config.pop("MEDIATION_LEDGER_MAX_ROWS")


def test_a_workbook_that_unpacks_too_large_is_refused_unread(ctx):
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sheet([ROW]))) as src, \
            zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/padding.xml", b"\0" * (MAX_UNPACKED + 1))
    assert len(buf.getvalue()) < 1024 * 1024  # under the upload limit
    parsed, errors = ledger.parse(buf.getvalue())
    assert parsed == [] and errors[0]["message"] == "the workbook is too large to read"


def test_reading_is_refused_past_its_time_limit_with_422(app, csrf_on):
    with app.app_context():
        officer = person_in(app)
    web = PageClient(app).sign_in(officer)
    app.config["MEDIATION_LEDGER_PARSE_SECONDS"] = 0.001  # no child process answers that fast
    try:
        r = upload(web, sheet([ROW]))
    finally:
        app.config.pop("MEDIATION_LEDGER_PARSE_SECONDS")
    assert r.status_code == 422 and "读取文件超时" in r.get_data(as_text=True)
    r = upload(web, sheet([ROW]))  # with the usual limit the same file is fine
    assert r.status_code == 200, r.get_data(as_text=True)[:500]


def test_the_command_line_import_has_the_same_limits(app, tmp_path):
    path = tmp_path / "big.xlsx"
    path.write_bytes(sheet([ROW], extra_cells={"XFD3": "x"}, dimension="A1:XFD8000"))
    with app.app_context():
        _cli_officer(app)
    r = app.test_cli_runner().invoke(args=["ledger", "import", str(path), "--as", "cli_officer", "--dry-run"])
    assert r.exit_code == 0 and "1 row(s) read" in r.output, r.output


def _cli_officer(app) -> None:
    make_user("case_officer", "510104", "cli_officer")


# --- waiting uploads -----------------------------------------------------------------------------

def person_in(app) -> str:
    return make_user("case_officer", "510104").username


def upload(web: PageClient, data: bytes):
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.text("/supervision/ledger"))[1]
    return web.client.post("/supervision/ledger/check", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (io.BytesIO(data), "ledger.xlsx")})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_waiting_upload_is_encrypted_private_and_deleted_after_import(app, csrf_on):
    with app.app_context():
        officer = person_in(app)
        folder = uploads.folder()
    web = PageClient(app).sign_in(officer)
    before = set(folder.iterdir())
    r = upload(web, sheet([ROW]))
    assert r.status_code == 200
    waiting = set(folder.iterdir()) - before
    assert len(waiting) == 1
    path = waiting.pop()
    assert mode(path) == 0o600 and mode(folder) == 0o700
    content = path.read_bytes()
    assert ID_NUMBER.encode() not in content and not content.startswith(b"PK")  # not the workbook in clear
    token = re.search(r'name="token" value="([^"]+)"', r.get_data(as_text=True))[1]
    r = web.post("/supervision/ledger/import", {"token": token}, token_from="/supervision/ledger")
    assert r.status_code == 302
    assert not path.exists()


def test_uploaded_files_are_never_spooled_to_disk(app, csrf_on, monkeypatch):
    import secrets

    import werkzeug.formparser

    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was spooled to a temporary file")

    # werkzeug's own factory would spool a part over 500 KB to disk; it must not be asked
    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", no_disk)
    with app.app_context():
        officer = person_in(app)
    web = PageClient(app).sign_in(officer)
    # random text in every row (hex: half compressible), so the file is large
    data = sheet([{**ROW, "summary": secrets.token_hex(12_000), "reference": f"BIG-{i}"} for i in range(50)])
    assert 500 * 1024 < len(data) < 1024 * 1024
    r = upload(web, data)
    # read and checked (the summaries are too long for a case: 422 with errors by row)
    assert r.status_code in (200, 422), r.status_code
    assert "data-row" in r.get_data(as_text=True) or "可导入" in r.get_data(as_text=True)


def test_a_waiting_upload_expires_and_is_swept(ctx):
    token = uploads.store(sheet([ROW]))
    path = uploads.folder() / f"{token}.upload"
    assert uploads.load(token) is not None
    old = time.time() - 61 * 60  # past the default 60 minutes
    os.utime(path, (old, old))
    assert uploads.sweep() >= 1 and not path.exists()
    assert uploads.load(token) is None
    assert uploads.load("../../secret_key") is None  # a token is never a path


# --- exports ------------------------------------------------------------------------------------

EVIL = {"title": '=HYPERLINK("http://evil.example","点击")', "summary": "+cmd|' /C calc'!A0",
        "departments": ["@SUM(1+1)", "-2+3"], "assessment": None}


def evil_case(api) -> None:
    officer = api.user("case_officer", "510104")
    # Listed in the special action today (Beijing): the monthly bulletin counts listed cases only.
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date().isoformat()
    body = case_payload(**{k: v for k, v in EVIL.items() if v is not None}, received_on="2025-03-01",
                        action_listed_on=today)
    r = api.post("/api/cases", officer, json=body)
    assert r.status_code == 201, r.get_json()


def assert_text_cells(data: bytes, needles: list[str]) -> None:
    """Each formula-like cell is a string cell marked as text, never a formula."""
    wb = load_workbook(io.BytesIO(data))
    seen = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                    assert cell.data_type == "s" and cell.quotePrefix, (ws.title, cell.coordinate, cell.value)
                    seen.add(cell.value)
    for needle in needles:
        assert any(needle in v for v in seen), (needle, seen)


def test_the_one_writer_writes_formula_like_text_as_text(tmp_path):
    values = ["=1+2", "+1", "-1", "@A1", "\tx", "\rx", "plain", -5, 3.5, None]
    target = tmp_path / "x.xlsx"
    write_workbook(target, {"s": [["h"] * len(values), values]})
    row = list(load_workbook(target).active.iter_rows(min_row=2))[0]
    for cell, value in zip(row, values, strict=True):
        # (XML reads a carriage return back as a line feed)
        assert cell.value == (value.replace("\r", "\n") if isinstance(value, str) else value)
        if isinstance(value, str) and value != "plain":
            assert cell.data_type == "s" and cell.quotePrefix
    assert next(csv.reader(io.StringIO(csv_text([values])))) == [
        "'=1+2", "'+1", "'-1", "'@A1", "'\tx", "'\rx", "plain", "-5", "3.5", ""]


def test_the_one_writer_keeps_text_with_characters_a_sheet_cannot_hold(tmp_path):
    """Control characters typed into a record (fuzzing found them) must not fail an export."""
    target = tmp_path / "x.xlsx"
    write_workbook(target, {"s": [["h", "h"], ["甲\x1b乙\x00丙", "=\x07x"]]})
    row = list(load_workbook(target).active.iter_rows(min_row=2))[0]
    assert row[0].value == "甲\ufffd乙\ufffd丙"
    assert row[1].value == "=\ufffdx" and row[1].data_type == "s"


def test_the_ledger_export_writes_formulas_as_text(app, api, csrf_on):
    evil_case(api)
    sup = api.user("supervisor", "51")
    web = PageClient(app).sign_in(sup.username)
    r = web.get("/supervision/ledger/export.xlsx")
    assert r.status_code == 200
    assert_text_cells(r.data, ["=HYPERLINK", "+cmd", "@SUM"])


def test_the_bulletin_writes_formulas_as_text(app, api):
    evil_case(api)
    sup = api.user("supervisor", "51")
    month = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).strftime("%Y-%m")  # Beijing's month
    r = api.get(f"/api/reports/monthly?month={month}&format=xlsx", sup)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert_text_cells(r.data, ["@SUM", "-2+3"])


def test_the_evaluation_export_writes_formulas_as_text(app, api):
    evil_case(api)
    evaluator = api.user("evaluator")
    r = api.get("/api/evaluation/export?format=xlsx", evaluator)
    assert r.status_code == 200
    assert_text_cells(r.data, ["@SUM"])
    r = api.get("/api/evaluation/export?format=csv", evaluator)
    cells = [c for row in csv.reader(io.StringIO(r.get_data(as_text=True))) for c in row]
    assert any(c.startswith("'@SUM") for c in cells)
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)


# --- files on disk ------------------------------------------------------------------------------

def test_instance_folder_and_sqlite_file_are_private(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDIATION_INSTANCE_PATH", raising=False)
    instance, dbfile = tmp_path / "instance", tmp_path / "instance" / "mediation.db"
    settings = {"INSTANCE_PATH": str(instance), "MEDIATION_PII_KEY": PII_KEY, "MEDIATION_SECRET_KEY": SECRET}
    old = os.umask(0o022)
    try:
        create_app(settings)
        assert mode(instance) == 0o700 and mode(dbfile) == 0o600  # at creation
        instance.chmod(0o755)
        dbfile.chmod(0o644)
        create_app(settings)
        assert mode(instance) == 0o700 and mode(dbfile) == 0o600  # and at every start
    finally:
        os.umask(old)


def test_every_spreadsheet_is_written_through_the_one_helper():
    """A new export that wrote xlsx or csv by itself would skip the formula guard."""
    root = Path(__file__).resolve().parents[1]
    helper = root / "mediation" / "supervision" / "excel.py"
    offenders = []
    for package in ("mediation", "referrals", "realtime"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if path != helper and re.search(r"^\s*(import csv|from csv |import openpyxl|from openpyxl)", text,
                                            flags=re.M):
                offenders.append(str(path.relative_to(root)))
    assert offenders == [], offenders

"""The ledger (台账) in Excel: template, row-level errors with nothing written, idempotent
import by reference, the export with numbers masked; through the CLI as users run it."""

from __future__ import annotations

import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from mediation import timeline
from mediation.extensions import db
from mediation.supervision.ledger import HEADERS, KEYS
from tests.factories import make_user


def write(path, rows):
    wb = Workbook()
    ws = wb.active
    ws.append([HEADERS[k] for k in KEYS])
    for row in rows:
        ws.append([row.get(k) for k in KEYS])
    wb.save(path)
    return path


GOOD = [
    {"reference": "TZ-2025-001", "title": "征地补偿", "region_code": "510104",
     "departments": "区自然资源局、区住建局", "received_on": "2025-03-01", "accepted_on": "2025-03-05",
     "times_handled": 2, "livelihood_fields": "land_demolition", "assessment": "reasonable",
     "petitioner_name": "李四", "petitioner_id_number": "510104198001014321",
     "petitioner_phone": "13912345678"},
    {"reference": "TZ-2025-002", "title": "欠薪", "region_code": "510104",
     "petitioner_name": "王五；赵六", "petitioner_id_number": "51010419900202567X；510104199103035678",
     "petitioner_phone": "13700001111；13700002222"},
    {"reference": "TZ-2025-003", "title": "物业纠纷", "region_code": "5101"},
]


def counts(app):
    timeline.drain()
    with app.app_context():
        out = {t: db.session.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
               for t in ("cases", "petitioners", "events")}
        db.session.remove()
        return out


def test_template_has_every_column(app, tmp_path):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["ledger", "template", str(tmp_path / "t.xlsx")])
    assert r.exit_code == 0, r.output
    header = next(load_workbook(tmp_path / "t.xlsx").worksheets[0].iter_rows(values_only=True))
    assert list(header) == [HEADERS[k] for k in KEYS]


def test_bad_rows_are_reported_by_row_and_column_and_nothing_is_written(app, tmp_path):
    with app.app_context():
        make_user("case_officer", "510104", name="imp_officer")
        db.session.remove()
    rows = [GOOD[0],
            {"reference": "TZ-BAD-1", "title": "", "region_code": "51A"},          # row 3
            {"reference": "TZ-BAD-2", "title": "x", "region_code": "510104",
             "petitioner_name": "甲", "petitioner_id_number": "12345"},              # row 4
            {"reference": "TZ-2025-001", "title": "again", "region_code": "510104"},  # row 5
            {"reference": "TZ-BAD-3", "title": "x", "region_code": "440103"},        # row 6
            {"reference": "TZ-BAD-4", "title": "x", "region_code": "510104",
             "received_on": "2025-05-01", "accepted_on": "2025-04-01"}]               # row 7
    path = write(tmp_path / "bad.xlsx", rows)
    before = counts(app)
    r = app.test_cli_runner().invoke(args=["ledger", "import", str(path), "--as", "imp_officer"])
    assert r.exit_code == 1
    out = r.output
    assert "row 3, column 案件标题 title" in out
    assert "row 3, column 行政区划代码 region_code" in out
    assert "row 4, column 身份证号 petitioner_id_number" in out
    assert "row 5, column 案件编号 reference: the same reference as row 2" in out
    assert "row 6, column 行政区划代码 region_code: outside your jurisdiction" in out
    assert "row 7, column" in out and "nothing imported" in out
    assert "row 2" not in out.replace("as row 2", "")
    assert counts(app) == before


def test_the_same_file_twice_adds_nothing_and_dry_run_writes_nothing(app, tmp_path):
    with app.app_context():
        make_user("case_officer", "5101", name="imp_officer2")
        db.session.remove()
    path = write(tmp_path / "good.xlsx", GOOD)
    runner = app.test_cli_runner()
    before = counts(app)
    r = runner.invoke(args=["ledger", "import", str(path), "--as", "imp_officer2", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "would import 3 case(s)" in r.output and counts(app) == before
    r = runner.invoke(args=["ledger", "import", str(path), "--as", "imp_officer2"])
    assert r.exit_code == 0, r.output
    assert "imported 3 case(s); 0 already" in r.output
    first = counts(app)
    assert first["cases"] == before["cases"] + 3 and first["petitioners"] == before["petitioners"] + 3
    r = runner.invoke(args=["ledger", "import", str(path), "--as", "imp_officer2"])
    assert r.exit_code == 0, r.output
    assert "imported 0 case(s); 3 already in the ledger" in r.output
    assert counts(app) == first
    with app.app_context():
        from mediation.cases.models import Case

        case = db.session.execute(sa.select(Case).where(Case.reference == "TZ-2025-001")).scalar_one()
        assert case.departments == ["区自然资源局", "区住建局"] and case.times_handled == 2
        assert case.region_code == "510104" and case.petitioners[0].id_number_tail == "4321"
        types = [e.type for e in timeline.events_after(case.id)]
        assert types[:2] == ["case.created", "case.classified"]  # the intake command's events
        db.session.remove()


def test_export_masks_numbers(app, tmp_path):
    with app.app_context():
        make_user("case_officer", "5101", name="imp_officer3")
        db.session.remove()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["ledger", "import", str(write(tmp_path / "g.xlsx", GOOD)),
                               "--as", "imp_officer3"]).exit_code == 0
    r = runner.invoke(args=["ledger", "export", str(tmp_path / "out.xlsx")])
    assert r.exit_code == 0, r.output
    assert "wrote 3 case(s)" in r.output
    rows = list(load_workbook(tmp_path / "out.xlsx").worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 4
    text = "\n".join(str(v) for row in rows for v in row)
    for number in ("510104198001014321", "13912345678", "51010419900202567X", "13700001111"):
        assert number not in text
    assert "****************21" in text and "*******5678" in text
    # The export reads back as a ledger: same columns, so it can be edited and re-imported.
    assert list(rows[0][:len(KEYS)]) == [HEADERS[k] for k in KEYS]

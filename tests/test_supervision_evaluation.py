"""The third-party evaluation export: scanned for every name, identity and phone number of
the source data (none may appear); only evaluators (and admins) download it."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from tests.factories import case_payload

PEOPLE = [
    {"name": "张三丰", "id_number": "510104198001011234", "phone": "13800138000"},
    {"name": "李秀英", "id_number": "51010419751231002X", "phone": "028-85551234"},
    {"name": "Wang Wei", "id_number": "510105199912120011", "phone": "+8613911112222"},
]


def test_the_export_holds_no_name_identity_or_phone(api):
    officer = api.user("case_officer", "51")
    ids = []
    for i, p in enumerate(PEOPLE):
        body = case_payload(petitioners=[p], region_code="510104",
                            title=f"{p['name']}反映补偿问题", summary=f"{p['name']} 电话 {p['phone']}",
                            background=f"身份证 {p['id_number']}")
        ids.append(api.post("/api/cases", officer, body).get_json()["id"])
        assert ids[-1], i
    evaluator = api.user("evaluator")
    csv_r = api.get("/api/evaluation/export?format=csv", evaluator)
    xlsx_r = api.get("/api/evaluation/export?format=xlsx", evaluator)
    assert csv_r.status_code == 200 and xlsx_r.status_code == 200
    text = csv_r.get_data(as_text=True)
    wb = load_workbook(io.BytesIO(xlsx_r.data))
    xlsx_text = "\n".join(str(v) for row in wb.worksheets[0].iter_rows(values_only=True) for v in row)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 and all(r["case_pseudonym"].startswith("C") for r in rows)
    assert len({r["case_pseudonym"] for r in rows}) == 3
    assert str(ids[0]) not in {r["case_pseudonym"] for r in rows}
    digits = lambda s: "".join(ch for ch in s if ch.isdigit())  # noqa: E731
    for content in (text, xlsx_text):
        flat = digits(content)
        for p in PEOPLE:
            assert p["name"] not in content and p["name"].split()[0] not in content
            assert p["id_number"] not in content and digits(p["id_number"])[:17] not in flat
            phone = digits(p["phone"]).removeprefix("86")
            assert phone not in flat
            assert "补偿问题" not in content  # no free text at all: it can hold anything
    # Pseudonyms are stable across exports (a study can follow a case), ids never shown.
    again = list(csv.DictReader(io.StringIO(
        api.get("/api/evaluation/export", evaluator).get_data(as_text=True))))
    assert [r["case_pseudonym"] for r in again] == [r["case_pseudonym"] for r in rows]


def test_evaluators_download_this_and_nothing_else(api):
    officer = api.user("case_officer", "510104")
    case = api.case(officer)
    evaluator = api.user("evaluator")
    assert api.get("/api/evaluation/export", evaluator).status_code == 200
    assert api.get("/api/evaluation/export", api.user("admin")).status_code == 200
    for role, region in (("supervisor", "51"), ("case_officer", "510104"), ("mediator", None)):
        assert api.get("/api/evaluation/export", api.user(role, region)).status_code == 403
    assert api.get("/api/evaluation/export").status_code == 401
    assert api.get(f"/api/cases/{case['id']}", evaluator).status_code == 404
    assert api.get("/api/cases", evaluator).get_json()["items"] == []
    assert api.get("/api/reports/kpis", evaluator).status_code == 403
    assert api.get(f"/api/cases/{case['id']}/timeline", evaluator).status_code == 404

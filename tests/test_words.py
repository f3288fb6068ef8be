"""Words, not codes: region names from the shipped GB/T 2260 table, …"""

from __future__ import annotations

from mediation.regions import region_choices, region_name, region_words


def test_a_county_is_named_with_its_city_and_the_code_kept_for_hover(app):
    found = region_name("510104")
    assert (found.short, found.full) == ("成都市锦江区", "四川省成都市锦江区")
    assert region_words("5101") == "四川省成都市" and region_words("51") == "四川省"
    # 直辖市 and 省直辖县级 counties sit right under the province
    assert region_words("110101") == "北京市东城区" and region_words("429004") == "湖北省仙桃市"
    assert region_words(None) == "全国"
    with app.test_request_context():
        html = str(app.jinja_env.from_string("{{ '510104'|region }}").render())
    assert "成都市锦江区" in html and 'title="510104 四川省成都市锦江区"' in html


def test_an_abolished_code_keeps_its_name_and_an_unknown_one_is_said_to_be_unknown(app):
    old = region_name("130521")
    assert old.abolished and old.short == "邢台市邢台县"
    assert region_name("519999") is None and region_words("519999") == "519999"
    with app.test_request_context():
        html = str(app.jinja_env.from_string("{{ '519999'|region }}").render())
    assert "未知区划" in html


def test_the_picker_lists_the_jurisdictions_divisions_by_name():
    chengdu = dict(region_choices("510100"))
    assert chengdu["510104"] == "四川省成都市锦江区" and all(c.startswith("5101") for c in chengdu)
    assert "130521" not in dict(region_choices("13"))  # abolished codes are not offered


# --- classification by hand, sentences on the case page -----------------------------------

import re  # noqa: E402

import pytest  # noqa: E402
from flask_babel import refresh  # noqa: E402

from mediation.cases.models import Case  # noqa: E402
from mediation.extensions import db  # noqa: E402
from tests.factories import make_case, make_user  # noqa: E402
from tests.page_client import PageClient  # noqa: E402


@pytest.fixture
def web(app, csrf_on) -> PageClient:
    return PageClient(app)


def _case(case_id: int) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case_id)


def test_intake_takes_the_flags_that_decide_categories_3_to_6(web, ctx):
    officer = make_user("case_officer", "510104")
    web.sign_in(officer)
    form = web.text("/cases/new")
    for words in ("上级交办", "领导批示", "社会高度关注", "跨地区", "责任主体不明确或职责交叉",
                  "政策调整", "历史遗留", "典型性、代表性问题"):
        assert words in form, words
    r = web.post("/cases/new", {"title": "村道改线", "region_code": "510104", "petitioners-0-name": "王五",
                                "flags": ["leader_instruction", "cross_region", "responsibility_unclear",
                                          "historical_legacy", "typical_problem"],
                                "visits_in_person": "3", "flags-present": "1"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    case_id = int(r.headers["Location"].rsplit("/", 1)[1].split("#")[0])
    assert _case(case_id).category_mask == 0b111100  # categories 3, 4, 5, 6
    page = web.text(f"/cases/{case_id}")
    assert "跨地区，责任主体不明确或职责交叉" in page and "因历史遗留形成" in page
    assert "走访3次、网上投诉0次，属典型性、代表性问题" in page and "领导批示" in page
    assert "leader_instruction" not in re.sub(r'(value|name|title)="[^"]*"', "", page)


def test_the_case_page_sets_flags_and_overrides_a_category_with_its_reason(web, ctx):
    officer = make_user("case_officer", "510104")
    case = make_case(officer, flags=[], livelihood_fields=[], accepted_on=None)
    web.sign_in(officer)
    page = web.text(f"/cases/{case.id}")
    assert 'id="case-flags"' in page and 'id="case-category-override"' in page
    r = web.post(f"/cases/{case.id}/do/flags", {"flags": ["policy_change", "high_attention"],
                                                     "flags-present": "1"}, token_from=f"/cases/{case.id}")
    assert r.status_code == 302
    assert _case(case.id).category_mask == 0b110000  # 5 and 6
    r = web.post(f"/cases/{case.id}/do/category", {"category": "2", "action": "add", "reason": "征地补偿"},
                 token_from=f"/cases/{case.id}")
    assert r.status_code == 302
    assert _case(case.id).category_mask == 0b110010
    web.post(f"/cases/{case.id}/do/category", {"category": "6", "action": "remove", "reason": "批示已落实"},
             token_from=f"/cases/{case.id}")
    assert _case(case.id).category_mask == 0b010010
    page = web.text(f"/cases/{case.id}")
    assert "征地补偿（办案人员认定）" in page and "因政策调整形成" in page
    assert "积案归类</b>" in page and "归为第二类、第五类" in page  # the timeline says it
    # flags cleared, the officer's addition stays
    web.post(f"/cases/{case.id}/do/flags", {"flags-present": "1"}, token_from=f"/cases/{case.id}")
    assert _case(case.id).category_mask == 0b000010
    web.get("/lang/en")
    refresh()  # the test's app context outlives requests: forget the locale it cached
    page = web.text(f"/cases/{case.id}")
    assert "Category 2" in page and "decided by an officer" in page and "Classified in" in page


def test_a_status_change_reads_as_a_sentence_on_the_timeline(web, ctx):
    officer = make_user("case_officer", "510104")
    case = make_case(officer)
    web.sign_in(officer)
    web.post(f"/cases/{case.id}/do/status", {"status": "in_progress", "reason": "已受理"},
             token_from=f"/cases/{case.id}")
    page = web.text(f"/cases/{case.id}")
    assert "受理登记 → 化解中。原因：已受理" in page
    assert "case.status_changed" not in re.sub(r'title="[^"]*"', "", page)


# --- the ledger speaks the clerk's language (item 8) ---------------------------------------

def test_the_ledger_takes_the_clerks_words_and_writes_them_back(app, tmp_path):
    import sqlalchemy as sa
    from openpyxl import load_workbook

    from tests.test_supervision_ledger import write

    with app.app_context():
        make_user("case_officer", "5101", name="words_clerk")
        db.session.remove()
    rows = [{"reference": "ZW-1", "title": "物业费纠纷", "region_code": "成都市锦江区",
             "livelihood_fields": "物业管理", "assessment": "部分合理", "flags": "历史遗留、责任不明、跨部门",
             "received_on": "2025年3月1日", "accepted_on": "2025/3/8", "petition_channel": "来访",
             "petition_level": "县级", "petition_head_count": 2, "petitioner_name": "孙七"},
            {"reference": "ZW-2", "title": "学位", "region_code": "510105", "livelihood_fields": "education",
             "assessment": "reasonable"}]
    runner = app.test_cli_runner()
    path = write(tmp_path / "zh.xlsx", rows)
    r = runner.invoke(args=["ledger", "import", str(path), "--as", "words_clerk"])
    assert r.exit_code == 0, r.output
    with app.app_context():
        case = db.session.execute(sa.select(Case).where(Case.reference == "ZW-1")).scalar_one()
        assert (case.region_code, case.livelihood_fields, case.assessment) == (
            "510104", ["property_management"], "partly_reasonable")
        assert case.flags == ["cross_department", "historical_legacy", "responsibility_unclear"]
        assert str(case.received_on) == "2025-03-01" and str(case.accepted_on) == "2025-03-08"
        db.session.remove()
    r = runner.invoke(args=["ledger", "export", str(tmp_path / "out.xlsx")])
    assert r.exit_code == 0, r.output
    sheet = list(load_workbook(tmp_path / "out.xlsx").worksheets[0].iter_rows(values_only=True))
    header, row = sheet[0], next(x for x in sheet if x[0] == "ZW-1")
    got = dict(zip(header, row, strict=False))
    assert got["民生领域 livelihood_fields"] == "物业管理"
    assert got["诉求评估 assessment"] == "诉求部分合理"
    assert got["标记 flags"] == "跨部门、历史遗留、责任主体不明确或职责交叉"
    assert got["行政区划 region_name"] == "四川省成都市锦江区" and got["状态 status"] == "受理登记"
    assert "第二类" in got["六类积案 categories"] and "第三类" in got["六类积案 categories"]
    # the export reads back: its words are taken (the same references are skipped)
    r = runner.invoke(args=["ledger", "import", str(tmp_path / "out.xlsx"), "--as", "words_clerk",
                            "--dry-run"])
    assert r.exit_code == 0, r.output


def test_each_ledger_error_stands_under_its_own_column(app, tmp_path):
    from tests.test_supervision_ledger import write

    with app.app_context():
        make_user("case_officer", "5101", name="words_clerk2")
        db.session.remove()
    rows = [{"reference": "ZE-1", "title": "x", "region_code": "成都市", "livelihood_fields": "物业费",
             "petition_channel": "传真", "petitioner_name": "甲；乙", "petitioner_phone": "123；13800138000"},
            {"reference": "ZE-2", "title": "x", "region_code": "朝阳区", "assessment": "有点道理"},
            {"reference": "ZE-3", "title": "x", "region_code": "510104", "petition_level": "县级",
             "petition_head_count": 0}]
    r = app.test_cli_runner().invoke(args=["ledger", "import", str(write(tmp_path / "e.xlsx", rows)),
                                           "--as", "words_clerk2"])
    assert r.exit_code == 1
    out = r.output
    assert "row 2, column 民生领域 livelihood_fields: “物业费”不是可填的值；可填：征地拆迁" in out
    assert "row 2, column 信访形式 petition_channel: “传真”不是可填的值" in out
    assert "row 2, column 联系电话 petitioner_phone" in out
    assert "row 3, column 行政区划代码 region_code: 没有名为“朝阳区”的行政区划" in out  # not in 5101
    assert "row 3, column 诉求评估 assessment: “有点道理”不是可填的值" in out
    assert "row 4, column 来访人数 petition_head_count" in out
    assert "column channel" not in out and "column petitioners" not in out


def test_users_are_picked_by_name_never_typed_as_a_number(web, ctx):
    officer = make_user("case_officer", "510104")
    lead = make_user("lead_official", "5101", name="lead_words")
    lead.display_name = "周包案"
    db.session.commit()
    web.sign_in(officer)
    board = web.text("/board")
    assert "周包案（四川省成都市）" in board
    assert not re.search(r'<input[^>]*name="owner"', board)


def test_refusals_and_404_pages_are_said_in_words(web, ctx):
    officer = make_user("case_officer", "510104")
    case = make_case(officer, flags=[], livelihood_fields=["education"])
    web.sign_in(officer)
    r = web.post(f"/cases/{case.id}/do/category", {"category": "2", "action": "add", "reason": "x"},
                 token_from=f"/cases/{case.id}")
    page = web.text(r.headers["Location"].split("#")[0])
    assert "本案已属第2类" in page and "category 2 already applies" not in page
    web.post(f"/cases/{case.id}/do/status", {"status": "resolved", "reason": "x"},
             token_from=f"/cases/{case.id}")
    page = web.text(f"/cases/{case.id}")
    assert "“受理登记”的案件不能改为“已化解”" in page and "当前状态：受理登记" in page
    missing = web.get("/cases/999999")
    assert missing.status_code == 404
    assert "案件不存在，或您无权查看" in missing.get_data(as_text=True)
    web.get("/lang/en")
    refresh()
    missing = web.get("/cases/999999").get_data(as_text=True)
    assert "does not exist, or is not yours to see" in missing and "not found" not in missing


def test_the_areas_events_are_said_from_their_data(app):
    from mediation.cases.sentences import event_sentence

    with app.test_request_context():
        said = event_sentence({"type": "agreement.confirmation_applied",
                               "data": {"applied_on": "2025-03-10", "court": "锦江区人民法院"}})
        assert said == "2025年3月10日向锦江区人民法院申请司法确认"
        said = event_sentence({"type": "referral.offered",
                               "data": {"provider_name": "锦江调解室", "need": "legal_opinion"}})
        assert said == "邀请锦江调解室承接“法律意见”"
        # an event whose data the sentence does not know still reads as its words
        assert event_sentence({"type": "agreement.confirmation_decided", "data": None}) is not None

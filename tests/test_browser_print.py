"""The printed mediation agreement as a person holds it: Chromium prints the served page to
PDF with the app's own print stylesheet (A4 from `@page`), and pypdf reads it back page by
page — the page count, a page number on every page, no near-empty page, and each signature
block whole on one page. The case page and the printed agreement are kept, in Chinese, as
screenshots under test-artifacts/screenshots/ (and the PDF beside them)."""

from __future__ import annotations

import io
import re
import unicodedata

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser import SHOTS, DemoServer, shot, sign_in

pytestmark = pytest.mark.slow

CASE_TITLE = "锦江区某村征地拆迁补偿款未足额发放"
A4_POINTS = (595, 842)  # 210 × 297 mm at 72 points to the inch, rounded
# Thirteen terms, as a long agreement has: enough for the text to run onto a second page.
TERMS = "\n".join(
    f"{n}. 区自然资源局于本协议生效之日起三十日内，向张三补发第{n}批地上附着物补偿款人民币"
    f"{n * 1000}元，并按同期贷款市场报价利率支付自2019年6月1日起至实际支付之日止的利息；"
    "张三收到款项后，就本次征地补偿事项不再重复信访。" for n in range(1, 14))


# The CJK fonts map some characters to radicals in the PDF's text layer (⺠ for 民, ⻚ for
# 页); NFKC folds the Kangxi radicals, these are the supplement's ones met here.
RADICALS = str.maketrans({"⺠": "民", "⻚": "页", "⻓": "长", "⻅": "见", "⻔": "门", "⻋": "车",
                          "⻛": "风", "⻢": "马", "⻉": "贝", "⻩": "黄", "⻘": "青", "⻝": "食"})


def norm(text: str) -> str:
    """Text as a reader compares it: compatibility forms folded, no spacing."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).translate(RADICALS))


def text_of(page) -> str:
    return norm(page.extract_text() or "")


def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json() if r.content else {}


@pytest.fixture(scope="module")
def agreement(demo_server: DemoServer) -> dict:
    """A demo case whose mediator drafted, finalised and had signed an agreement with
    three parties (the petitioner by fingerprint, the respondent by seal, and a third party
    not yet signed) and long terms."""
    demo = demo_server
    cases = ok(demo.api("GET", "/api/cases?page_size=100", "officer"))
    items = cases["items"] if isinstance(cases, dict) else cases
    case = next(c for c in items if c["title"] == CASE_TITLE)
    providers = ok(demo.api("GET", "/api/providers?page_size=100", "officer"))
    provider = next(p for p in (providers["items"] if isinstance(providers, dict) else providers)
                    if p["kind"] == "mediator")
    referral = ok(demo.api("POST", f"/api/cases/{case['id']}/referrals", "officer",
                           {"need": "economic_compensation", "provider_id": provider["id"]}), 201)
    ok(demo.api("POST", f"/api/referrals/{referral['id']}/accept", "mediator", {}))
    content = {
        "parties": [
            {"name": "张三", "role": "petitioner", "details": "男，1968年生，汉族，锦江区某村村民"},
            {"name": "锦江区某街道办事处", "role": "respondent", "details": "负责人：李四，主任"},
            {"name": "成都某建设公司", "role": "respondent", "details": "法定代表人：王五"},
        ],
        "facts": "2019年6月，某村集体土地被征收，张三家地上附着物补偿款未足额发放，张三此后多次信访。" * 3,
        "matters_in_dispute": "地上附着物补偿款差额及迟延发放的利息。",
        "responsibilities": "街道办事处对补偿款迟延发放负主要责任；建设公司对附着物清点遗漏负次要责任。",
        "terms": TERMS,
        "performance_manner": "银行转账至张三本人账户，街道办事处负责督促。",
        "performance_time_limit": "本协议生效之日起三十日内履行完毕。",
    }
    a = ok(demo.api("POST", f"/api/cases/{case['id']}/agreements", "mediator", content), 201)
    final = ok(demo.api("POST", f"/api/agreements/{a['id']}/finalise", "mediator", {}))
    for index, method in ((0, "fingerprint"), (1, "seal")):
        ok(demo.api("POST", f"/api/agreements/{a['id']}/sign", "officer",
                    {"signer": "party", "party_index": index, "method": method}))
    return {"id": a["id"], "case_id": case["id"], "document_no": final["document_no"],
            "issuer": final["issuer"]}


def _blocks_whole(pages: list[str], starts: list[str]) -> dict[str, int]:
    """The page of each signature block, asserting it is whole there: its start, its box
    and its date line on one page (the text of a block runs from its start to the next)."""
    end = norm("（以下无正文）")  # the blocks follow the text's end
    first = next(i for i, text in enumerate(pages) if end in text)
    pages = ["" if i < first else text.split(end, 1)[1] if i == first else text
             for i, text in enumerate(pages)]
    where: dict[str, int] = {}
    for start in starts:
        found = [i for i, text in enumerate(pages) if start in text]
        assert len(found) == 1, (start, found)
        text = pages[found[0]]
        rest = text[text.index(start) + len(start):]
        nxt = min((rest.index(s) for s in starts if s != start and s in rest), default=len(rest))
        block = rest[:nxt]
        assert re.search(r"签名、盖章或按指印|盖章", block), (start, block)
        assert "日期" in block and "年" in block and "日" in block, (start, block)
        where[start] = found[0]
    return where


def test_the_printed_agreement_is_a4_numbered_and_each_signature_block_on_one_page(
        contexts, demo_server, agreement):
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "officer")
    page.goto(f"{base}/agreements/{agreement['id']}/print")
    assert page.inner_text("#doc-title") == "人民调解协议书"
    assert page.inner_text("#issuer") == agreement["issuer"] == "锦江区人民调解委员会"
    assert re.fullmatch(r"〔\d{4}〕人调字第\d+号", page.inner_text("#doc-no"))
    shot(page, "agreement-print-screen")
    page.emulate_media(media="print")
    shot(page, "agreement-print")
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    (SHOTS / "agreement-print.pdf").write_bytes(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    compact = [text_of(p) for p in reader.pages]
    # A4, every page: the stylesheet's @page, not Chromium's default Letter.
    for p in reader.pages:
        assert (round(float(p.mediabox.width)), round(float(p.mediabox.height))) == A4_POINTS
    # Thirteen long terms and five signature blocks: four pages, the blocks following the
    # text, none of them a near-empty page (a page number and a line or two).
    assert len(compact) == 4, [len(t) for t in compact]
    for number, text in enumerate(compact, start=1):
        assert f"第{number}页共{len(compact)}页" in text, text[:60]
        assert len(text) > 45, f"page {number} is nearly empty: {text}"
    # One document number, one title, and no doubled title on the mediator's block.
    assert sum(t.count(norm(agreement["document_no"])) for t in compact) == 1
    assert norm("人民调解员（人民调解员") not in "".join(compact)
    assert norm("（以下无正文）") in "".join(compact)
    starts = [norm(s) for s in ("信访人：张三", "被反映方：锦江区某街道办事处", "被反映方：成都某建设公司",
                                "人民调解员：孙调解", "锦江区人民调解委员会（印章）")]
    where = _blocks_whole(compact, starts)
    assert list(where.values()) == sorted(where.values())
    # The recorded signatures with their Chinese dates, beside the blocks they belong to.
    signer_page = compact[where[starts[0]]]
    assert re.search(norm("已记录：按指印") + r"\d{4}年\d{1,2}月\d{1,2}日", signer_page), signer_page


def test_the_case_page_in_chinese(contexts, demo_server, agreement):
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "officer")
    page.goto(f"{base}/cases/{agreement['case_id']}")
    page.wait_for_selector("h1")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    ids = page.evaluate("""() => {
        const seen = {}; document.querySelectorAll('[id]').forEach(e => seen[e.id] = (seen[e.id] || 0) + 1);
        return Object.entries(seen).filter(([k, n]) => n > 1).map(([k]) => k); }""")
    assert ids == [], f"duplicate ids on the case page: {ids}"
    # The head's facts read as one line of words (a sessions stylesheet once laid them out
    # as a two-column grid: "区划：" on one side, the region under the status badge).
    assert page.eval_on_selector("p.facts", "e => getComputedStyle(e).display") == "block"
    shot(page, "case-page-zh")
    shot(page, "case-page-zh-top", full_page=False)  # what the officer sees first
    page.locator("#part-case_referrals").screenshot(path=str(SHOTS / "case-page-zh-referrals.png"))


WIDER_THAN_VIEWPORT = """() => {
    const w = document.documentElement.clientWidth;
    const out = [];
    document.querySelectorAll('body *').forEach(e => {
        const r = e.getBoundingClientRect();
        if (r.right > w + 1 && getComputedStyle(e).position !== 'fixed') {
            const name = e.id ? '#' + e.id : e.tagName.toLowerCase() + '.' + e.className;
            out.push(name + ' ' + Math.round(r.right - w));
        }
    });
    return {over: document.documentElement.scrollWidth - w, culprits: out.slice(0, 12)};
}"""


@pytest.mark.parametrize("width", [768, 1024])
def test_the_english_board_fits_a_tablet(contexts, demo_server, width):
    base = demo_server.base
    page = contexts(locale="en", viewport={"width": width, "height": 1024}).new_page()
    sign_in(page, base, "officer")
    page.goto(base + "/lang/en?next=/board")
    page.wait_for_url(base + "/board")
    assert page.locator("html").get_attribute("lang") == "en"
    found = page.evaluate(WIDER_THAN_VIEWPORT)
    assert found["over"] <= 0, found


def test_actions_ask_first_saying_what_will_happen_and_answer_where_the_user_is(
        contexts, demo_server, agreement):
    """Withdrawing a referral names what happens to the need; a status change names the new
    status; "no" sends nothing; "yes" acts, and the result appears in the section acted on,
    in view, not at the top of the page."""
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "officer")
    page.goto(f"{base}/cases/{agreement['case_id']}")
    row = page.locator("#part-case_referrals tr[data-referral]").first
    row.locator("input[name=reason]").fill("承接方人手不足")
    row.locator("button", has_text="撤回并取消此需求").click()
    dialog = page.locator("dialog.confirm-dialog")
    expect(dialog).to_be_visible()
    assert "取消" in dialog.inner_text() and "不再邀请任何人" in dialog.inner_text()
    dialog.locator("button", has_text="不，返回").click()
    expect(dialog).to_have_count(0)
    assert page.url == f"{base}/cases/{agreement['case_id']}"  # nothing was sent

    actions = page.locator("#part-case_actions")
    actions.locator("summary", has_text="变更状态").click()
    select = actions.locator("#f-status-status")
    chosen = select.locator("option").nth(1)
    words = chosen.inner_text()
    select.select_option(chosen.get_attribute("value"))
    actions.locator("#f-status-reason").fill("与信访人达成一致，进入下一阶段")
    actions.locator("button", has_text="变更").click()
    expect(dialog).to_be_visible()
    assert f"“{words}”" in dialog.inner_text()
    dialog.locator("button[data-confirm-ok]").click()
    page.wait_for_load_state("load")
    result = page.locator("#part-case_actions .action-result")
    expect(result).to_be_visible()
    assert result.locator(".flash.ok").count() == 1, result.inner_text()
    box = result.bounding_box()
    assert box is not None and 0 <= box["y"] <= page.viewport_size["height"] - box["height"], box
    shot(page, "case-page-action-result", full_page=False)

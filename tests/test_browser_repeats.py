"""The intake page in a real browser (Chromium) against `mediation serve` with the demo data:
a returning petitioner (张建囯 for the demo's 张建国, same county, same matter) is shown
beside the form before saving, and the officer links the petition to the existing case."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import shot, sign_in

pytestmark = pytest.mark.slow


def test_intake_shows_the_candidates_and_links_the_petition(contexts, demo_server):
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "officer_jj")
    before = demo_server.api("GET", "/api/cases?q=张建国", "officer_jj").json()["items"]
    [existing] = [c for c in before if c["region_code"] == "510104"]
    total = demo_server.api("GET", "/api/cases", "officer_jj").json()["total"]
    page.goto(base + "/cases/new")
    page.fill("#f-title", "再次反映征地补偿款")
    page.select_option("#f-region_code", "510104")
    page.fill("#f-departments", "区自然资源局")
    page.fill("#f-summary", "村民反映集体土地征收后补偿款未足额发放")
    page.fill("#f-petitioners-0-name", "张建囯")
    page.select_option("#f-petition-channel", "visit")
    page.select_option("#f-petition-level", "city")
    page.fill("#f-petition-head_count", "3")
    page.click("#check-repeats")
    aside = page.locator("#repeat-candidates")
    expect(aside).to_be_visible()
    item = aside.locator(f"[data-candidate='{existing['id']}']")
    expect(item).to_contain_text(existing["reference"])
    expect(item).to_contain_text("同县姓名同音")
    expect(item.locator(".badge.warn")).to_be_visible()
    assert "510104196805121234" not in page.inner_text("main")  # masked
    # side by side on a desktop: the candidates to the right of the form
    form_box = page.locator(".intake-main").bounding_box()
    aside_box = aside.bounding_box()
    assert aside_box["x"] >= form_box["x"] + form_box["width"] - 1
    assert page.input_value("#f-petitioners-0-name") == "张建囯"  # what was typed is kept
    shot(page, "repeats-01-candidates")
    item.locator("input[name=repeat_of]").check()
    page.click("#save-intake")
    page.wait_for_url(f"{base}/cases/{existing['id']}")
    expect(page.locator("main")).to_contain_text("重复信访")
    case = demo_server.api("GET", f"/api/cases/{existing['id']}", "officer_jj").json()
    assert case["petition_count"] == existing["petition_count"] + 1
    assert case["petitions"][-1]["repeat"] and case["petitions"][-1]["skip_level"]
    assert demo_server.api("GET", "/api/cases", "officer_jj").json()["total"] == total  # no new case

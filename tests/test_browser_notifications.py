"""The notification centre in a real browser (Playwright on Debian's Chromium) against
`mediation serve` with the demo data: an offer made through the API by an officer raises
the demo mediator's header badge on an open page without a reload; the list at
/notifications shows it, opening it leads to the case and marks it read."""

from __future__ import annotations

import pytest

from tests.browser import LIVE_WAIT_MS, shot, sign_in, wait_live
from tests.test_browser_providers import (
    LAND_CASE,
    case_id,
    mark_page,
    provider_id,
    request_referral,
    still_same_page,
)

pytestmark = pytest.mark.slow


def test_an_offer_raises_the_badge_live_and_the_list_leads_to_the_case(contexts, demo_server):
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "mediator")
    wait_live(page)
    assert page.get_attribute("#part-notif_badge [data-unread]", "data-unread") == "0"
    mark_page(page)

    case = case_id(demo_server, LAND_CASE)
    request_referral(demo_server, case, "economic_compensation", provider_id(demo_server, "mediator"))
    page.wait_for_selector('#part-notif_badge [data-unread="1"]', timeout=LIVE_WAIT_MS)
    assert still_same_page(page), "the badge rose without a reload"
    shot(page, "notifications-01-badge")

    page.click("#part-notif_badge")
    page.wait_for_url(base + "/notifications")
    wait_live(page)
    item = page.locator("#part-notif_list li.notification.unread")
    assert item.count() == 1 and "发出转介邀请" in item.inner_text()
    shot(page, "notifications-02-list")
    item.get_by_role("button", name="发出转介邀请").click()
    page.wait_for_url(f"{base}/cases/{case}")
    assert page.get_attribute("#part-notif_badge [data-unread]", "data-unread") == "0"


PHONE_SIZE = {"width": 375, "height": 667}  # an iPhone SE


def test_the_query_page_on_a_phone_shows_milestones_and_takes_consent(contexts, demo_server):
    base = demo_server.base
    case = case_id(demo_server, LAND_CASE)
    detail = demo_server.api("GET", f"/api/cases/{case}", "officer").json()
    person = next(p for p in detail["petitioners"] if p.get("phone"))
    tail = person["phone"][-4:]  # the masked number shows its last four digits
    r = demo_server.api("POST", f"/api/cases/{case}/receipts", "officer", {"petitioner_id": person["id"]})
    assert r.status_code == 201, r.text
    code = r.json()["code"]

    page = contexts(viewport=PHONE_SIZE).new_page()
    page.goto(base + "/q")
    page.fill("#code", code.replace("-", "").lower())  # as typed on a phone: no dashes, lower case
    page.fill("#phone_tail", "0000" if tail != "0000" else "1111")
    page.click("#query-button")
    assert "不正确" in page.inner_text("#query-error")
    page.fill("#code", code)
    page.fill("#phone_tail", tail)
    page.click("#query-button")
    page.wait_for_url(base + "/q/case")
    steps = page.locator("#milestones li")
    assert steps.count() == 6 and page.locator('#milestones li.done[data-step="received"]').count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling"
    shot(page, "query-01-milestones-phone")
    page.click("#consent-button")
    page.wait_for_selector("#consent-given")
    shot(page, "query-02-consented-phone")
    r = demo_server.api("GET", f"/api/cases/{case}/timeline", "officer")
    assert r.status_code == 200, r.text
    assert any(e["type"] == "petitioner.consented" for e in r.json()["events"])

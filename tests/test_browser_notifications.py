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

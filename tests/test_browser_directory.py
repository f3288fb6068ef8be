"""The directory and a provider's own settings in Chromium against the served demo: the demo
mediator asks for another capacity and goes on leave on 我的服务设置; the admin finds the
provider in 服务力量名录, sees the request, a refused change shown beside its field, grants
the request and deactivates and restores the provider. Screenshots (test-artifacts/)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import nav_link, shot, sign_in

pytestmark = pytest.mark.slow

PROVIDER = "锦江区人民调解委员会"


def test_self_service_and_the_directory_pages(contexts, demo_server):
    base = demo_server.base
    me = contexts().new_page()
    sign_in(me, base, "mediator")
    nav_link(me, "我的服务设置").click()
    expect(me.locator("h1")).to_have_text("我的服务设置")
    assert PROVIDER in me.inner_text("#provider-summary")
    me.uncheck("#f-available")
    me.fill("#f-away_until", "2031-03-01")
    me.fill("#f-requested_capacity", "2000")  # out of range: refused beside the field
    me.click("#self-service-form button[type=submit]")
    me.wait_for_selector("#requested_capacity-error")
    assert me.get_attribute("#f-requested_capacity", "aria-invalid") == "true"
    me.fill("#f-requested_capacity", "8")
    me.fill("#f-capacity_request_note", "新增两名专职调解员")
    me.click("#self-service-form button[type=submit]")
    me.wait_for_selector("#pending-request")
    assert me.input_value("#f-away_until") == "2031-03-01" and not me.is_checked("#f-available")
    shot(me, "provider-self-service")

    admin = contexts().new_page()
    sign_in(admin, base, "admin")
    nav_link(admin, "服务力量名录").click()
    expect(admin.locator("#pending-requests")).to_contain_text("1")
    admin.fill("#f-q", "锦江区人民调解")
    admin.click("#directory-search button[type=submit]")
    row = admin.locator("#providers tbody tr", has_text=PROVIDER)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("申请调整为 8")
    expect(row).to_contain_text("休假至 2031-03-01")
    shot(admin, "provider-directory")
    row.locator("text=修改").click()
    expect(admin.locator("#capacity-request")).to_contain_text("新增两名专职调解员")
    admin.fill("#f-regions", "5101, 51x")
    admin.click("#provider-form button[type=submit]")
    admin.wait_for_selector("#regions-error")
    assert "51x：行政区划代码不正确" in admin.inner_text("#regions-error")
    assert admin.input_value("#f-name") == PROVIDER  # what was typed is kept
    shot(admin, "provider-edit-refused")
    admin.click("#capacity-request button[value=grant]")
    expect(admin.locator("#provider-state")).to_contain_text("承接量 8 件")
    expect(admin.locator("#capacity-request")).to_have_count(0)
    admin.click("#deactivate")
    expect(admin.locator("#reactivate")).to_be_visible()
    admin.click("#reactivate")
    expect(admin.locator("#deactivate")).to_be_visible()
    me.reload()
    expect(me.locator("#pending-request")).to_have_count(0)
    assert "承接量 8 件" in me.inner_text("#provider-summary")

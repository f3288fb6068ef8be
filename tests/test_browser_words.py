"""One Chromium smoke for words, not codes: the case page a county officer
opens shows the region by name with its code on hover, categories by name, the timeline
as sentences, and the flags that decide categories; the same page in English glosses the
Chinese terms. The full check over every page runs on the test client
(tests/test_words_pages.py)."""

from __future__ import annotations

import re

import pytest

from tests.browser import shot, sign_in

pytestmark = pytest.mark.slow


def test_the_case_page_reads_as_words_in_chromium(contexts, demo_server):
    base = demo_server.base
    page = contexts().new_page()
    sign_in(page, base, "officer_jj")
    page.goto(base + "/board")
    hrefs = page.eval_on_selector_all("a[href^='/cases/']", "els => els.map(e => e.getAttribute('href'))")
    href = next(h for h in hrefs if re.fullmatch(r"/cases/\d+", h))
    page.goto(base + href)
    region = page.locator(".facts .region").first
    assert region.inner_text() == "成都市锦江区"
    assert region.get_attribute("title").startswith("510104 ")
    main = page.inner_text("main")
    assert "积案归类" in main and "case.classified" not in main and "accepted " not in main
    page.locator("#case-flags summary").click()
    assert page.locator("#case-flags input[value='leader_instruction']").is_visible()
    shot(page, "words-case-page-zh")
    page.goto(base + "/lang/en?next=" + href)
    main = page.inner_text("main")
    assert "Case file (一案一档)" in main and "case.classified" not in main
    shot(page, "words-case-page-en")

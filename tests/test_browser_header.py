"""The top bar on one line: at 1280 px every demo role's header holds its
links, the "更多" menu, the search box, the language links, the user's name and the logout
button on one line, nothing wider than the window. In English (longer words) the bar of
the two roles with the most links may take two lines, but nothing overflows and the logout
button is in line. At tablet widths (768, 1024) it may wrap but never overflows, and the
"更多" menu works from the keyboard (Tab to it, Enter opens, the links are reachable, Esc
closes it and keeps the focus there)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from mediation.demo import DEMO_PASSWORD, USERS
from tests.browser import TABLET, shot, sign_in

pytestmark = pytest.mark.slow

# The bar's items, each with its box: on one line their vertical middles coincide with the
# logout button's, and nothing may reach past the window's right edge.
MEASURE = """() => {
  const bar = document.querySelector("header.bar");
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, right: r.right, left: r.left};
  };
  const named = (el) => (el.className || el.tagName) + " " + (el.textContent || "").trim().slice(0, 20);
  const parts = ":scope > *:not(.skip), .menu > a, .menu > details > summary, form.inline button";
  const items = [...bar.querySelectorAll(parts)]
    .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden"
                    && el.getBoundingClientRect().width > 0);
  return {
    bar: box(bar), width: window.innerWidth, scroll: document.documentElement.scrollWidth,
    logout: box(bar.querySelector("form.inline button")),
    items: items.map((el) => ({name: named(el), ...box(el)})),
  };
}"""


def header_problems(page: Page, one_line: bool = True) -> list[str]:
    m = page.evaluate(MEASURE)
    found = []
    if m["scroll"] > m["width"]:
        found.append(f"the page is {m['scroll']} px wide in a {m['width']} px window")
    found += [f"{i['name']!r} reaches {i['right']:.0f} px, past {m['width']}" for i in m["items"]
              if i["right"] > m["width"] + 0.5 or i["left"] < -0.5]
    if one_line:
        # one line: every item's vertical middle where the logout button's is (the bar
        # centres its items; a wrapped or pushed-down item is off by a line or a margin)
        middle = (m["logout"]["top"] + m["logout"]["bottom"]) / 2
        found += [f"{i['name']!r} is off the logout button's line (middle "
                  f"{(i['top'] + i['bottom']) / 2:.0f} vs {middle:.0f})"
                  for i in m["items"] if abs((i["top"] + i["bottom"]) / 2 - middle) > 3]
        tallest = max(i["bottom"] - i["top"] for i in m["items"])
        high = m["bar"]["bottom"] - m["bar"]["top"]
        if high > tallest + 24:
            found.append(f"the bar is {high:.0f} px high for items of {tallest:.0f}")
    return found


def sign_in_as(page: Page, base: str, username: str) -> None:
    """Sign in; a party's and a department's start page is elsewhere than "/"."""
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def sign_out(page: Page, base: str) -> None:
    page.locator("header.bar form.inline button").click()
    page.wait_for_url(lambda url: "/login" in url)


def test_every_roles_header_is_one_line_at_1280(contexts, demo_server):
    base = demo_server.base
    page = contexts().new_page()  # DESKTOP: 1280 x 800
    found: dict[str, list[str]] = {}
    for username, *_ in USERS:
        sign_in_as(page, base, username)
        if username in ("supervisor", "officer"):
            page.goto(base + "/board")
        if username in ("supervisor", "officer", "mediator"):
            shot(page, f"header-1280-{username}", full_page=False)
        if problems := header_problems(page):
            found[username] = problems
        sign_out(page, base)
    assert not found, found


@pytest.mark.parametrize("username", ["supervisor", "officer"])
def test_the_english_header_fits_the_window(contexts, demo_server, username):
    base = demo_server.base
    page = contexts(locale="en").new_page()
    sign_in(page, base, username)
    page.goto(base + "/lang/en?next=/board")
    assert "Case board" in page.inner_text("header")
    shot(page, f"header-1280-{username}-en", full_page=False)
    # The English words are longer (the title alone is 420 px): the bar may take two lines,
    # but nothing overflows and the logout button sits in line with the user's name.
    assert not header_problems(page, one_line=False)
    logout, who = (page.locator(s).bounding_box() for s in ("header form.inline button", "header .who"))
    assert abs((logout["y"] + logout["height"] / 2) - (who["y"] + who["height"] / 2)) <= 3, (logout, who)


@pytest.mark.parametrize("width", [768, 1024])
def test_the_more_menu_on_a_tablet_by_keyboard(contexts, demo_server, width):
    base = demo_server.base
    page = contexts(viewport={**TABLET, "width": width}).new_page()
    sign_in(page, base, "supervisor")
    assert not header_problems(page, one_line=False)
    menu = page.locator("header details.more")
    summary = menu.locator("summary")
    hidden_link = menu.locator("a").first
    expect(hidden_link).to_be_hidden()
    summary.focus()
    page.keyboard.press("Enter")
    expect(hidden_link).to_be_visible()
    # the open menu fits in the window
    box = menu.locator("ul").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    page.keyboard.press("Tab")
    expect(hidden_link).to_be_focused()
    shot(page, f"header-{width}-more-open", full_page=False)
    page.keyboard.press("Escape")
    expect(hidden_link).to_be_hidden()
    expect(summary).to_be_focused()
    # following a link under "更多" marks the menu as where the user is
    summary.click()
    href = hidden_link.get_attribute("href")
    hidden_link.click()
    page.wait_for_url(base + href)
    expect(page.locator("header details.more summary.current")).to_have_count(1)
    expect(page.locator(f"header details.more a[href='{href}'][aria-current=page]")).to_have_count(1)
    assert not header_problems(page, one_line=False)

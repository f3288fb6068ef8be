"""Words, not codes, on every page: for each role of the demo, every page
reachable by following the links from the start page (the test client renders them; no
browser) is read as its reader reads it — the visible text, not the markup — in Chinese
and in English.

- a Chinese page shows no English sentence and no identifier-looking token (`snake_case`,
  `a.b`);
- an English page shows no identifier-looking token, and no text that is one of the
  catalogue's Chinese strings left untranslated. Chinese proper names (regions, people,
  what people typed) stay Chinese on English pages: they are data, not the page's words;
  regions are marked `lang="zh-CN"`.

What the check found is listed in full when it fails, with the page and the role.
"""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from mediation.demo import DEMO_PASSWORD, USERS, load_demo
from mediation.extensions import db
from tests.page_client import PageClient

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "mediation" / "translations" / "en" / "LC_MESSAGES" / "messages.po"

MAX_PAGES = 45  # per role and language: every kind of page, not every case
SKIP = re.compile(r"^/(static|api|logout|lang|metrics|health)|\.(xlsx|csv|pdf|zip|json|png|svg|ico)(\?|$)"
                  r"|download|export|/files/|/raw")
CJK = re.compile(r"[\u4e00-\u9fff]")
# snake_case or dotted names (agreement.confirmation_applied), not file names, addresses or numbers
IDENTIFIER = re.compile(r"(?<![\w./@:-])(?:[a-z][a-z0-9]*_[a-z0-9_]+|[a-z]+\.[a-z][a-z_]+)(?![\w/@-])")
FILE_LIKE = re.compile(r"\.(xlsx|pdf|csv|html|js|css|png|jpg|docx|ofd|heic|zip|txt)$")
ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[ ,']+[A-Za-z]{2,}){2,}")  # three words or more


class _Text(HTMLParser):
    """The text a reader sees, with the language each piece is marked in."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "source", "wbr", "area", "base", "col"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None, bool]] = []  # (tag, lang, hidden)
        self.pieces: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        a = dict(attrs)
        lang = a.get("lang") or (self.stack[-1][1] if self.stack else None)
        # <code> holds a literal the reader types or finds in a file (a spreadsheet's column
        # name), shown beside its words: not the page's words
        hidden = tag in ("script", "style", "template", "code") or bool(self.stack and self.stack[-1][2])
        self.stack.append((tag, lang, hidden))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        text = data.strip()
        if text and not (self.stack and self.stack[-1][2]):
            self.pieces.append((text, self.stack[-1][1] if self.stack else None))


def visible(html: str) -> list[tuple[str, str | None]]:
    parser = _Text()
    parser.feed(html)
    return parser.pieces


def catalogue_strings() -> set[str]:
    with PO.open("rb") as f:
        return {m.id for m in read_po(f) if isinstance(m.id, str) and m.string and CJK.search(m.id)
                and "%(" not in m.id and len(m.id) >= 2}


def problems(html: str, english: bool, source: set[str]) -> list[str]:
    found = []
    for text, lang in visible(html):
        for token in IDENTIFIER.findall(text):
            if not FILE_LIKE.search(token):
                found.append(f"identifier {token!r} in {text[:80]!r}")
        if english:
            if (lang or "").startswith("zh"):
                continue
            if text in source:
                found.append(f"untranslated {text!r}")
        elif CJK.search(text) or not lang or not lang.startswith("en"):
            for sentence in ENGLISH_SENTENCE.findall(text):
                found.append(f"English {sentence!r} in {text[:80]!r}")
    return found


def _shape(path: str) -> str:
    return re.sub(r"\d+", "N", path.split("?")[0])


def crawl(web: PageClient, english: bool, source: set[str]) -> tuple[int, dict[str, list[str]]]:
    """Follow the links from the start page; at most two pages of one shape (case pages)."""
    seen: set[str] = set()
    shapes: dict[str, int] = {}
    queue = deque(["/"])
    report: dict[str, list[str]] = {}
    pages = 0
    while queue and pages < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        shape = _shape(path)
        if shapes.get(shape, 0) >= 2:
            continue
        r = web.get(path)
        if r.status_code != 200 or "text/html" not in r.content_type:
            continue
        shapes[shape] = shapes.get(shape, 0) + 1
        pages += 1
        html = r.get_data(as_text=True)
        found = problems(html, english, source)
        if found:
            report[path] = sorted(set(found))
        for href in re.findall(r'href="(/[^"#]*)"', html):
            href = href.replace("&amp;", "&")
            if not SKIP.search(href) and "part=" not in href and href not in seen:
                queue.append(href)
    return pages, report


ROLES = [name for name, _role, _region, _display in USERS]


@pytest.mark.parametrize("english", [False, True], ids=["zh", "en"])
def test_every_page_speaks_words_not_codes(app, english):
    """Every role's pages, in one language (the demo loaded once: the database is cleaned
    after each test)."""
    with app.app_context():
        load_demo()
        db.session.remove()
    # a person's name is data even when it reads like the page's words (the demo's 系统管理员)
    source = catalogue_strings() - {display for *_, display in USERS} if english else set()
    lines, total = [], 0
    for username in ROLES:
        web = PageClient(app).sign_in(username, DEMO_PASSWORD)
        if english:
            web.get("/lang/en")
        pages, report = crawl(web, english, source)
        total += pages
        lines += [f"{username} {path}: {'; '.join(found)}" for path, found in report.items()]
    assert total >= len(ROLES) * 2
    assert not lines, f"{len(lines)} pages with codes or untranslated words:\n" + "\n".join(lines)


def test_the_check_sees_what_it_is_for():
    """The reader's view catches a code, an English sentence and an untranslated string, and
    leaves markup, <code> literals and Chinese proper names alone."""
    zh = problems('<p title="case.created">状态：<b>agreement.confirmation_applied</b> in_progress</p>'
                  '<p>accepted 2021-03-10 and handled twice (rule)</p><code>region_code</code>', False, set())
    assert len(zh) == 3 and not any("region_code" in p or "case.created" in p for p in zh)
    en = problems('<p>化解中</p><span lang="zh-CN">化解中</span><p>成都市锦江区 · Case file</p>', True,
                  {"化解中"})
    assert en == ["untranslated '化解中'"]

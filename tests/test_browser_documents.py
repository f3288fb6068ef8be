"""Documents on the case page in a real browser: one officer drops two files (a PDF and a
PNG, made here) on the drop zone; another official's open page of the same case shows
them live, the image as a thumbnail; the PDF opens in the browser."""

from __future__ import annotations

import base64

from tests.browser import shot, sign_in, wait_live
from tests.factories import pdf_bytes, png_bytes

DROP = """([zone, files]) => {
  const dt = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], f.name, { type: f.type }));
  }
  const el = document.querySelector(zone);
  el.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
  el.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
}"""


def test_two_files_dropped_appear_live_on_another_officials_page(contexts, demo_server):
    base = demo_server.base
    r = demo_server.api("GET", "/api/cases?page_size=1", "officer")
    case_id = r.json()["items"][0]["id"]
    watcher = contexts().new_page()
    sign_in(watcher, base, "officer")
    watcher.goto(f"{base}/cases/{case_id}")
    wait_live(watcher)
    before = watcher.locator("[data-part=case_documents] [data-document]").count()

    uploader = contexts().new_page()
    sign_in(uploader, base, "officer")
    uploader.goto(f"{base}/cases/{case_id}")
    uploader.wait_for_selector("[data-dropzone]")
    files = [{"name": "信访件（扫描）.pdf", "type": "application/pdf",
              "b64": base64.b64encode(pdf_bytes("drop")).decode()},
             {"name": "现场照片.png", "type": "image/png", "b64": base64.b64encode(png_bytes()).decode()}]
    uploader.evaluate(DROP, ["[data-dropzone]", files])
    uploader.wait_for_selector("[data-dropzone][data-uploaded='2']")

    # The other page, never reloaded, lists both; the image is a thumbnail that loaded.
    names = watcher.locator("[data-part=case_documents] [data-document-name]")
    names.filter(has_text="现场照片.png").wait_for(timeout=15_000)
    names.filter(has_text="信访件（扫描）.pdf").wait_for(timeout=15_000)
    assert watcher.locator("[data-part=case_documents] [data-document]").count() == before + 2
    thumb = watcher.locator("[data-part=case_documents] img.thumb").last
    thumb.wait_for()
    assert watcher.evaluate("(img) => img.naturalWidth", thumb.element_handle()) == 8
    shot(watcher, "documents-01-live")

    # The PDF is served inline, with its Chinese name, not sniffed.
    href = names.filter(has_text="信访件（扫描）.pdf").get_attribute("href")
    response = watcher.request.get(base + href)
    assert response.status == 200 and response.body() == pdf_bytes("drop")
    assert response.headers["content-disposition"].startswith("inline;")
    assert response.headers["x-content-type-options"] == "nosniff"

"""The browser client's answer to the server's `resync` (its live feed was cut off, as in a
Redis outage): every case resumes from its cursor, region boards are asked for again, and
the page is told (pages.js then fetches its inbox and boards again). live.js as served, in
Chromium, over a stand-in socket that plays the server's side."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.test_realtime_live import LiveServer

pytestmark = pytest.mark.slow

SCRIPT = """async (base) => {
  const { LiveClient } = await import(base + "/static/js/live.js");
  const handlers = {}, calls = [];
  let last = 4;  // the case's last seq on the server
  const socket = {
    connected: true, active: true,
    on(event, fn) { handlers[event] = fn; },
    emit(event, data) { calls.push([event, data]); },
    timeout() {
      return { emitWithAck: async (event, data) => {
        calls.push([event, data]);
        if (event !== "subscribe") return { ok: true };
        const missed = [];
        for (let s = data.after + 1; s <= last; s++) {
          missed.push({ case_id: 17, seq: s, type: "message.posted", at: "", actor: 1, data: {} });
        }
        return { ok: true, case_id: 17, missed, last_seq: last, more: false };
      } };
    },
    close() {},
  };
  const got = [], statuses = [];
  const live = new LiveClient({ io: () => socket, storage: null,
                                onEvent: (e) => got.push(e.seq), onStatus: (s) => statuses.push(s) });
  await live.subscribe(17, 2);
  await live.subscribeRegion("510104");
  const before = calls.length;
  last = 7;  // three events published while the server's listener was cut off
  handlers.resync({ reason: "queue" });
  await new Promise((resolve) => setTimeout(resolve, 200));
  handlers.event({ case_id: 17, seq: 7, type: "message.posted", at: "", actor: 1, data: {} });
  return { got, statuses, after: calls.slice(before), cursor: live.cursor(17) };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("resync")
    live = LiveServer(tmp, f"sqlite:///{tmp / 'serve.db'}")
    assert live.cli("db", "upgrade").returncode == 0
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_a_resync_resumes_every_case_from_its_cursor_and_tells_the_page(browser: Browser, server):
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(server.base + "/healthz")
        result = page.evaluate(SCRIPT, server.base)
    finally:
        ctx.close()
    assert result["got"] == [3, 4, 5, 6, 7]  # each once, in order (7 came twice)
    assert result["cursor"] == 7
    assert ["subscribe", {"case_id": 17, "after": 4}] in result["after"]
    assert ["subscribe_region", {"region": "510104"}] in result["after"]
    assert "resync" in result["statuses"]

"""Hand-over events live, with real Socket.IO clients against `mediation serve`: a
department's users get their own hand-over's events in their inbox and nothing else of the
case (another department's hand-over, a message on the case); they cannot subscribe to the
case; the officials on the case get every hand-over's events in the case's room."""

from __future__ import annotations

import datetime as dt
import queue
from collections.abc import Iterator

import pytest
import requests

from mediation import clock
from mediation.extensions import db
from tests.conftest import build_app
from tests.factories import World, make_department, make_world
from tests.test_realtime_live import WAIT, Client, LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("departments-live")
    url = f"sqlite:///{work / 'live.db'}"
    app = build_app(url, work / "seed-instance")
    w = make_world(app, {"officer": ("case_officer", "510104"), "mz": ("department", "510100"),
                         "zj": ("department", "510104")}, {"a": ("officer", "510104")})
    with app.app_context():
        w.mz_id = make_department("civil_affairs", "510100", members=(w.mz,), name="成都市民政局").id
        w.zj_id = make_department("housing", "510104", members=(w.zj,), name="锦江区住建局").id
        db.session.remove()
    server = LiveServer(work, url).start()
    try:
        w.server = server
        yield w
    finally:
        server.stop()


def post(w: World, path: str, who: str, json: dict) -> dict:
    r = requests.post(w.server.base + path, json=json, timeout=WAIT,
                      headers={"Authorization": f"Bearer {w.tokens[who]}"})
    assert r.status_code in (200, 201), r.text
    return r.json()


def nothing_more(client: Client) -> list[dict]:
    left = []
    try:
        while True:
            left.append(client.events.get(timeout=1.5))
    except queue.Empty:
        return left


def test_a_department_gets_its_own_hand_overs_events_only(live):
    w, case_id = live, live.cases["a"]
    mz, zj, officer = (Client(w.server.base, w.tokens[who]) for who in ("mz", "zj", "officer"))
    try:
        assert mz.call("subscribe", {"case_id": case_id, "after": 0})["ok"] is False
        assert officer.call("subscribe", {"case_id": case_id, "after": 10**6})["ok"] is True
        due = (clock.today() + dt.timedelta(days=7)).isoformat()
        made = post(w, f"/api/cases/{case_id}/handovers", "officer", {
            "department_ids": [w.mz_id, w.zj_id], "matter": "安置补偿", "ask": "请核实", "due_on": due})
        mine, theirs = (h["id"] for h in made)
        got = mz.take(1)
        assert [(e["type"], e["data"]["handover_id"]) for e in got] == [("handover.sent", mine)]
        assert [(e["type"], e["data"]["handover_id"]) for e in zj.take(1)] == [("handover.sent", theirs)]
        post(w, f"/api/cases/{case_id}/messages", "officer", {"body": "内部协调"})
        post(w, f"/api/handovers/{theirs}/acknowledge", "zj", {})
        post(w, f"/api/handovers/{mine}/replies", "mz", {"result": "已办理"})
        post(w, f"/api/handovers/{mine}/return", "officer", {"reason": "请补充材料"})
        got: list[dict] = []
        while not got or got[-1]["type"] != "handover.returned":
            got += mz.take(1)
        # its own reply too (its other pages follow), then the officer's sending back
        assert [(e["type"], e["data"]["handover_id"]) for e in got] == [
            ("handover.replied", mine), ("handover.returned", mine)]
        # the officer's room had all of it, in order
        seen: list[dict] = []
        while not seen or seen[-1]["type"] != "handover.returned":
            seen += officer.take(1, case_id)
        assert [e["type"] for e in seen] == ["handover.sent", "handover.sent", "message.posted",
                                             "handover.acknowledged", "handover.replied", "handover.returned"]
        # nothing else reached the departments: not the message, not the other hand-over
        assert all(e["data"].get("handover_id") == mine for e in nothing_more(mz))
        assert [(e["type"], e["data"]["handover_id"]) for e in nothing_more(zj)] == [
            ("handover.acknowledged", theirs)]  # its own act only
    finally:
        for c in (mz, zj, officer):
            c.close()

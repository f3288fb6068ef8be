"""Retries and limits under real concurrency on PostgreSQL: many requests at once through
the app (each thread its own client, app context, session and connection), released
together by a barrier."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from mediation.extensions import db
from mediation.timeline import Event
from tests.factories import Api

pytestmark = pytest.mark.postgres


def together(app, n: int, method: str, path: str, token: str, bodies: list[Any],
             headers: dict[str, str] | None = None) -> list[Any]:
    """n requests released at once; each response (status, JSON) or the exception."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            r = client.open(path, method=method, json=bodies[i],
                            headers={"Authorization": f"Bearer {token}", **(headers or {})})
            results[i] = (r.status_code, r.get_json())
        except Exception as exc:  # reported through results, asserted by the test
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return results


@pytest.fixture
def papi(pg) -> Api:
    return Api(pg, pg.test_client())


def test_fifty_concurrent_messages_pass_the_rate_of_twenty_exactly(pg, papi):
    officer = papi.user("case_officer", "510104")
    case_id = papi.case(officer)["id"]
    assert pg.config["MEDIATION_MESSAGE_RATE"] == "20/60"
    results = together(pg, 50, "POST", f"/api/cases/{case_id}/messages", papi.tokens[officer.id],
                       [{"body": f"第{i}条"} for i in range(50)])
    statuses = sorted(r[0] if isinstance(r, tuple) else repr(r) for r in results)
    assert statuses == [201] * 20 + [429] * 30
    db.session.remove()
    posted = db.session.execute(sa.select(sa.func.count()).select_from(Event).where(
        Event.case_id == case_id, Event.type == "message.posted")).scalar_one()
    assert posted == 20


def test_twenty_concurrent_retries_of_one_intake_make_one_case(pg, papi):
    from mediation.cases.models import Case
    from tests.factories import case_payload

    officer = papi.user("case_officer", "510104")
    results = together(pg, 20, "POST", "/api/cases", papi.tokens[officer.id],
                       [case_payload(reference="ZJ-2025-042")] * 20,
                       headers={"Idempotency-Key": "intake-retry-1"})
    assert all(isinstance(r, tuple) for r in results), results
    assert {r[0] for r in results} == {201}
    assert len({r[1]["id"] for r in results}) == 1  # every retry got the one case
    db.session.remove()
    assert db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one() == 1


def test_twenty_concurrent_retries_of_one_message_post_it_once(pg, papi):
    officer = papi.user("case_officer", "510104")
    case_id = papi.case(officer)["id"]
    results = together(pg, 20, "POST", f"/api/cases/{case_id}/messages", papi.tokens[officer.id],
                       [{"body": "只发一次"}] * 20, headers={"Idempotency-Key": "msg-retry-1"})
    assert {r[0] for r in results if isinstance(r, tuple)} == {201}, results
    assert len({r[1]["seq"] for r in results}) == 1
    db.session.remove()
    assert db.session.execute(sa.select(sa.func.count()).select_from(Event).where(
        Event.case_id == case_id, Event.type == "message.posted")).scalar_one() == 1

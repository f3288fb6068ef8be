"""Thread benchmark: the messages API of one case holding --messages messages, on PostgreSQL.

    .venv/bin/python bench/thread.py [--messages 10000] [--limit 100] [--runs 20]

It creates a fresh PostgreSQL database (dropped at the end), builds the app in this
process, takes a case in and appends --messages `message.posted` events to it (through
`timeline.append`, 1,000 per transaction: the chain is the real one), then asks
`GET /api/cases/<id>/messages` --runs times for the first page (`?limit=`) and for the
tail (`?after=<the last page's start>`), through the app's test client (no HTTP server:
the figure is the API's own work). It prints the median and p90 of each and the events
each request loaded (an ORM load hook: rows read, not timing). Exit 0 when the run
succeeded and both pages were the right messages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# bench/ last on the path: the project's packages come first, the bench's own modules
# (_common) still import by name.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH] + [str(BENCH)]
sys.path.insert(0, str(BENCH.parent))

import _common as c  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args(argv)
    c.install_signal_handlers()

    import sqlalchemy as sa
    from cryptography.fernet import Fernet

    from mediation import timeline
    from mediation.extensions import db
    from mediation.timeline import Event
    from realtime import events as rt_events
    from tests.conftest import build_app
    from tests.factories import Api

    with c.fresh_database("bench_thread") as url, tempfile.TemporaryDirectory() as tmp:
        app = build_app(c.sqlalchemy_url(url), Path(tmp) / "instance",
                        MEDIATION_PII_KEY=Fernet.generate_key().decode())
        api = Api(app, app.test_client())
        officer = api.user("case_officer", "510104")
        case_id = api.case(officer)["id"]
        with app.app_context():
            for start in range(0, args.messages, 1000):
                for i in range(start, min(start + 1000, args.messages)):
                    timeline.append(db.session, case_id, rt_events.MESSAGE_POSTED,
                                    {"channel": "case", "body": f"第{i}条消息"}, officer.id)
                db.session.commit()
            seqs = db.session.execute(sa.select(Event.seq).where(
                Event.case_id == case_id, Event.type == "message.posted")
                .order_by(Event.seq)).scalars().all()
            db.session.remove()
        timeline.drain()
        loaded = [0]
        sa.event.listen(Event, "load", lambda *_: loaded.__setitem__(0, loaded[0] + 1))

        def measure(query: str, want: list[int]) -> tuple[list[float], int]:
            times = []
            for _ in range(args.runs):
                loaded[0] = 0
                t0 = time.perf_counter()
                r = api.get(f"/api/cases/{case_id}/messages{query}", officer)
                times.append(time.perf_counter() - t0)
                got = [m["seq"] for m in r.get_json()["messages"]]
                if r.status_code != 200 or got != want:
                    raise c.BenchError(f"{query}: {r.status_code}, wrong messages")
            return times, loaded[0]

        first, first_rows = measure(f"?limit={args.limit}", seqs[:args.limit])
        tail_after = seqs[-args.limit - 1]
        tail, tail_rows = measure(f"?after={tail_after}&limit={args.limit}", seqs[-args.limit:])
        rows = [("page", "median s", "p90 s", "events loaded")]
        for name, times, n in (("first", first, first_rows), ("tail", tail, tail_rows)):
            rows.append((name, f"{statistics.median(times):.4f}",
                         f"{c.percentile(times, 90):.4f}", str(n)))
        print(f"{args.messages} messages, limit {args.limit}, {args.runs} runs each")
        c.print_table(rows)
        for name, times in (("first", first), ("tail", tail)):
            c.result(f"messages API, {name} page of {args.messages}", statistics.median(times) * 1000,
                     "ms", None, "—", None)
        c.reports_check(app, "the thread bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())

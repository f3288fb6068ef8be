"""Where an intake's CPU goes, in-process: intakes served through the Flask test client on a
fresh PostgreSQL database, with the same bodies as bench/intake.py.

    .venv/bin/python bench/profile_intake.py [--cases 500] [--warmup 150]
        [--phases mediation.cases.petitions:find_candidates,mediation.users:_user_for_hash]
        [--profile [--sort tottime] [--top 40]] [--statements]

It prints the process's CPU time per intake over --cases intakes after --warmup (no HTTP
server, no concurrency: the figure moves less with the machine's load than the server
benches, and a step of 0.1 ms shows in two or three runs). --phases times each named
function (module:function or module:Class.method, inclusive, low overhead: the way to see
one part's share); --profile runs cProfile on CPU time (its overhead inflates code made of
many small calls); --statements lists the SQL of one intake. Not part of `bench/run`: a
tool for the next step, not a goal's figure.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import importlib
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH] + [str(BENCH)]
sys.path.insert(0, str(BENCH.parent))

import _common as c  # noqa: E402
from intake import case_body  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cases", type=int, default=500, help="measured intakes")
    p.add_argument("--warmup", type=int, default=150, help="intakes before measuring")
    p.add_argument("--phases", default="", help="comma-separated module:function to time")
    p.add_argument("--profile", action="store_true", help="cProfile the measured intakes (CPU time)")
    p.add_argument("--sort", default="cumulative", help="cProfile's sort key")
    p.add_argument("--top", type=int, default=40, help="cProfile's rows")
    p.add_argument("--statements", action="store_true", help="list the SQL of one intake")
    p.add_argument("--write", choices=("intake", "message"), default="intake",
                   help="what is measured: intakes, or messages posted on one case's thread "
                        "(bench/live.py's write)")
    p.add_argument("--pg-admin-url", default=c.PG_ADMIN_URL)
    return p.parse_args(argv)


def timed(spec: str, totals: dict[str, list[float]]) -> None:
    """Wrap module:function (or module:Class.method) to add its CPU time to totals."""
    module, _, name = spec.rpartition(":")
    owner: Any = importlib.import_module(module)
    *path, attr = name.split(".")
    for part in path:
        owner = getattr(owner, part)
    fn: Callable[..., Any] = getattr(owner, attr)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            total = totals.setdefault(spec, [0, 0.0])
            total[0] += 1
            total[1] += time.process_time() - started

    setattr(owner, attr, wrapper)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(c.fresh_database("bench_profile", args.pg_admin_url))
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-profile-"))
        os.environ.update(c.mediation_env(db_url, Path(tmp) / "instance", Fernet.generate_key().decode()),
                          MEDIATION_MESSAGE_RATE="1000000/60")  # as bench/live.py
        totals: dict[str, list[float]] = {}
        for spec in filter(None, args.phases.split(",")):
            timed(spec.strip(), totals)  # before the app is built: views import by name

        from mediation.app import create_app
        from mediation.cli_commands import upgrade_database
        from mediation.extensions import db
        from mediation.users import create_user

        app = create_app()

        def dispose() -> None:  # before the database is dropped (the stack unwinds in reverse)
            with app.app_context():
                db.engine.dispose()

        stack.callback(dispose)
        password = "profile-pass-2025-x"
        with app.app_context():
            upgrade_database()
            create_user("profile_officer", password, "case_officer", "510104", "")
            db.session.commit()
        client = app.test_client()
        token = client.post("/api/auth/tokens", json={"username": "profile_officer",
                                                      "password": password}).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def intake(i: int) -> None:
            body = json.dumps(case_body(i), ensure_ascii=False).encode()
            answer = client.post("/api/cases", data=body, headers=headers)
            if answer.status_code != 201:
                text = answer.get_data(as_text=True)[:300]
                raise c.BenchError(f"intake {i}: HTTP {answer.status_code} {text}")

        write = intake
        if args.write == "message":
            made = client.post("/api/cases", data=json.dumps(case_body(8 * 10**6), ensure_ascii=False)
                               .encode(), headers=headers)
            if made.status_code != 201:
                raise c.BenchError(f"the case: HTTP {made.status_code} {made.get_data(as_text=True)[:300]}")
            case_id = made.get_json()["id"]

            def write(i: int) -> None:
                answer = client.post(f"/api/cases/{case_id}/messages", json={"body": f"b{i}"},
                                     headers=headers)
                if answer.status_code != 201:
                    raise c.BenchError(f"message {i}: HTTP {answer.status_code} "
                                       f"{answer.get_data(as_text=True)[:300]}")

        for i in range(args.warmup):
            write(10**7 + i)
        if args.statements:
            import sqlalchemy as sa

            with app.app_context():
                engine = db.engine
            seen: list[str] = []
            listener = lambda _conn, _cur, statement, *_: seen.append(statement)  # noqa: E731
            sa.event.listen(engine, "before_cursor_execute", listener)
            write(9 * 10**6)
            sa.event.remove(engine, "before_cursor_execute", listener)
            for statement in seen:
                print("--", " ".join(statement.split())[:200])
            print(f"{len(seen)} statements")
        totals.clear()
        profile = cProfile.Profile(time.process_time) if args.profile else None
        cpu = time.process_time()
        wall = time.perf_counter()
        if profile:
            profile.enable()
        for i in range(args.cases):
            write(i)
        if profile:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"CPU per {args.write}: {cpu / args.cases * 1000:.2f} ms, "
              f"wall {wall / args.cases * 1000:.2f} ms ({args.cases} {args.write}s after {args.warmup})")
        for spec, (calls, seconds) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
            print(f"  {spec:60s} {calls / args.cases:5.1f} per {args.write} "
                  f"{seconds / args.cases * 1000:7.3f} ms")
        if profile:
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

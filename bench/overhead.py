"""Fixed cost of an authenticated API request: server CPU and SQL statements per request for
two cheap endpoints, beside the bare baseline's one-row insert served the same way.

    .venv/bin/python bench/overhead.py [--requests 2000] [--concurrency 4] [--profile DIR]

It creates a fresh PostgreSQL database (dropped at the end), starts `mediation serve` on it,
creates a case officer and takes a bearer token, then measures, each after a warm-up:

- `GET /api/auth/me` (the token lookup, the hooks, one small JSON answer);
- `POST /api/notifications/read` with `{"ids": [1]}` (a write: idempotency, the write limit,
  a commit, the unread count);

then bench/baseline_app.py on the same database (`POST /rows`, one INSERT). Server CPU per
request comes from /proc (utime + stime of the server and its children). Statements per
request are counted in this process, on an app built from the same environment, through
Flask's test client (the same WSGI stack below the server) with a `before_cursor_execute`
listener. `--profile DIR` also records the server with py-spy during each mediation phase
(DIR/<phase>.txt, collapsed stacks) when py-spy is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

BENCH = Path(__file__).resolve().parent
# bench/ last on the path: the project's packages come first, the bench's own modules
# (_common, baseline_app) still import by name.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH] + [str(BENCH)]
sys.path.insert(0, str(BENCH.parent))

import _common as c  # noqa: E402

ME = ("GET /api/auth/me", "GET", "/api/auth/me", None, 200)
READ = ("POST /api/notifications/read", "POST", "/api/notifications/read", {"ids": [1]}, 200)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--requests", type=int, default=2000, help="measured requests per endpoint")
    p.add_argument("--concurrency", type=int, default=4, help="concurrent keep-alive clients")
    p.add_argument("--warmup", type=int, default=200, help="requests before measuring, each endpoint")
    p.add_argument("--profile", type=Path, default=None, help="py-spy output folder (optional)")
    p.add_argument("--pg-admin-url", default=c.PG_ADMIN_URL)
    return p.parse_args(argv)


def _body(payload):
    data = json.dumps(payload).encode() if payload is not None else b""
    return lambda _i: data


def _py_spy(pid: int, out: Path) -> subprocess.Popen | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                             "--output", str(out), "--nonblocking", "--subprocesses", "--gil"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(label: str, ports: list[int], method: str, path: str, payload, expect: int,
            procs: list[c.ServerProcess], db_url: str, args, headers=None, profile: Path | None = None
            ) -> c.LoadResult:
    common = {"concurrency": args.concurrency, "headers": headers, "expect": expect}
    if args.warmup:
        warm = c.run_load(f"{label} warm-up", ports, method, path, _body(payload), args.warmup, **common)
        if warm.errors:
            raise c.BenchError(f"{label} warm-up: {warm.errors[:3]}")
    spy = None
    if profile is not None:
        assert procs[0].proc is not None
        spy = _py_spy(procs[0].proc.pid, profile)
    meter = c.PhaseMeter([s.proc.pid for s in procs if s.proc is not None], db_url)
    meter.start()
    result = c.run_load(label, ports, method, path, _body(payload), args.requests, **common)
    meter.stop()
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes what it recorded
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(30)
    if result.errors or result.ok != result.requested:
        raise c.BenchError(f"{label}: {result.ok}/{result.requested}; {result.errors[:5]}")
    result.cpu = {"server": meter.server, "client": meter.client}
    return result


def statements_per_request(env: dict[str, str], token: str
                           ) -> dict[str, tuple[float, float, list[str]]]:
    """(statements per request, database round trips per request, the round trips of the
    last one) for each endpoint, counted in this process on an app built from the same
    environment, one request at a time."""
    import sqlalchemy as sa

    os.environ.update({k: v for k, v in env.items() if k.startswith("MEDIATION_")})
    from mediation.app import create_app
    from mediation.extensions import db

    app = create_app()
    logging.getLogger("mediation.access").setLevel(logging.WARNING)  # one line per request
    seen: list[str] = []
    with app.app_context():
        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute",
                        lambda _conn, _cur, statement, *_a: seen.append(statement))
        # The other round trips: the pool's ping before lending a connection, COMMIT, ROLLBACK.
        sa.event.listen(engine, "commit", lambda _conn: seen.append("COMMIT"))
        sa.event.listen(engine, "rollback", lambda _conn: seen.append("ROLLBACK"))
        dialect_class = type(engine.dialect)
        full_ping = dialect_class.do_ping

        def counted_ping(dialect, dbapi_connection):
            seen.append("(pool pre-ping) SELECT 1")
            return full_ping(dialect, dbapi_connection)

        dialect_class.do_ping = counted_ping
    client = app.test_client()
    out = {}
    auth = {"Authorization": f"Bearer {token}"}
    for label, method, path, payload, expect in (ME, READ):
        for _ in range(3):  # warm: first-use queries (settings, caches) are not per request
            client.open(path, method=method, json=payload, headers=auth)
        n = 20
        seen.clear()
        for _ in range(n):
            last_start = len(seen)
            resp = client.open(path, method=method, json=payload, headers=auth)
            assert resp.status_code == expect, (label, resp.status_code, resp.get_data(as_text=True))
        statements = [s for s in seen if s not in ("COMMIT", "ROLLBACK") and not s.startswith("(pool")]
        out[label] = (len(statements) / n, len(seen) / n,
                      [s.split("\n")[0][:150] for s in seen[last_start:]])
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c.install_signal_handlers()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(c.temp_dir("bench-overhead-")))
            db_url = stack.enter_context(c.fresh_database("bench_overhead", args.pg_admin_url))
            env = c.mediation_env(db_url, tmp / "instance", Fernet.generate_key().decode())
            info = c.machine_info(db_url)
            results = []
            with contextlib.ExitStack() as srv:
                port = c.free_port()
                proc = srv.enter_context(c.ServerProcess(
                    "mediation", [c.mediation_exe(), "serve", "--host", c.LOOPBACK, "--port", str(port)],
                    env, port, tmp))
                username, password = f"bench_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
                c.mediation_cli(["users", "create", username, "--role", "case_officer", "--region",
                                 "510104", "--password-stdin"], env, stdin=password + "\n")
                status, body = c.request_once(port, "POST", "/api/auth/tokens",
                                              {"username": username, "password": password})
                if status != 201:
                    raise c.BenchError(f"token: HTTP {status} {body}")
                token = body["token"]
                auth = {"Authorization": f"Bearer {token}"}
                for label, method, path, payload, expect in (ME, READ):
                    slug = path.strip("/").replace("/", "_")
                    results.append(measure(label, [port], method, path, payload, expect, [proc], db_url,
                                           args, headers=auth,
                                           profile=args.profile / f"{slug}.txt" if args.profile else None))
            with contextlib.ExitStack() as srv:
                port = c.free_port()
                benv = {**env, "BENCH_DATABASE_URL": c.sqlalchemy_url(db_url)}
                proc = srv.enter_context(c.ServerProcess(
                    "baseline", [sys.executable, str(BENCH / "baseline_app.py"), "--host", c.LOOPBACK,
                                 "--port", str(port)], benv, port, tmp))
                results.append(measure("baseline POST /rows", [port], "POST", "/rows",
                                       {"title": "t", "body": "b"}, 201, [proc], db_url, args))
            counts = statements_per_request(env, token)
    except c.BenchError as exc:
        print(f"bench/overhead.py failed: {exc}", file=sys.stderr)
        return 1
    print()
    print("bench/overhead.py — fixed cost of an authenticated API request")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    for k, v in info.items():
        print(f"{k}: {v}")
    print(f"load: {args.requests} requests per endpoint after {args.warmup} warm-up, "
          f"{args.concurrency} keep-alive clients")
    rows = [["", "server CPU ms/req", "× baseline", "statements/req", "round trips/req", "req/s", "p50 ms",
             "p99 ms"]]
    base = results[-1].cpu_ms_per_request("server")
    for r in results:
        stmts, trips, _ = counts.get(r.label, (float("nan"), float("nan"), []))
        is_base = r.label.startswith("baseline")
        rows.append([r.label, f"{r.cpu_ms_per_request('server'):.2f}",
                     f"{r.cpu_ms_per_request('server') / base:.2f}",
                     "1.00" if is_base else f"{stmts:.2f}",
                     "2" if is_base else f"{trips:.2f}",
                     f"{r.rps:.0f}", f"{r.pct_ms(50):.1f}", f"{r.pct_ms(99):.1f}"])
    c.print_table(rows)
    for r in results[:-1]:
        c.result(f"server CPU per {r.label}", r.cpu_ms_per_request("server"), "ms", base, "—", None)
    for label, (n, trips, stmts) in counts.items():
        print(f"\n{label}: {n:.2f} statements, {trips:.2f} round trips per request; the last request's:")
        for s in stmts:
            print(f"  {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

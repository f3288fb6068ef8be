"""Intake benchmark: N cases taken in over HTTP by `mediation serve` on PostgreSQL, beside a
bare Flask + SQLAlchemy endpoint that inserts one row, served the same way.

    .venv/bin/python bench/intake.py [--cases 5000] [--concurrency 8] [--warmup 200]

It creates a fresh PostgreSQL database (dropped at the end), starts `mediation serve` on
a free loopback port, creates a case officer, takes a token, warms up, then sends
--cases intake requests from --concurrency keep-alive clients, recording each latency.
Then it stops that server, starts bench/baseline_app.py the same way on the same
database and sends it the same load. It prints requests/s, p50 and p99 for both and the
ratio (mediation ÷ baseline; the target is ≥ 0.5), and checks that the database holds
every case and that `mediation timeline verify` passes. Exit status 0 when the run and
its checks succeeded (the ratio is a figure, not a pass/fail).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import secrets
import shlex
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

BENCH = Path(__file__).resolve().parent
# bench/ last on the path: the project's packages come first, the bench's own modules
# (_common, baseline_app) still import by name.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH] + [str(BENCH)]
sys.path.insert(0, str(BENCH.parent))  # the project root: tests.factories has the body

import _common as c  # noqa: E402
import baseline_app  # noqa: E402

TARGET_RATIO = 0.5


# Distinct people with distinct matters, as a county's ledger holds: the intake looks for the
# returning petitioner (numbers, names by pinyin and edit distance, the matter), and the
# suite's one body repeated would be a strong repeat (a 409) from the second request on.
_CHARS = ("赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛"
          "奚范彭郎鲁韦昌马苗凤花方俞任袁柳鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康")
_UNITS = ["区自然资源局", "区住建局", "区人社局", "区教育局", "区卫健委", "区民政局", "区市场监管局",
          "区城管局", "区交通局", "区水务局"]
_FIELDS = ["land_demolition", "labour_social_security", "education", "healthcare", "property_management",
           "other"]


@functools.lru_cache(maxsize=1)
def _name_chars() -> list[str]:
    """_CHARS with one character per pinyin syllable (韦, 卫 and 魏 are all "wei")."""
    from pypinyin import lazy_pinyin

    seen: dict[str, str] = {}
    for ch in _CHARS:
        seen.setdefault(lazy_pinyin(ch)[0], ch)
    return list(seen.values())


def case_body(i: int) -> dict:
    """The suite's own valid intake body (tests/factories), for petitioner number i."""
    import random

    from tests.factories import case_payload

    rng = random.Random(i)
    chars, name, k = _name_chars(), "", i
    while True:  # i written in those characters: no two petitioners share a name or its pinyin
        k, digit = divmod(k, len(chars))
        name += chars[digit]
        if k == 0 and len(name) >= 3:
            break
    born = 19500101 + (i % 40) * 10000 + (i // 40 % 12) * 100 + i // 480 % 28
    return case_payload(
        title=f"诉求 #{i}", summary="".join(rng.choice(_CHARS) for _ in range(24)),
        departments=[rng.choice(_UNITS)], livelihood_fields=[rng.choice(_FIELDS)],
        petitioners=[{"name": name, "id_number": f"510104{born}{i // 13440 % 1000:03d}{i % 10}",
                      "phone": f"139{i:08d}", "groups": ["worker"]}])


def encoded(offset: int):
    return lambda i: json.dumps(case_body(offset + i), ensure_ascii=False).encode()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cases", type=int, default=5000, help="measured intake requests (N)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent clients (C)")
    p.add_argument("--warmup", type=int, default=200, help="requests before measuring, each server")
    p.add_argument("--processes", type=int, default=1,
                   help="server processes of each kind, the clients spread over them (the README's "
                        "production shape: several web processes sharing Redis)")
    p.add_argument("--redis-url", default=os.environ.get("MEDIATION_BENCH_REDIS", "redis://127.0.0.1:6379/6"),
                   help="the Redis that joins the processes when --processes > 1")
    p.add_argument("--database-url", default=None,
                   help="use this existing PostgreSQL database instead of a fresh one (it is kept; "
                        "the baseline's table in it is dropped at the end; MEDIATION_PII_KEY and "
                        "MEDIATION_SECRET_KEY are taken from the environment when set)")
    p.add_argument("--pg-admin-url", default=c.PG_ADMIN_URL,
                   help="database to connect to for CREATE/DROP DATABASE")
    p.add_argument("--floor", action="store_true",
                   help="also serve the baseline app's POST /floor the same way, after the checks: "
                        "the round trips an intake cannot do without (token and repeat-check "
                        "lookups, one INSERT, commit, the outbox's clearing and its commit) and no "
                        "logic; its ratio to the bare insert is the most an intake could reach")
    p.add_argument("--time-limit", type=float, default=900,
                   help="seconds after which a load phase sends no new request")
    args = p.parse_args(argv)
    if args.cases < 1 or args.concurrency < 1 or args.warmup < 0:
        p.error("--cases and --concurrency must be ≥ 1, --warmup ≥ 0")
    return args


def check_load(result: c.LoadResult, server: c.ServerProcess) -> None:
    if result.errors or result.timed_out or result.ok != result.requested:
        shown = "\n  ".join(result.errors[:10])
        raise c.BenchError(
            f"{result.label}: {result.ok}/{result.requested} succeeded"
            f"{' (time limit reached)' if result.timed_out else ''}; "
            f"{len(result.errors)} error(s):\n  {shown}\n--- {server.name} log tail ---\n{server.log_tail()}")


def measured(procs: list[c.ServerProcess], db_url: str, load) -> tuple[c.LoadResult, c.PhaseMeter]:
    """Run the load and check it, metering the CPU of the servers and the client, and
    PostgreSQL's counters (read with `meter.settle()` once the servers have stopped)."""
    server = procs[0]
    meter = c.PhaseMeter([s.proc.pid for s in procs if s.proc is not None], db_url)
    meter.start()
    result = load()
    meter.stop()
    check_load(result, server)
    result.cpu = {"server": meter.server, "client": meter.client}
    if meter.postgres is not None:
        result.cpu["postgres"] = meter.postgres
    return result, meter


def servers(name: str, cmd_for, env: dict[str, str], tmp: Path, n: int, stack: contextlib.ExitStack
            ) -> list[c.ServerProcess]:
    """n server processes of one kind, each on its own port (the production shape: several
    web processes behind a balancer, here the clients spread over the ports)."""
    out = []
    for k in range(n):
        port = c.free_port()
        out.append(stack.enter_context(c.ServerProcess(f"{name}-{k}", cmd_for(port), env, port, tmp)))
    return out


def bench_mediation(args, db_url: str, env: dict[str, str], tmp: Path) -> tuple[c.LoadResult, int]:
    def cmd(port: int) -> list[str]:
        return [c.mediation_exe(), "serve", "--host", c.LOOPBACK, "--port", str(port)]

    with contextlib.ExitStack() as stack:
        procs = servers("mediation", cmd, env, tmp, args.processes, stack)
        server, port, ports = procs[0], procs[0].port, [s.port for s in procs]
        username = f"bench_officer_{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(16)
        c.mediation_cli(["users", "create", username, "--role", "case_officer", "--region", "510104",
                         "--password-stdin"], env, stdin=password + "\n")
        status, body = c.request_once(port, "POST", "/api/auth/tokens",
                                      {"username": username, "password": password})
        if status != 201:
            raise c.BenchError(f"token request failed: HTTP {status} {body}")
        auth = {"Authorization": f"Bearer {body['token']}"}
        cases_before = c.pg_scalar(db_url, "SELECT count(*) FROM cases")
        common = {"concurrency": args.concurrency, "headers": auth, "expect": 201,
                  "time_limit": args.time_limit}
        if args.warmup:
            warm = c.run_load("mediation warm-up", ports, "POST", "/api/cases", encoded(10**7),
                              args.warmup, **common)
            check_load(warm, server)
        result, meter = measured(procs, db_url, lambda: c.run_load(
            "mediation", ports, "POST", "/api/cases", encoded(0), args.cases, **common))
    meter.settle()
    result.pg = meter.pg
    return result, cases_before


def bench_baseline(args, db_url: str, env: dict[str, str], tmp: Path, path: str = "/rows",
                   label: str = "baseline") -> c.LoadResult:
    def cmd(port: int) -> list[str]:
        return [sys.executable, str(c.BENCH / "baseline_app.py"), "--host", c.LOOPBACK, "--port", str(port)]

    benv = {**env, "BENCH_DATABASE_URL": c.sqlalchemy_url(db_url)}
    with contextlib.ExitStack() as stack:
        # the first one creates the table; the others find it
        procs = servers("baseline", cmd, benv, tmp, 1, stack)
        procs += servers("baseline+", cmd, {**benv, "BENCH_KEEP_TABLE": "1"}, tmp, args.processes - 1, stack)
        server, ports = procs[0], [s.port for s in procs]
        common = {"concurrency": args.concurrency, "expect": 201, "time_limit": args.time_limit}
        if args.warmup:
            check_load(c.run_load(f"{label} warm-up", ports, "POST", path, encoded(10**7),
                                  args.warmup, **common), server)
        result, meter = measured(procs, db_url, lambda: c.run_load(
            label, ports, "POST", path, encoded(0), args.cases, **common))
    meter.settle()
    result.pg = meter.pg
    return result


def verify(args, db_url: str, env: dict[str, str], cases_before: int) -> list[str]:
    """Correctness: every case is in the database and every chain verifies."""
    lines = []
    expected = cases_before + args.warmup + args.cases
    cases = c.pg_scalar(db_url, "SELECT count(*) FROM cases")
    events = c.pg_scalar(db_url, "SELECT count(*) FROM events")
    rows = c.pg_scalar(db_url, "SELECT count(*) FROM bench_baseline_rows")
    if cases != expected:
        raise c.BenchError(f"the database holds {cases} cases, expected {expected}")
    if rows != args.warmup + args.cases:
        raise c.BenchError(f"the baseline table holds {rows} rows, expected {args.warmup + args.cases}")
    lines.append(f"cases in the database: {cases} = {cases_before} before + {args.warmup} warm-up "
                 f"+ {args.cases} measured ✓ ({events} events); baseline rows: {rows} ✓")
    out = c.mediation_cli(["timeline", "verify"], env, timeout=600)
    lines.append(f"mediation timeline verify: {out.stdout.strip()} ✓")
    t0 = time.perf_counter()
    try:  # a goal of its own: its row says whether it passed
        out = c.mediation_cli(["reports", "check"], env, timeout=600)
        lines.append(f"mediation reports check: {out.stdout.strip()} ✓")
        passed = True
    except c.BenchError as exc:
        lines.append(f"mediation reports check FAILED: {exc}")
        passed = False
    c.reports_check_result(f"intake ({args.processes} process{'es' if args.processes > 1 else ''})",
                           passed, time.perf_counter() - t0)
    return lines


def report(args, med: c.LoadResult, base: c.LoadResult, info: dict[str, str], served_by: str,
           checks: list[str], floor: c.LoadResult | None = None) -> None:
    ratio = med.rps / base.rps if base.rps else float("nan")
    print()
    print("bench/intake.py — intake over HTTP vs a bare Flask + SQLAlchemy insert")
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    for k, v in info.items():
        print(f"{k}: {v}")
    print(f"served by: {served_by} (both servers, one at a time; client in this process)")
    print(f"load: {args.cases} requests after {args.warmup} warm-up, {args.concurrency} concurrent "
          "keep-alive clients, loopback")
    print()
    rows = [["", "requests/s", "p50 ms", "p99 ms", "mean ms", "elapsed s"]]
    runs = (med, base) if floor is None else (med, base, floor)
    for r in runs:
        mean = sum(r.latencies) / len(r.latencies) * 1000
        rows.append([f"{r.label}", f"{r.rps:.1f}", f"{r.pct_ms(50):.1f}", f"{r.pct_ms(99):.1f}",
                     f"{mean:.1f}", f"{r.elapsed:.1f}"])
    rows[1][0] = "mediation POST /api/cases"
    rows[2][0] = "baseline  POST /rows"
    if floor is not None:
        rows[3][0] = "floor     POST /floor"
    c.print_table(rows)
    print()
    print("cost per request (measured phase):")
    cost = [["", "server CPU ms", "client CPU ms", "PG CPU ms", "PG commits", "PG rollbacks",
             "PG active ms", "PG rows inserted", "PG sessions opened"]]
    for r in runs:
        pg = {k: v / r.ok for k, v in r.pg.items()}
        cost.append([r.label, f"{r.cpu_ms_per_request('server'):.2f}",
                     f"{r.cpu_ms_per_request('client'):.2f}",
                     f"{r.cpu_ms_per_request('postgres'):.2f}",
                     f"{pg.get('xact_commit', 0):.2f}", f"{pg.get('xact_rollback', 0):.2f}",
                     f"{pg.get('active_time', float('nan')):.2f}", f"{pg.get('tup_inserted', 0):.2f}",
                     f"{pg.get('sessions', 0):.3f}"])
    c.print_table(cost)
    print()
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"ratio (mediation req/s ÷ baseline req/s): {ratio:.2f}   target ≥ {TARGET_RATIO}: {verdict}")
    shape = f"{args.processes} process{'es' if args.processes > 1 else ''}, {args.concurrency} clients"
    c.result(f"intake/s ({shape})", med.rps, "req/s", base.rps, f"≥ {TARGET_RATIO}× baseline",
             ratio >= TARGET_RATIO, note=f"p99 {med.pct_ms(99):.0f} ms vs {base.pct_ms(99):.0f} ms")
    c.result(f"server CPU per intake ({shape})", med.cpu_ms_per_request("server"), "ms",
             base.cpu_ms_per_request("server"), "—", None)
    if "postgres" in med.cpu and "postgres" in base.cpu:
        # the PostgreSQL server's CPU (every process of it: the whole server, run alone)
        c.result(f"PostgreSQL CPU per intake ({shape})", med.cpu_ms_per_request("postgres"), "ms",
                 base.cpu_ms_per_request("postgres"), "—", None)
    if "active_time" in med.pg and "active_time" in base.pg:
        # PostgreSQL's own time (executing, waits included) competes for the same cores
        c.result(f"PostgreSQL active time per intake ({shape})", med.pg["active_time"] / med.ok,
                 "ms", base.pg["active_time"] / base.ok, "—", None)
    if floor is not None:
        print(f"floor (the round trips alone) ÷ baseline: {floor.rps / base.rps:.2f} "
              f"({floor.cpu_ms_per_request('server'):.2f} ms of server CPU per request)")
        c.result(f"floor: an intake's round trips alone ({shape})", floor.rps, "req/s", base.rps,
                 "—", None, note="the most an intake could reach on this stack")
    for line in checks:
        print(line)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c.install_signal_handlers()
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(c.temp_dir("bench-intake-")))
            if args.database_url:
                db_url = c.libpq_url(args.database_url)
                stack.callback(c.pg_execute, db_url, "DROP TABLE IF EXISTS bench_baseline_rows")
                pii = os.environ.get("MEDIATION_PII_KEY") or Fernet.generate_key().decode()
            else:
                db_url = stack.enter_context(c.fresh_database("bench_intake", args.pg_admin_url))
                pii = Fernet.generate_key().decode()
            env = c.mediation_env(db_url, tmp / "instance", pii)
            if args.processes > 1:
                env["MEDIATION_REDIS_URL"] = args.redis_url
            if args.database_url and os.environ.get("MEDIATION_SECRET_KEY"):
                env["MEDIATION_SECRET_KEY"] = os.environ["MEDIATION_SECRET_KEY"]
            info = c.machine_info(db_url)
            print(f"database: {c.libpq_url(db_url)} ({'given' if args.database_url else 'fresh'})",
                  flush=True)
            served_by = baseline_app.describe_server(*_serving_for(env))
            print(f"mediation: {args.warmup} warm-up + {args.cases} intake requests…", flush=True)
            med, cases_before = bench_mediation(args, db_url, env, tmp)
            print(f"  {med.rps:.1f} req/s; baseline: the same load…", flush=True)
            base = bench_baseline(args, db_url, env, tmp)
            print(f"  {base.rps:.1f} req/s; checking the database…", flush=True)
            checks = verify(args, db_url, env, cases_before)
            floor = None
            if args.floor:
                print("floor: the same load on POST /floor…", flush=True)
                floor = bench_baseline(args, db_url, env, tmp, "/floor", "floor")
            report(args, med, base, info, served_by, checks, floor)
    except c.BenchError as exc:
        print(f"\nbench/intake.py failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"\nbench/intake.py interrupted ({exc or 'Ctrl-C'}); cleaned up", file=sys.stderr)
        return 130
    print(f"total time: {time.monotonic() - started:.0f}s")
    return 0


def _serving_for(env: dict[str, str]):
    """How the mediation app is served, from the bench's environment."""
    saved = {k: os.environ.get(k) for k in env if k.startswith("MEDIATION_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("MEDIATION_")})
    try:
        return baseline_app.mediation_serving(env["MEDIATION_DATABASE_URL"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers for the benchmarks in bench/ (plain scripts, not a package).

A benchmark script imports this module as `_common` (running `python bench/x.py` puts
bench/ on sys.path). Everything here is bounded and loopback-only:

- `fresh_database()`: a throwaway PostgreSQL database, dropped on exit even on error;
- `ServerProcess`: a server subprocess on a free loopback port, waited for on /healthz,
  stopped (terminate, then kill) on exit;
- `mediation_env()` / `mediation_cli()`: the environment and CLI calls for `mediation`;
- `run_load()`: N requests from C threads over keep-alive `http.client` connections,
  each latency recorded, with an overall time limit;
- `percentile()`, `machine_info()`, `print_table()`: the report.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET_KEY = "bench-secret-key-" + "0123456789abcdef" * 2  # >= 32 characters


class BenchError(RuntimeError):
    """The benchmark could not run or its result is wrong; the message says why."""


# --- signals: make SIGTERM/SIGHUP unwind like Ctrl-C so every `finally` cleans up --------

def install_signal_handlers() -> None:
    def _raise(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)


# --- PostgreSQL ----------------------------------------------------------------------------

def sqlalchemy_url(libpq_url: str) -> str:
    """postgresql://... → postgresql+psycopg://... (the driver the project ships)."""
    scheme, sep, rest = libpq_url.partition("://")
    return f"postgresql+psycopg://{rest}" if sep and scheme.startswith("postgres") else libpq_url


def libpq_url(url: str) -> str:
    """postgresql+psycopg://... → postgresql://... (what psycopg.connect takes)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgresql+") else url


def _with_database(admin_url: str, name: str) -> str:
    base, _, _query = admin_url.partition("?")
    head, _, _old = base.rpartition("/")
    return f"{head}/{name}"


@contextlib.contextmanager
def fresh_database(prefix: str = "bench", admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """Create an empty database (via the admin database), yield its libpq URL, drop it."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise BenchError(f"PostgreSQL is not reachable at {admin_url}: {exc}") from exc
    try:
        yield _with_database(admin_url, name)
    finally:
        drop_database(name, admin_url)


def drop_database(name: str, admin_url: str = PG_ADMIN_URL, attempts: int = 10) -> None:
    """DROP DATABASE ... WITH (FORCE), retried for a while when the server refuses the
    connection (a shared server may be out of connection slots for a moment)."""
    for attempt in range(attempts):
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            return
        except psycopg.OperationalError as exc:
            if attempt == attempts - 1:
                print(f"warning: could not drop database {name} ({exc}); drop it by hand", file=sys.stderr)
                return
            time.sleep(min(2.0 * (attempt + 1), 10.0))


def pg_scalar(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(query, params or None).fetchone()
        return row[0] if row else None


def pg_execute(url: str, query: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(query)


# --- processes -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def mediation_exe() -> str:
    exe = Path(sys.executable).parent / "mediation"
    if not exe.exists():
        raise BenchError(f"console script not found at {exe}; run with the project's venv python")
    return str(exe)


def mediation_env(database_url: str, instance: Path, pii_key: str) -> dict[str, str]:
    """The environment of a `mediation` process on PostgreSQL, embedded delivery (no Redis)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIATION_", "FLASK_"))}
    env.update({
        "MEDIATION_DATABASE_URL": sqlalchemy_url(database_url),
        "MEDIATION_SECRET_KEY": SECRET_KEY,
        "MEDIATION_PII_KEY": pii_key,
        "MEDIATION_INSTANCE_PATH": str(instance),
        # One user writes everything the bench sends: the per-user write limit would measure
        # itself instead of the service.
        "MEDIATION_WRITE_LIMIT": "100000000 per minute",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def mediation_cli(args: Sequence[str], env: dict[str, str], stdin: str | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `mediation ARGS...` to completion (bounded); raise with its output on failure."""
    cmd = [mediation_exe(), *args]
    try:
        proc = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True,
                              timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{shlex.join(cmd)} did not finish in {timeout}s") from exc
    if proc.returncode != 0:
        raise BenchError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


class ServerProcess:
    """A server subprocess listening on a loopback port; a context manager.

    Its output goes to a log file (never a pipe that could fill and block it); the tail
    is shown when it fails to come up.
    """

    def __init__(self, name: str, cmd: Sequence[str], env: dict[str, str], port: int, logdir: Path,
                 start_timeout: float = 90) -> None:
        self.name, self.cmd, self.env, self.port = name, list(cmd), env, port
        self.log_path = logdir / f"{name}.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=REPO, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited {self.proc.returncode} while starting:\n"
                                 f"{self.log_tail()}")
            try:
                status, _ = request_once(self.port, "GET", "/healthz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer /healthz within {self.start_timeout}s:\n"
                         f"{self.log_tail()}")

    def stop(self, timeout: float = 15) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()  # the server's own pid only
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()


# --- CPU accounting ------------------------------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name (state, ppid, ...); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _own_cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK if fields else 0.0  # utime, stime


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants (a gunicorn master and
    its worker), all threads, from /proc; 0 if gone."""
    return sum(_own_cpu_seconds(p) for p in [pid, *_descendants(pid)])


def _children_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process's children that have ended and been reaped
    (cutime, cstime), from /proc; 0 if gone."""
    fields = _stat(pid)
    return (int(fields[13]) + int(fields[14])) / _CLK_TCK if fields else 0.0


def postgres_cpu_seconds(postmaster: int) -> float:
    """CPU time of a PostgreSQL server so far: the postmaster, every live process under it
    (backends, WAL writer, checkpointer, ...) and those ended (a backend of a closed
    connection: its time is added to the postmaster's children's once reaped). The
    whole server, so other databases' work too; 0 where /proc does not show it."""
    return (process_cpu_seconds(postmaster) + _children_cpu_seconds(postmaster)
            + sum(_children_cpu_seconds(p) for p in _descendants(postmaster)))


PG_COUNTERS = ("sessions", "xact_commit", "xact_rollback", "active_time", "tup_inserted")


class PhaseMeter:
    """What a load phase cost: CPU seconds of the server process and of this (client)
    process, and the deltas of the database's PostgreSQL counters (pg_stat_database:
    sessions opened, commits, rollbacks, milliseconds backends spent executing statements,
    rows inserted).

    Also the PostgreSQL server's own CPU seconds over the load (`postgres`: every process of
    the server on this machine, `postgres_cpu_seconds`; None where its processes cannot be
    read): the statements' execution and planning, the commits, the connections opened. It
    counts whatever else the server did meanwhile, so run benchmarks alone.

    `start()` and `stop()` bracket the load; `settle()`, called once the server has stopped
    (its backends exit and so report every counter), reads the PostgreSQL deltas.
    """

    def __init__(self, server_pid: int | Sequence[int], db_url: str) -> None:
        self.server_pids = [server_pid] if isinstance(server_pid, int) else list(server_pid)
        self.db_url = db_url
        self.dbname = libpq_url(db_url).rpartition("/")[2].partition("?")[0]
        self.pg: dict[str, float] = {}
        self.postmaster: int | None = None
        self.postgres: float | None = None

    def _pg(self, wait_for_backends: float = 0.0) -> dict[str, float]:
        with psycopg.connect(libpq_url(self.db_url), autocommit=True, connect_timeout=10) as conn:
            if self.postmaster is None:  # a backend's parent, where the server is on this machine
                fields = _stat(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
                self.postmaster = int(fields[1]) if fields else 0
            deadline = time.monotonic() + wait_for_backends
            while time.monotonic() < deadline and conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.dbname,)).fetchone()[0]:
                time.sleep(0.1)
            row = conn.execute(
                f"SELECT {', '.join(PG_COUNTERS)} FROM pg_stat_database WHERE datname = %s",
                (self.dbname,)).fetchone()
        return dict(zip(PG_COUNTERS, (float(v or 0) for v in row), strict=True)) if row else {}

    def start(self) -> None:
        time.sleep(1.2)  # an idle backend reports what it did within a second (PostgreSQL ≥ 15)
        self.pg0 = self._pg()
        self.postgres0 = postgres_cpu_seconds(self.postmaster) if self.postmaster else 0.0
        self.server0 = sum(process_cpu_seconds(pid) for pid in self.server_pids)
        self.client0 = sum(os.times()[:2])

    def stop(self) -> None:
        self.server = sum(process_cpu_seconds(pid) for pid in self.server_pids) - self.server0
        self.client = sum(os.times()[:2]) - self.client0
        if self.postmaster and self.postgres0:
            self.postgres = postgres_cpu_seconds(self.postmaster) - self.postgres0

    def settle(self) -> None:
        pg1 = self._pg(wait_for_backends=15)
        self.pg = {k: pg1.get(k, 0.0) - self.pg0.get(k, 0.0) for k in PG_COUNTERS}


# --- HTTP ----------------------------------------------------------------------------------

def request_once(port: int, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, Any]:
    """One request on a new connection; returns (status, decoded JSON or raw text)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    finally:
        conn.close()


@dataclass
class LoadResult:
    label: str
    requested: int
    concurrency: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds: "server", "client"
    pg: dict[str, float] = field(default_factory=dict)  # pg_stat_database deltas

    def cpu_ms_per_request(self, kind: str) -> float:
        return self.cpu[kind] / self.ok * 1000.0 if kind in self.cpu and self.ok else float("nan")

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def pct_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000.0


def run_load(label: str, port: int | Sequence[int], method: str, path: str, body_for: Callable[[int], bytes],
             total: int, concurrency: int, headers: dict[str, str] | None = None,
             expect: int = 200, time_limit: float = 900, request_timeout: float = 60,
             max_errors: int = 50) -> LoadResult:
    """Send `total` requests from `concurrency` threads, each on one keep-alive connection.

    Request i carries `body_for(i)` (bytes, JSON). Several ports: the clients are spread
    over them (one server process each, as a load balancer would). Bounded: at most `total` requests, no new
    request after `time_limit` seconds, each socket operation times out, and the run stops
    early after `max_errors` failures.
    """
    bodies = [body_for(i) for i in range(total)]  # built before the clock starts
    hdrs = {"Content-Type": "application/json", "Connection": "keep-alive", **(headers or {})}
    result = LoadResult(label, total, concurrency)
    lock = threading.Lock()
    next_index = iter(range(total))
    stop = threading.Event()
    per_thread: list[list[float]] = [[] for _ in range(concurrency)]
    deadline = time.monotonic() + time_limit

    def take() -> int | None:
        if stop.is_set():
            return None
        if time.monotonic() > deadline:
            result.timed_out = True
            stop.set()
            return None
        with lock:
            return next(next_index, None)

    def fail(message: str) -> None:
        with lock:
            result.errors.append(message)
            if len(result.errors) >= max_errors:
                stop.set()

    def worker(slot: int) -> None:
        lat = per_thread[slot]
        ports = [port] if isinstance(port, int) else list(port)
        conn = http.client.HTTPConnection(LOOPBACK, ports[slot % len(ports)], timeout=request_timeout)
        try:
            while (i := take()) is not None:
                t0 = time.perf_counter()
                try:
                    conn.request(method, path, body=bodies[i], headers=hdrs)
                    resp = conn.getresponse()
                    raw = resp.read()
                except (OSError, http.client.HTTPException) as exc:
                    fail(f"request {i}: {exc.__class__.__name__}: {exc}")
                    conn.close()  # reconnects on the next request
                    continue
                dt = time.perf_counter() - t0
                if resp.status == expect:
                    lat.append(dt)
                else:
                    fail(f"request {i}: HTTP {resp.status}: {raw[:300]!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,), name=f"load-{k}", daemon=True)
               for k in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + request_timeout + 5)
    result.elapsed = time.perf_counter() - t0
    if any(t.is_alive() for t in threads):
        stop.set()
        result.timed_out = True
    for lat in per_thread:
        result.latencies.extend(lat)
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# --- report --------------------------------------------------------------------------------

def machine_info(pg_url: str | None = None) -> dict[str, str]:
    info = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable by this process",
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if pg_url:
        with contextlib.suppress(Exception):
            info["postgresql"] = str(pg_scalar(pg_url, "SHOW server_version"))
    return info


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def print_table(rows: Sequence[Sequence[str]], out=sys.stdout) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                           strict=True))]
        print("  ".join(cells).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)


# --- results for bench/run -----------------------------------------------------------------

RESULT_PREFIX = "BENCH-RESULT "


def result(measure: str, figure: float | str, unit: str, baseline: float | None = None,
           target: str = "", met: bool | None = None, ratio: float | None = None,
           note: str = "") -> None:
    """One line that bench/run collects into its table (printed as JSON after a prefix).
    `ratio` defaults to figure ÷ baseline; `target` says it in words ("≥ 0.5× baseline").
    A figure may be a word ("passed") for a check."""
    if ratio is None and baseline and not isinstance(figure, str):
        ratio = figure / baseline
    line = {"measure": measure, "figure": figure, "unit": unit, "baseline": baseline,
            "ratio": ratio, "target": target, "met": met, "note": note,
            "load": os.getloadavg()[0]}
    print(RESULT_PREFIX + json.dumps(line, ensure_ascii=False), flush=True)


REPORTS_CHECK = "`mediation reports check`"


def reports_check_result(after: str, passed: bool, took: float) -> None:
    """The row saying whether the KPI rollup still agreed with the base tables after a
    bench script's writes."""
    result(f"{REPORTS_CHECK} after {after}", "passed" if passed else "FAILED", "", None,
           "passes", passed, note=f"checked in {took:.1f} s")


def reports_check(app: Any, after: str) -> bool:
    """Run `mediation reports check` on the app's database in this process (every grouping
    and segment of the rollup compared with the base tables), print what it says and its
    BENCH-RESULT row; return whether it passed."""
    t0 = time.perf_counter()
    out = app.test_cli_runner().invoke(args=["reports", "check"])
    took = time.perf_counter() - t0
    passed = out.exit_code == 0
    print(f"{REPORTS_CHECK} after {after} ({took:.1f} s): {out.output.strip()}"
          + (f" ({out.exception!r})" if out.exception and not isinstance(out.exception, SystemExit) else ""),
          flush=True)
    reports_check_result(after, passed, took)
    return passed

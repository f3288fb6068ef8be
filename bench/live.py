"""Live delivery figures (not a pass/fail test). Prints one line per measure.

    .venv/bin/python bench/live.py [--events 300] [--clients 200] [--missed 10000]

Starts two `mediation serve` processes sharing Redis and a fresh PostgreSQL database, then
measures, each beside a baseline taken in the same run:
- write-to-receive latency across processes (POST to one server, a client of the other
  receives it), p50/p99, at a steady rate;
- fan-out of one event to N subscribers: time until the last one has it (the median of a
  few events, one after the other; the subscribers are read by one thread of the bench);
- the resident memory of a server holding the N idle connections (per connection: the
  growth from before they connected);
- catch-up: subscribing with `after=0` to a case holding M events (target ≤ 0.5 s for 10,000).
The baseline of the first three is bench/baseline_live.py: a bare Flask-SocketIO app with the
same async mode and Redis queue, two processes, POST → emit to a room → a client of the other
process; a raw Redis publish/subscribe round trip is printed beside them. Each measure ends
with a BENCH-RESULT line for bench/run.
Needs PostgreSQL (MEDIATION_BENCH_PG, default the test server) and Redis
(MEDIATION_BENCH_REDIS, default database 6 of the local Redis).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests
import socketio
import sqlalchemy as sa
import websocket
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _common  # noqa: E402  (bench/, the script's directory, is on the path)

PG = os.environ.get("MEDIATION_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("MEDIATION_BENCH_REDIS", "redis://127.0.0.1:6379/6")
SECRET = "bench-secret-key-0123456789abcdef-0123456789"
PII = Fernet.generate_key().decode()


# Every bench client (of the app and of the bare baseline alike) leaves the UTF-8 check of
# what it receives to the JSON decoder: websocket-client checks each byte in pure Python
# (a browser does it natively), which cost the measuring client ~0.2 s of CPU per
# 10,000-event catch-up — time of the instrument, not of the server.
CLIENT_OPTIONS = {"reconnection": False, "websocket_extra_options": {"skip_utf8_validation": True}}
# The fan-out's subscribers are a county office's officials, each holding this many of the
# connections (a user may hold at most MEDIATION_MAX_SOCKETS_PER_USER per process).
CONNECTIONS_PER_OFFICIAL = 50
# Subscribers connect this many at a time (to the app and to the bare baseline alike): a
# thousand one after the other take minutes on a loaded machine.
CONNECTING_AT_ONCE = 8


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mediation"), "serve", "--host",
                             "127.0.0.1", "--port", str(port)], env=env,
                            stdout=(work / f"server-{port}.log").open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base
        except requests.RequestException:  # not up yet, or slow to answer on a loaded machine
            pass
        time.sleep(0.2)
    raise SystemExit(f"server did not start; see {work}")


def start_baseline(env: dict, work: Path, channel: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    benv = {**env, "BENCH_REDIS_URL": REDIS, "BENCH_CHANNEL": channel}
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "baseline_live.py"), "--host",
                             "127.0.0.1", "--port", str(port)], env=benv,
                            stdout=(work / f"baseline-{port}.log").open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return proc, base
        except requests.RequestException:  # not up yet, or slow to answer on a loaded machine
            pass
        time.sleep(0.2)
    raise SystemExit(f"baseline did not start; see {work}")


def rss_mb(pid: int) -> float:
    """The resident memory of the process holding a server's connections: gunicorn's worker
    (the master's child) when there is one, else the process itself."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return max((_rss_one(int(c)) for c in children), default=_rss_one(pid))


def _rss_one(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def redis_round_trip(n: int) -> list[float]:
    r = redis.Redis.from_url(REDIS)
    sub = r.pubsub()
    sub.subscribe("bench-baseline")
    sub.get_message(timeout=1)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r.publish("bench-baseline", b"x")
        while sub.get_message(timeout=1) is None:
            pass
        times.append((time.perf_counter() - t0) * 1000)
    return times


class Receiver:
    """A client of one server: of the mediation app (a case subscribed with a token), or of
    the bare baseline (token None: a room joined)."""

    def __init__(self, base: str, token: str | None, case_id: int) -> None:
        self.arrived: dict[int, float] = {}
        self.cond = threading.Condition()
        self.sio = socketio.Client(**CLIENT_OPTIONS)
        self.sio.on("event", self._on_event)
        self.sio.connect(base, auth={"token": token} if token else None, transports=["websocket"],
                         wait_timeout=30)
        if token:
            self.ack = self.sio.call("subscribe", {"case_id": case_id, "after": 10**9}, timeout=30)
            if not (isinstance(self.ack, dict) and "last_seq" in self.ack):
                raise SystemExit(f"subscribing to case {case_id} was refused: {self.ack!r}")
        else:
            self.ack = self.sio.call("join", {"room": str(case_id)}, timeout=30)

    def _on_event(self, envelope: dict) -> None:
        with self.cond:
            self.arrived[envelope["seq"]] = time.perf_counter()
            self.cond.notify_all()

    def wait_for(self, seq: int, timeout: float = 30) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: seq in self.arrived, timeout):
                raise SystemExit(f"event {seq} did not arrive within {timeout} s")
            return self.arrived[seq]


class Subscribers:
    """The fan-out's N subscribers, read by ONE thread of this process.

    Each connects like `Receiver` (WebSocket, Socket.IO connect with the token, then
    `subscribe` or `join`), a few at a time; after that a single thread reads every socket
    with a selector and notes when each frame carrying an event arrived. A thousand
    python-socketio clients would be a thousand reader threads in this process, and the time
    to the last delivery would mostly be theirs waiting for the GIL (measured at 1,000: the
    first delivery after ~50 ms, the median after ~5.5 s, for the bare app and the app
    alike): an instrument of the bench, not the servers' fan-out."""

    def __init__(self, base: str, tokens: list[str | None], room: int) -> None:
        url = base.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.arrived: dict[int, dict[int, float]] = {}  # seq -> subscriber -> first arrival
        self.cond = threading.Condition()
        self.stopping = False
        self.closed = 0  # connections the server ended
        # Each one is read from the moment it has subscribed: the server pings it meanwhile
        # (a thousand take a minute to connect on a loaded machine; an unanswered ping for
        # 45 s ends a connection).
        self.joining: queue.SimpleQueue[websocket.WebSocket] = queue.SimpleQueue()
        self.reader = threading.Thread(target=self._read, name="fan-out-reader", daemon=True)
        self.reader.start()

        def connect(token: str | None) -> websocket.WebSocket:
            ws = self._connect(url, token, room)
            self.joining.put(ws)
            return ws

        with ThreadPoolExecutor(CONNECTING_AT_ONCE) as pool:
            self.conns = list(pool.map(connect, tokens))

    @staticmethod
    def _connect(url: str, token: str | None, room: int) -> websocket.WebSocket:
        ws = websocket.create_connection(url, timeout=30, skip_utf8_validation=True)
        if not ws.recv().startswith("0"):  # Engine.IO open
            raise SystemExit("no Engine.IO open packet")
        ws.send("40" + (json.dumps({"token": token}) if token else ""))
        if not (reply := ws.recv()).startswith("40"):
            raise SystemExit(f"the Socket.IO connection was refused: {reply}")
        call = (["subscribe", {"case_id": room, "after": 10**9}] if token
                else ["join", {"room": str(room)}])
        ws.send("421" + json.dumps(call))
        while not (reply := ws.recv()).startswith("431"):
            if reply == "2":
                ws.send("3")
        ack = json.loads(reply[3:])[0]
        if token and not (isinstance(ack, dict) and "last_seq" in ack):
            raise SystemExit(f"subscribing to case {room} was refused: {ack!r}")
        return ws

    def _read(self) -> None:
        sel = selectors.DefaultSelector()
        buffers: dict[websocket.WebSocket, bytearray] = {}
        while not self.stopping:
            while True:
                try:
                    ws = self.joining.get_nowait()
                except queue.Empty:
                    break
                ws.sock.setblocking(False)
                sel.register(ws.sock, selectors.EVENT_READ, ws)
                buffers[ws] = bytearray()
            for key, _ in sel.select(0.1):  # (a connection joins within 0.1 s)
                ws = key.data
                try:
                    data = ws.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(ws.sock)
                    self.closed += 1
                    continue
                now = time.perf_counter()
                buf = buffers[ws]
                buf += data
                for opcode, payload in self._frames(buf):
                    if opcode == websocket.ABNF.OPCODE_PING:
                        ws.sock.setblocking(True)
                        ws.pong(payload)
                        ws.sock.setblocking(False)
                    elif opcode == websocket.ABNF.OPCODE_TEXT:
                        self._packet(ws, payload.decode(), now)

    @staticmethod
    def _frames(buf: bytearray):
        """Complete frames at the start of `buf` (server frames: unmasked), removed from it."""
        while len(buf) >= 2:
            length, start = buf[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(buf[2:4]), 4
            elif length == 127:
                length, start = int.from_bytes(buf[2:10]), 10
            if len(buf) < start + length:
                return
            opcode, payload = buf[0] & 0x0F, bytes(buf[start:start + length])
            del buf[:start + length]
            yield opcode, payload

    def _packet(self, ws: websocket.WebSocket, text: str, now: float) -> None:
        if text == "2":  # Engine.IO ping
            ws.sock.setblocking(True)
            ws.send("3")
            ws.sock.setblocking(False)
        elif text.startswith('42["event"'):
            seq = json.loads(text[2:])[1]["seq"]
            with self.cond:  # a duplicate (the relay may send one again) counts once
                self.arrived.setdefault(seq, {}).setdefault(id(ws), now)
                self.cond.notify_all()

    def wait_for(self, seq: int, timeout: float = 60) -> list[float]:
        """When each subscriber received `seq`, in order of arrival."""
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.arrived.get(seq, ())) >= len(self.conns),
                                      timeout):
                got = len(self.arrived.get(seq, ()))
                raise SystemExit(f"event {seq} reached {got} of {len(self.conns)} subscribers "
                                 f"within {timeout} s ({self.closed} connections ended by the server)")
            return sorted(self.arrived[seq].values())

    def close(self) -> None:
        self.stopping = True
        self.reader.join(5)
        for ws in self.conns:
            ws.shutdown()


def settle(pid: int, limit: float = 60) -> None:
    """Wait until a server is done with the connections just closed (at 1,000, their
    disconnects take it seconds of CPU): until it spends under 5% of a core for half a
    second, at most `limit` seconds. What is measured next is not measured beside them."""
    deadline, last = time.monotonic() + limit, _common.process_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _common.process_cpu_seconds(pid)
        if now - last < 0.025:
            return
        last = now


def result(*args, **kwargs) -> None:
    _common.result(*args, **kwargs)


def measure_live(args, base_two: str, tokens: list[str] | None, room: int, post, pid: int,
                 label: str) -> dict:
    """Write-to-receive, fan-out and memory per idle connection against one pair of servers:
    `post(i)` writes through the first and returns the seq a client of the second gets.
    Subscriber i connects with `tokens[i // CONNECTIONS_PER_OFFICIAL]` (None: the bare app)."""
    def token_of(i: int) -> str | None:
        return tokens[i // CONNECTIONS_PER_OFFICIAL] if tokens else None

    rx = Receiver(base_two, token_of(0), room)
    for i in range(50):  # warm-up: the listeners subscribed, connections and caches ready
        seq = post(-1 - i)
        rx.wait_for(seq)
    latencies = []
    for i in range(args.events):
        t0 = time.perf_counter()
        seq = post(i)
        latencies.append((rx.wait_for(seq) - t0) * 1000)
        time.sleep(max(0.0, 1 / args.rate - (time.perf_counter() - t0)))
    out = {"p50": pct(latencies, 50), "p99": pct(latencies, 99)}
    print(f"{label}: write-to-receive across two processes ({args.events} writes at {args.rate:g}/s, "
          f"HTTP write included): p50 {out['p50']:.1f} ms, p99 {out['p99']:.1f} ms")
    time.sleep(1)
    before = rss_mb(pid)
    t_connect = time.perf_counter()
    fans = Subscribers(base_two, [token_of(i) for i in range(args.clients)], room)
    print(f"{label}: {args.clients} subscribers connected in {time.perf_counter() - t_connect:.1f} s "
          f"({CONNECTING_AT_ONCE} at a time)")
    time.sleep(1)
    out["idle"] = rss_mb(pid)
    out["per_conn"] = (out["idle"] - before) * 1024 / args.clients
    lasts, firsts, medians = [], [], []
    for k in range(args.fanouts):  # one event at a time, each to all of them
        time.sleep(0.3)
        t0 = time.perf_counter()
        seq = post(10**6 + k)
        arrivals = fans.wait_for(seq)
        if arrivals[0] < t0:  # seen once, profiler attached, cause not found: not a figure
            print(f"{label}: warning: event {seq} reached a subscriber before it was written; "
                  "left out of the fan-out figures", flush=True)
            continue
        lasts.append((arrivals[-1] - t0) * 1000)
        firsts.append((arrivals[0] - t0) * 1000)
        medians.append((arrivals[len(arrivals) // 2] - t0) * 1000)
    if not lasts:
        raise SystemExit("no fan-out measured")
    out["fan"] = pct(lasts, 50)
    out["fan_first"] = pct(firsts, 50)
    print(f"{label}: fan-out of one event to {args.clients} subscribers, median of {args.fanouts} "
          f"events (HTTP write included): last delivery after {out['fan']:.0f} ms (first "
          f"{pct(firsts, 50):.0f} ms, median subscriber {pct(medians, 50):.0f} ms; each event's "
          f"last: {', '.join(f'{x:.0f}' for x in lasts)} ms)")
    print(f"{label}: server memory holding {args.clients + 1} connections: {out['idle']:.0f} MB RSS "
          f"({before:.0f} MB before them: {out['per_conn']:.0f} KiB per connection)")
    fans.close()
    rx.sio.eio.ws.shutdown()
    t_settle = time.perf_counter()
    settle(pid)
    print(f"{label}: the server was done with the closed connections after "
          f"{time.perf_counter() - t_settle:.1f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--rate", type=float, default=50.0, help="writes per second")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--fanouts", type=int, default=5, help="fan-outs measured (the median is kept)")
    ap.add_argument("--missed", type=int, default=10_000)
    args = ap.parse_args()

    from mediation.app import create_app
    from mediation.cases import commands
    from mediation.cli import upgrade_database
    from mediation.extensions import db
    from mediation.schemas.cases import CaseIn
    from mediation.users import create_user, issue_token
    from tests.factories import PASSWORD, case_payload

    name = f"mediation_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG).set(database=name).render_as_string(hide_password=False)
    redis.Redis.from_url(REDIS).flushdb()
    work = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATION_")}
    env.update(MEDIATION_DATABASE_URL=url, MEDIATION_REDIS_URL=REDIS, MEDIATION_SECRET_KEY=SECRET,
               MEDIATION_PII_KEY=PII, MEDIATION_INSTANCE_PATH=str(work / "instance"),
               MEDIATION_MESSAGE_RATE="1000000/60", MEDIATION_WRITE_LIMIT="100000000 per minute",
               # the fan-out's subscribers: officials holding CONNECTIONS_PER_OFFICIAL each
               MEDIATION_MAX_SOCKETS_PER_USER=str(CONNECTIONS_PER_OFFICIAL + 1),
               # threading mode: each open WebSocket holds one of the worker's threads (both
               # the app and the bare baseline are served by gunicorn with this setting)
               MEDIATION_THREADS=str(args.clients + 50))
    app = create_app({"MEDIATION_DATABASE_URL": url, "MEDIATION_REDIS_URL": REDIS,
                      "MEDIATION_SECRET_KEY": SECRET, "MEDIATION_PII_KEY": PII,
                      "INSTANCE_PATH": str(work / "seed")})
    procs: list[subprocess.Popen] = []
    try:
        with app.app_context():
            upgrade_database()
            officer = create_user("bench_officer", PASSWORD, "case_officer", "510104")
            token, _ = issue_token(officer)
            # The officials who watch the case live (the intake officer first).
            watchers = [create_user(f"bench_watcher_{k}", PASSWORD, "case_officer", "510104")
                        for k in range(1, -(-args.clients // CONNECTIONS_PER_OFFICIAL))]
            watcher_tokens = [token, *(issue_token(w)[0] for w in watchers)]
            db.session.commit()
            live_case = commands.intake(officer, CaseIn().load(case_payload())).id
            big_case = commands.intake(officer, CaseIn().load(case_payload(
                petitioners=[{"name": "李四", "id_number": "510104198502021111", "phone": "13900139000"}],
                summary="另一件事", departments=["区人社局"]))).id
            from mediation import timeline

            # The catch-up case: M events written straight to the timeline.
            for start in range(0, args.missed, 1000):
                for i in range(start, min(start + 1000, args.missed)):
                    timeline.append(db.session, big_case, "message.posted",
                                    {"channel": "case", "body": f"m{i}"}, officer.id)
                db.session.commit()
            db.session.remove()
        baseline = redis_round_trip(args.events)
        print(f"raw redis pub/sub round trip: p50 {pct(baseline, 50):.2f} ms, "
              f"p99 {pct(baseline, 99):.2f} ms")

        # The bare app first, then the mediation app, the same measures in the same order.
        channel = f"bench-live-{uuid.uuid4().hex[:8]}"
        (b_one, bbase_one), (b_two, bbase_two) = (start_baseline(env, work, channel),
                                                  start_baseline(env, work, channel))
        procs += [b_one, b_two]
        bsession = requests.Session()
        room = 1

        def bare_post(i: int) -> int:
            return bsession.post(f"{bbase_one}/emit/{room}", json={"seq": i}).json()["seq"]

        bare = measure_live(args, bbase_two, None, room, bare_post, b_two.pid, "bare Flask-SocketIO")
        for p in (b_one, b_two):
            p.terminate()
            p.wait(15)

        (one, base_one), (two, base_two) = (start_server(env, work), start_server(env, work))
        procs += [one, two]
        headers = {"Authorization": f"Bearer {token}"}
        post_url = f"{base_one}/api/cases/{live_case}/messages"
        session = requests.Session()

        def med_post(i: int) -> int:
            return session.post(post_url, json={"body": f"b{i}"}, headers=headers).json()["seq"]

        med = measure_live(args, base_two, watcher_tokens, live_case, med_post, two.pid, "mediation")
        p99 = med["p99"] / bare["p99"]
        print(f"\nwrite-to-receive p99: {p99:.1f}x the bare app (target <= 3x); fan-out: "
              f"{med['fan'] / bare['fan']:.2f}x (target <= 1.5x); memory per idle connection: "
              f"{med['per_conn'] / bare['per_conn']:.2f}x (target <= 1.5x)")
        result("live write→receive p99", med["p99"], "ms", bare["p99"], "≤ 3× baseline",
               med["p99"] <= 3 * bare["p99"], note=f"p50 {med['p50']:.1f} vs {bare['p50']:.1f} ms")
        result(f"live fan-out to {args.clients} clients", med["fan"], "ms", bare["fan"],
               "≤ 1.5× baseline", med["fan"] <= 1.5 * bare["fan"],
               note=f"first delivery (the write and the relay) {med['fan_first']:.0f} vs "
                    f"{bare['fan_first']:.0f} ms, the rest {med['fan'] - med['fan_first']:.0f} vs "
                    f"{bare['fan'] - bare['fan_first']:.0f} ms")
        result("memory per idle connection", med["per_conn"], "KiB", bare["per_conn"],
               "≤ 1.5× baseline", med["per_conn"] <= 1.5 * bare["per_conn"],
               note=f"{med['idle']:.0f} MB vs {bare['idle']:.0f} MB with {args.clients + 1} connections")

        catch = socketio.Client(**CLIENT_OPTIONS)
        catch.connect(base_one, auth={"token": token}, transports=["websocket"], wait_timeout=30)
        t0 = time.perf_counter()
        after, total = 0, 0
        while True:
            ack = catch.call("subscribe", {"case_id": big_case, "after": after}, timeout=60)
            total += len(ack["missed"])
            if not ack["more"]:
                break
            after = ack["missed"][-1]["seq"]
        took = time.perf_counter() - t0
        print(f"catch-up of {total} missed events: {took * 1000:.0f} ms")
        limit = 0.5 * total / 10_000
        result(f"catch-up of {total} events", took * 1000, "ms", None, f"≤ {limit * 1000:.0f} ms",
               took <= limit)
        catch.eio.ws.shutdown()
        _common.reports_check(app, "the live bench")
    finally:
        for p in procs:
            p.terminate()
            p.wait(15)
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        redis.Redis.from_url(REDIS).flushdb()


if __name__ == "__main__":
    main()

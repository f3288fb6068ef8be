"""bench/run: every benchmark in bench/ with modest sizes (a few minutes on 2 cores), then
ONE table of the goals: measure, figure, baseline measured in the same run, ratio, target,
met or not.

    bench/run [--full] [--only intake,live,routing,reports,thread,overhead] [--log-dir DIR]
              [--markdown FILE]

Each script prints `BENCH-RESULT {json}` lines (bench/_common.py `result`); this collects
them, keeps each script's whole output in --log-dir, and prints the load average (uptime)
at the start and the end, since figures on a shared machine move with it. `--full` uses
the sizes the goals are stated at (10,000 providers and offers, 1 M cases, 1,000
subscribers, …). The table has a row for every goal of the scripts run, a "not measured"
one when a script printed no figure for it, and a row per script that writes saying whether
`mediation reports check` passed after it. `--markdown FILE` writes the same report to a
file, for the README. Exit 1 if a script failed (a goal not met is a figure, not a failure).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PREFIX = "BENCH-RESULT "

# name -> (modest arguments, --full arguments)
RUNS: dict[str, tuple[list[str], list[str]]] = {
    "intake": (["intake.py", "--cases", "600", "--warmup", "60"],
               ["intake.py", "--cases", "2000", "--warmup", "200"]),
    "intake-2p": (["intake.py", "--cases", "600", "--warmup", "60", "--processes", "2"],
                  ["intake.py", "--cases", "2000", "--warmup", "200", "--processes", "2"]),
    "live": (["live.py", "--events", "200", "--clients", "200", "--missed", "10000"],
             ["live.py", "--events", "300", "--clients", "1000", "--missed", "10000"]),
    "routing": (["routing.py", "--providers", "10000", "--cases", "200", "--expired", "500"],
                ["routing.py", "--providers", "10000", "--cases", "1000", "--expired", "10000"]),
    "reports": (["reports.py", "--cases", "100000", "--events", "500000", "--repeat", "3"],
                ["reports.py", "--cases", "1000000", "--events", "5000000", "--repeat", "3"]),
    "thread": (["thread.py", "--messages", "10000", "--runs", "10"],
               ["thread.py", "--messages", "10000", "--runs", "20"]),
    # the fixed cost of an authenticated request (figures without a goal of their own)
    "overhead": (["overhead.py", "--requests", "500", "--warmup", "50"],
                 ["overhead.py", "--requests", "2000", "--warmup", "200"]),
}


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{dt.datetime.now(dt.UTC):%H:%M:%S} UTC, load average {one:.2f} {five:.2f} {fifteen:.2f}"


def run_one(name: str, argv: list[str], log_dir: Path) -> tuple[list[dict], int, float]:
    log = log_dir / f"{name}.log"
    cmd = [sys.executable, str(BENCH / argv[0]), *argv[1:]]
    print(f"[{uptime()}] {name}: {' '.join(argv)} (output: {log})", flush=True)
    results, t0 = [], time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=BENCH.parent, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if line.startswith(PREFIX):
                item = json.loads(line[len(PREFIX):])
                item["bench"] = name
                results.append(item)
                print(f"    {item['measure']}: {fmt(item['figure'])} {item['unit']}".rstrip(), flush=True)
        rc = proc.wait()
    took = time.monotonic() - t0
    if rc:
        print(f"    {name} FAILED (exit {rc}); the end of its output:", flush=True)
        print("".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:]), flush=True)
    return results, rc, took


def fmt(x: float | str | None) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):  # a check's outcome ("passed")
        return x
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


CHECK = "`mediation reports check` after "

# Every goal of the speed work: (the run that measures it, the start of its measure, the goal
# in words). A goal whose run printed no such figure gets a "not measured" row, so the table
# always shows every goal of the runs chosen.
GOALS: list[tuple[str, str, str]] = [
    ("intake", "intake/s (1 process", "intake ≥ 0.5× the bare insert, one process"),
    ("intake-2p", "intake/s (2 processes", "intake ≥ 0.5× the bare insert, several processes"),
    ("live", "live write→receive p99", "live write → receive p99 ≤ 3× a bare Flask-SocketIO app"),
    ("live", "live fan-out to", "fan-out of one event to 1,000 subscribers ≤ 1.5× the bare app"),
    ("live", "memory per idle connection", "memory per idle connection ≤ 1.5× the bare app"),
    ("live", "catch-up of", "catch-up of 10,000 events ≤ 0.5 s"),
    ("routing", "routing ranking p99", "routing ranking p99 ≤ 10 ms among 10,000 providers"),
    ("routing", "sweep per expired offer", "sweep ≤ 5 ms per expired offer"),
    ("reports", "KPIs as of", "KPIs ≤ 0.5 s over 1 M cases"),
    ("reports", "monthly league", "monthly league ≤ 0.5 s over 1 M cases"),
    *((name, CHECK + after, CHECK + after + " passes") for name, after in (
        ("intake", "intake (1 process)"), ("intake-2p", "intake (2 processes)"),
        ("live", "the live bench"), ("routing", "the routing bench"),
        ("reports", "the reports bench"), ("thread", "the thread bench"))),
]


def missing_goals(results: list[dict], ran: dict[str, int]) -> list[dict]:
    """A row for each goal of the runs in `ran` (name -> exit status) that no figure
    answered: "not measured", saying why."""
    rows = []
    for name, start, goal in GOALS:
        if name not in ran or any(r["bench"] == name and r["measure"].startswith(start) for r in results):
            continue
        why = f"{name} failed (exit {ran[name]})" if ran[name] else f"{name} printed no such figure"
        rows.append({"bench": name, "measure": goal, "figure": "not measured", "unit": "", "baseline": None,
                     "ratio": None, "target": "", "met": None, "note": why, "load": None})
    return rows


def cell(text: str) -> str:
    """A markdown table cell: a `|` of the text would end it."""
    return text.replace("|", "\\|")


def table(results: list[dict]) -> list[str]:
    """The markdown table: the figures in the order they came, then the reports checks."""
    ordered = ([r for r in results if not r["measure"].startswith(CHECK)]
               + [r for r in results if r["measure"].startswith(CHECK)])
    lines = ["| measure | figure | baseline (same run) | ratio | target | met | load | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in ordered:
        unit = r["unit"]
        met = {True: "yes", False: "**no**", None: "—"}[r["met"]]
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "—"
        base = f"{fmt(r['baseline'])} {unit}".rstrip() if r["baseline"] is not None else "—"
        target = r["target"] or "—"
        load = f"{r['load']:.1f}" if r.get("load") is not None else "—"
        cells = [r["measure"], f"{fmt(r['figure'])} {unit}".rstrip(), base, ratio, target, met, load,
                 r.get("note") or ""]
        lines.append("| " + " | ".join(cell(str(c)) for c in cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="the sizes the goals are stated at")
    p.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(RUNS)}")
    p.add_argument("--log-dir", type=Path, default=None, help="each script's output (default: a temp dir)")
    p.add_argument("--markdown", type=Path, default=None,
                   help="also write the command, times, load and table to this file (for the README)")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(RUNS)
    unknown = set(names) - set(RUNS)
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="bench-run-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    started = uptime()
    print(f"bench/run {'--full ' if args.full else ''}— started {started}", flush=True)
    results, failed, ran = [], [], {}
    for name in names:
        got, rc, _took = run_one(name, RUNS[name][1 if args.full else 0], log_dir)
        results += got
        ran[name] = rc
        if rc:
            failed.append(name)
    rows = results + missing_goals(results, ran)
    met = [r for r in rows if r["met"] is True]
    unmet = [r for r in rows if r["met"] is False]
    unmeasured = [r for r in rows if r["figure"] == "not measured"]
    report = [
        f"command: bench/run {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip(),
        f"started {started}; ended {uptime()}; {os.cpu_count()} CPUs",
        "load = the 1-minute load average when the figure was taken",
        "",
        *table(rows),
        "",
        f"goals met: {len(met)}; not met: {len(unmet)}; not measured: {len(unmeasured)}"
        + (f"; failed to run: {', '.join(failed)}" if failed else ""),
    ]
    print()
    print(f"logs in {log_dir}")
    print("\n".join(report))
    if args.markdown:
        args.markdown.write_text("\n".join(report) + "\n")
        print(f"(written to {args.markdown})")
    return 1 if failed else 0  # a goal not met is a figure, not a failure


if __name__ == "__main__":
    sys.exit(main())

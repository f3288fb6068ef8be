"""bench/run (bench/run_all.py): its table has a row for every goal of the scripts run, and
its exit status says whether a script failed, not whether a goal was met. The scripts here
are stand-ins printing BENCH-RESULT lines; the real ones need minutes and a quiet machine."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_all(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_run_all", REPO / "bench" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "BENCH", tmp_path)
    monkeypatch.setattr(module, "GOALS", [
        ("fast", "speed of a", "a ≤ 1 ms"),
        ("fast", "speed of b", "b ≤ 1 ms"),
        ("fast", module.CHECK + "fast", module.CHECK + "fast passes"),
        ("broken", "speed of c", "c ≤ 1 ms"),
    ])
    return module


def script(tmp_path: Path, name: str, results: list[dict], exit_status: int = 0) -> None:
    lines = [f"print({'BENCH-RESULT ' + json.dumps(r, ensure_ascii=False)!r})" for r in results]
    (tmp_path / f"{name}.py").write_text("\n".join(["print('warming up')", *lines,
                                                    f"raise SystemExit({exit_status})"]) + "\n")


def row(measure: str, figure, met, **extra) -> dict:
    return {"measure": measure, "figure": figure, "unit": "ms" if not isinstance(figure, str) else "",
            "baseline": extra.get("baseline"), "ratio": extra.get("ratio"), "target": extra.get("target", ""),
            "met": met, "note": extra.get("note", ""), "load": 1.5}


def test_a_goal_not_met_is_a_row_not_a_failure(run_all, tmp_path, monkeypatch, capsys):
    script(tmp_path, "fast", [row("speed of a (100 things)", 3.0, False, baseline=1.5, ratio=2.0,
                                  target="≤ 1 ms", note="x | y"),
                              row(run_all.CHECK + "fast", "passed", True, target="passes")])
    monkeypatch.setattr(run_all, "RUNS", {"fast": (["fast.py"], ["fast.py", "--full"])})
    md = tmp_path / "table.md"
    assert run_all.main(["--log-dir", str(tmp_path / "logs"), "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    table = [line for line in md.read_text().splitlines() if line.startswith("|")]
    assert table[0] == "| measure | figure | baseline (same run) | ratio | target | met | load | note |"
    assert "| speed of a (100 things) | 3.00 ms | 1.50 ms | 2.00 | ≤ 1 ms | **no** | 1.5 | x \\| y |" in table
    # the goal the script printed nothing for is a row of its own, saying so
    assert "| b ≤ 1 ms | not measured | — | — | — | — | — | fast printed no such figure |" in table
    # the reports check comes after the figures, its outcome a word
    assert table[-1].startswith(f"| {run_all.CHECK}fast | passed | — | — | passes | yes |")
    assert "goals met: 1; not met: 1; not measured: 1" in out
    assert (tmp_path / "logs" / "fast.log").read_text().startswith("warming up")


def test_a_failing_script_makes_the_run_fail(run_all, tmp_path, monkeypatch, capsys):
    script(tmp_path, "fast", [row("speed of a", 0.5, True), row("speed of b", 0.5, True),
                              row(run_all.CHECK + "fast", "passed", True)])
    script(tmp_path, "broken", [], exit_status=3)
    monkeypatch.setattr(run_all, "RUNS", {"fast": (["fast.py"], ["fast.py"]),
                                          "broken": (["broken.py"], ["broken.py"])})
    assert run_all.main(["--log-dir", str(tmp_path / "logs")]) == 1
    out = capsys.readouterr().out
    assert "| c ≤ 1 ms | not measured | — | — | — | — | — | broken failed (exit 3) |" in out
    assert "goals met: 3; not met: 0; not measured: 1; failed to run: broken" in out
    # --only runs the scripts named, and only their goals are rows
    assert run_all.main(["--only", "fast", "--log-dir", str(tmp_path / "logs")]) == 0
    assert "| not measured |" not in capsys.readouterr().out


def test_every_goal_names_a_run_that_exists():
    spec = importlib.util.spec_from_file_location("bench_run_all_real", REPO / "bench" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {name for name, _start, _goal in module.GOALS} <= set(module.RUNS)
    for name, (modest, full) in module.RUNS.items():
        assert (REPO / "bench" / modest[0]).exists() and modest[0] == full[0], name


@pytest.mark.postgres
def test_the_meter_counts_postgresqls_cpu_of_connections_open_and_closed_since(monkeypatch):
    """bench/_common.PhaseMeter's PostgreSQL CPU: every process of the server, a backend
    that ended within the phase included (its time joins the postmaster's children's)."""
    import time

    import psycopg

    from tests.conftest import PG_SERVER

    spec = importlib.util.spec_from_file_location("bench_common", REPO / "bench" / "_common.py")
    assert spec is not None and spec.loader is not None
    common = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, common)  # its dataclasses look it up there
    spec.loader.exec_module(common)
    meter = common.PhaseMeter(12345, PG_SERVER)
    meter.start()
    assert meter.postmaster  # found from a backend's parent: the server runs on this machine
    url = common.libpq_url(PG_SERVER)
    with psycopg.connect(url, autocommit=True) as conn:
        gone = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SELECT count(*) FROM generate_series(1, 3000000)").fetchone()
        mid = common.postgres_cpu_seconds(meter.postmaster)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{gone}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{gone}").exists()  # that backend has ended
    meter.stop()
    assert mid > meter.postgres0  # counted while it ran
    assert meter.postgres is not None and meter.postgres0 + meter.postgres >= mid  # and kept once ended

"""Reports benchmark: the monthly league table and the KPIs on a large ledger in
PostgreSQL, beside the raw SQL GROUP BY that computes the same numbers.

    .venv/bin/python bench/reports.py [--cases 1000000] [--events 5000000] [--repeat 5]

It creates a fresh PostgreSQL database (dropped at the end), upgrades it with the app's
migrations, bulk-loads --cases cases (in 240 counties of 3 provinces, 20 departments; most
listed in the action on the day they came in, about a quarter after the backlog cut-off,
some not listed or uncategorised) and --events events (INSERT ... SELECT FROM
generate_series, in the database; dated resolutions, reopenings, cessations, resumptions
and merges among them), a petition per case (and repeats), survey answers for a tenth of
the cases, and ANALYZEs. The
load bypasses the app, so it then builds the KPI rollup in bulk (`rollup.rebuild`, what
`mediation reports rebuild` runs: SQL over the base tables), timed on its own. Then, for the
current month (most cases' last status change before its end) and a past month (many
changed since: the timeline decides), it times, median of --repeat runs after one warm-up:

- the KPIs: GET /api/reports/kpis?date=... through the app (test client, admin token);
- the monthly league tables (`reports.league`, in process: regions and departments, this
  month and last), and the whole monthly bulletin: GET /api/reports/monthly?month=... (the
  same tables and the month's petition counts);
- the raw SQL over the base tables: the same definitions as one hand-written GROUP BY over
  cases joined to their dated events, run by psycopg;
- the raw SQL over the rollup: the same figures by hand from kpi_rollup;

checks that all three give equal figures, and prints the times and the ratio app ÷ raw SQL
over the base tables (targets: ≤ 0.5 s and ≤ 1.5×), with app ÷ raw SQL over the rollup
beside it. Last, `mediation reports check` (the rollup against the base tables in every
grouping and segment) gives a row of its own. Exit status 0 when the run and its figure
checks succeeded (a target not met, or the reports check failing, is a row saying so).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

BENCH = Path(__file__).resolve().parent
# bench/ last on the path: the project's packages come first, the bench's own modules
# (_common, baseline_app) still import by name.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH] + [str(BENCH)]
sys.path.insert(0, str(BENCH.parent))

import _common as c  # noqa: E402

TARGET_SECONDS = 0.5
GOAL_CASES = 1_000_000  # the ledger size the ≤ 0.5 s goal is stated at
LEAGUES = (("regions", "county"), ("departments", "department"))  # the bulletin's two tables
TARGET_RATIO = 1.5

DEPARTMENTS = ["民政局", "住建局", "人社局", "自然资源局", "教育局", "卫健委", "公安局", "市场监管局",
               "交通局", "农业农村局", "水务局", "城管局", "生态环境局", "财政局", "司法局", "信访局",
               "应急局", "退役军人局", "医保局", "税务局"]

LOAD_SQL = """
INSERT INTO cases (reference, title, summary, region_code, departments, times_handled,
  livelihood_fields, visits_in_person, online_complaints, flags, background, demand_basis,
  focal_conflict, assessment, strategy_note, category_mask, status, status_changed_at,
  created_at, updated_at, last_seq, extension_days, received_on, accepted_on, action_listed_on,
  action_reason)
SELECT 'B-' || i, '案件 ' || i, '', r.code,
  CASE WHEN i %% 3 = 0 THEN json_build_array(d1.name, d2.name) ELSE json_build_array(d1.name) END,
  i %% 4, '[]'::json, 0, 0,
  CASE WHEN i %% 2 = 0 THEN '["petitioning_ceased"]'::json ELSE '[]'::json END, '', '', '',
  (ARRAY['reasonable','partly_reasonable','unreasonable_hardship','policy_gap','law_related',
         NULL])[1 + i %% 6],
  '', i %% 64,
  (ARRAY['resolved','resolved','resolved','resolved','resolved','resolved','closed','in_progress',
         'in_progress','reopened','intake'])[1 + i %% 11],
  timestamptz '2024-06-01' + ((i * 104729) %% 400 + (i * 7919) %% 330) * interval '1 day',
  timestamptz '2024-06-01' + ((i * 104729) %% 400) * interval '1 day',
  now(), %(per_case)s, 0, date '2024-06-01' + ((i * 104729) %% 400)::int,
  date '2024-06-01' + ((i * 104729) %% 400)::int,
  CASE WHEN i %% 50 <> 0 THEN date '2024-06-01' + ((i * 104729) %% 400)::int END,
  CASE WHEN i %% 128 = 0 THEN '领导批示纳入' ELSE '' END
FROM generate_series(1::bigint, %(cases)s) AS i
JOIN (SELECT row_number() OVER () - 1 AS n, code FROM (
        SELECT p || lpad(ci::text, 2, '0') || lpad(co::text, 2, '0') AS code
        FROM unnest(ARRAY['51','44','32']) p, generate_series(1, 10) ci, generate_series(1, 8) co) x
     ) r ON r.n = i %% 240
JOIN (SELECT row_number() OVER () - 1 AS n, name FROM unnest(%(depts)s::text[]) name) d1 ON d1.n = i %% 20
JOIN (SELECT row_number() OVER () - 1 AS n, name FROM unnest(%(depts)s::text[]) name) d2
  ON d2.n = (i / 20) %% 20
"""

# Event i goes to case 1 + (i-1) % N with seq 1 + (i-1) / N: per-case sequences with no gaps.
# A resolved or closed case's last event is its case.resolved / case.closed at its
# status_changed_at; a reopened case's is case.reopened; every 101st case was merged into
# another (its 2nd event), every 7th other case ceased petitioning (its 2nd) and every 14th
# petitioned again (its 3rd); the rest are progress.
EVENTS_SQL = """
INSERT INTO events (case_id, seq, type, actor_id, at, data, prev_hash, hash)
SELECT c.id, s.seq,
  CASE WHEN s.seq = 1 THEN 'case.created'
       WHEN s.seq = c.last_seq AND c.status IN ('resolved', 'closed') THEN 'case.' || c.status
       WHEN s.seq = c.last_seq AND c.status = 'reopened' THEN 'case.reopened'
       WHEN s.seq = c.last_seq - 1 AND c.status = 'reopened' THEN 'case.resolved'
       WHEN s.seq = 2 AND c.id %% 101 = 0 THEN 'case.merged'
       WHEN s.seq = 2 AND c.id %% 7 = 0 THEN 'case.petitioning_ceased'
       WHEN s.seq = 3 AND c.id %% 14 = 0 THEN 'case.petitioning_resumed'
       ELSE (ARRAY['case.updated','referral.offered','referral.accepted','opinion.posted',
                   'owner.contact_recorded'])[1 + s.seq %% 5] END,
  NULL,
  CASE WHEN s.seq = c.last_seq THEN c.status_changed_at
       ELSE c.created_at + (c.status_changed_at - c.created_at) * s.seq / (c.last_seq + 1) END,
  '{}', repeat('0', 64), md5(c.id::text || '-' || s.seq) || md5(s.seq::text)
FROM cases c CROSS JOIN LATERAL generate_series(1, c.last_seq) AS s(seq)
WHERE c.id BETWEEN %(lo)s AND %(hi)s
"""

# One petition per case on the day it came in (the monthly bulletin counts them), a repeat
# for every 5th case a month later, some of them visits by a group or above the level.
PETITIONS_SQL = """
INSERT INTO petitions (case_id, received_on, channel, level, head_count, repeat, skip_level, summary,
  recorded_at)
SELECT id, received_on, (ARRAY['letter','visit','online','phone'])[1 + id % 4], 'county',
  CASE WHEN id % 40 = 1 THEN 6 ELSE 1 END, false, id % 30 = 0, '', created_at
FROM cases;
INSERT INTO petitions (case_id, received_on, channel, level, head_count, repeat, skip_level, summary,
  recorded_at)
SELECT id, received_on + 30, 'visit', 'city', 1, true, true, '', created_at + interval '30 days'
FROM cases WHERE id % 5 = 0;
"""

SURVEY_SQL = """
INSERT INTO survey_invites (case_id, token_hash, created_at, expires_at, used_at)
SELECT id, md5('t' || id) || md5('u' || id), status_changed_at, status_changed_at + interval '14 days',
       status_changed_at + interval '2 days'
FROM cases WHERE id % 10 = 0;
INSERT INTO survey_answers (invite_id, case_id, rating, comment, answered_at)
SELECT id, case_id, 1 + (case_id / 10) % 5, '', used_at FROM survey_invites;
"""

# The raw SQL over the base tables: the definitions of mediation/supervision/kpis.py by hand,
# as one GROUP BY over the counted cases (listed in the action by the date, categorised or
# listed with a reason) joined to their few dated events aggregated per case. "A
# resolution/closure before the cutoff with no reopening after it (by seq) before the cutoff"
# is "the last resolution/closure before the cutoff comes after the last reopening before
# it", and likewise cessation/resumption (a case with neither event counts by its flag); a
# case merged into another before the cutoff is out of the action (its answers still count).
EV_PER_DAY = """, max(seq) FILTER (WHERE type IN ('case.resolved', 'case.closed') AND at < {cut}) AS done{i},
  max(seq) FILTER (WHERE type = 'case.reopened' AND at < {cut}) AS reopen{i},
  max(seq) FILTER (WHERE type = 'case.petitioning_ceased' AND at < {cut}) AS ceased{i},
  max(seq) FILTER (WHERE type = 'case.petitioning_resumed' AND at < {cut}) AS resumed{i},
  bool_or(type = 'case.merged' AND at < {cut}) AS merged{i}"""
EV = """WITH ev AS (SELECT case_id, bool_or(type IN ('case.petitioning_ceased', 'case.petitioning_resumed'))
  AS dated{per_day} FROM events WHERE type IN ('case.resolved', 'case.closed', 'case.reopened',
  'case.petitioning_ceased', 'case.petitioning_resumed', 'case.merged') GROUP BY case_id) """
IN_ACTION = "c.action_listed_on <= {day} AND NOT coalesce(ev.merged{i}, false)"
RESOLVED = """CASE WHEN c.status_changed_at < {cut} THEN c.status IN ('resolved', 'closed')
  ELSE coalesce(ev.done{i} > coalesce(ev.reopen{i}, 0), false) END"""
CEASED = """CASE WHEN coalesce(ev.dated, false)
  THEN coalesce(ev.ceased{i} > coalesce(ev.resumed{i}, 0), false)
  ELSE c.flags::text LIKE '%%"petitioning_ceased"%%' END"""
PER_DAY = """, sum(CASE WHEN {inside} THEN 1 ELSE 0 END),
  sum(CASE WHEN {inside} AND {resolved} THEN 1 ELSE 0 END),
  sum(CASE WHEN {inside} AND c.assessment = 'reasonable' THEN 1 ELSE 0 END),
  sum(CASE WHEN {inside} AND c.assessment = 'reasonable' AND {resolved} THEN 1 ELSE 0 END),
  sum(CASE WHEN {inside} AND {ceased} THEN 1 ELSE 0 END)"""
PER_DAY_ANSWERS = """, sum(CASE WHEN c.action_listed_on <= {day} AND a.answered_at < {cut} THEN 1 ELSE 0 END),
  sum(CASE WHEN c.action_listed_on <= {day} AND a.answered_at < {cut} AND a.rating >= 4 THEN 1 ELSE 0 END)"""
COUNTED = "(c.category_mask <> 0 OR c.action_reason <> '') AND c.action_listed_on <= %(latest)s"
KEYS = {"all": ("'all'", ""), "county": ("substr(c.region_code, 1, 6)", ""),
        "department": ("dept.value", ", json_array_elements_text(c.departments) AS dept(value)")}

# The same figures by hand from the summary the app keeps (kpi_rollup, mediation/supervision/
# rollup.py): month rows before the date's month plus day rows of its month up to the date.
ROLLUP_KEYS = {"all": ("'all'", "case"), "county": ("substr(region_code, 1, 6)", "case"),
               "department": ("department", "dept")}
ROLLUP_WINDOW = """((grain = 'm' AND day < date_trunc('month', {d}::date)::date)
  OR (grain = 'd' AND day >= date_trunc('month', {d}::date)::date AND day <= {d}::date))"""
METRICS = ("cases", "resolved", "reasonable", "reasonable_resolved", "ceased", "answers", "satisfied")


def raw(conn, grouping: str, days: list[dt.date], day_end) -> list[dict[str, tuple]]:
    """From the base tables, per date: key -> (cases, resolved, reasonable, reasonable
    resolved, ceased, answers, satisfied). `day_end(d)`: the end of the service's day d."""
    key, join = KEYS[grouping]
    params: dict[str, object] = {"latest": max(days)}
    for i, d in enumerate(days):
        params |= {f"d{i}": d, f"c{i}": day_end(d)}
    ev = EV.format(per_day="".join(EV_PER_DAY.format(cut=f"%(c{i})s", i=i) for i in range(len(days))))
    counts = "".join(PER_DAY.format(inside=IN_ACTION.format(day=f"%(d{i})s", i=i),
                                    resolved=RESOLVED.format(cut=f"%(c{i})s", i=i), ceased=CEASED.format(i=i))
                     for i in range(len(days)))
    answers = "".join(PER_DAY_ANSWERS.format(day=f"%(d{i})s", cut=f"%(c{i})s") for i in range(len(days)))
    latest_cut = f"%(c{days.index(max(days))})s"
    out: list[dict[str, tuple]] = [{} for _ in days]
    for row in conn.execute(f"{ev}SELECT {key}{counts} FROM cases c LEFT JOIN ev ON ev.case_id = c.id "
                            f"{join} WHERE {COUNTED} GROUP BY 1", params):
        for i in range(len(days)):
            if row[1 + 5 * i]:
                out[i][row[0]] = tuple(int(v) for v in row[1 + 5 * i: 6 + 5 * i]) + (0, 0)
    for row in conn.execute(f"SELECT {key}{answers} FROM cases c JOIN survey_answers a ON a.case_id = c.id "
                            f"{join} WHERE {COUNTED} AND a.answered_at < {latest_cut} GROUP BY 1", params):
        for i in range(len(days)):
            if row[0] in out[i]:
                out[i][row[0]] = out[i][row[0]][:5] + (int(row[1 + 2 * i]), int(row[2 + 2 * i]))
    return out


def raw_rollup(conn, grouping: str, days: list[dt.date]) -> list[dict[str, tuple]]:
    """The same as `raw`, by hand from the rollup table."""
    key, dim = ROLLUP_KEYS[grouping]
    params = {f"d{i}": d for i, d in enumerate(days)}
    windows = [ROLLUP_WINDOW.format(d=f"%(d{i})s") for i in range(len(days))]
    cols = "".join(f", sum(CASE WHEN {w} THEN {m} ELSE 0 END)" for w in windows for m in METRICS)
    out: list[dict[str, tuple]] = [{} for _ in days]
    n = len(METRICS)
    for row in conn.execute(f"SELECT {key}{cols} FROM kpi_rollup WHERE dim = '{dim}' AND "
                            f"({' OR '.join(windows)}) GROUP BY 1", params):
        for i in range(len(days)):
            if row[1 + n * i]:
                out[i][row[0]] = tuple(int(v) for v in row[1 + n * i: 1 + n * (i + 1)])
    return out


def raw_rollup_kpis(conn, day):
    return raw_rollup(conn, "all", [day])[0]


def raw_rollup_monthly(conn, last, prev_last):
    return {g: raw_rollup(conn, g, [last, prev_last]) for g in ("county", "department")}


def raw_kpis(conn, day, day_end):
    return raw(conn, "all", [day], day_end)[0]


def raw_monthly(conn, last, prev_last, day_end):
    return {g: raw(conn, g, [last, prev_last], day_end) for g in ("county", "department")}


def median_time(fn, repeat: int):
    fn()  # warm-up: plans and caches, as on a server that has been running
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


# The secondary indexes of the loaded tables (not those behind a primary key or unique
# constraint) are dropped for the load and built again after it: one sort per index
# instead of millions of insertions into it.
INDEXES_SQL = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relname IN ('cases', 'events', 'petitions', 'survey_invites', 'survey_answers')
  AND t.relnamespace = 'public'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
"""


def load(url: str, cases: int, events: int) -> None:
    """Bulk-load the ledger in SQL (INSERT ... SELECT FROM generate_series): with
    session_replication_role = replica (no triggers: neither the timeline's append-only
    guard nor the foreign-key checks, the rows being consistent by construction) and the
    secondary indexes built after the rows. Prints each phase's time."""
    import psycopg

    per_case, extra = divmod(events, cases)
    phases: list[str] = []
    with psycopg.connect(c.libpq_url(url), autocommit=True) as conn:
        t0 = mark = time.perf_counter()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            phases.append(f"{name} {now - mark:.1f} s")
            mark = now

        try:
            conn.execute("SET session_replication_role = replica")
            triggers_off = "session"
        except psycopg.errors.InsufficientPrivilege:  # not a superuser: the table owner's way
            conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
            triggers_off = "events"
        conn.execute("SET maintenance_work_mem = '256MB'")
        indexes = conn.execute(INDEXES_SQL).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute(LOAD_SQL, {"cases": cases, "per_case": per_case, "depts": DEPARTMENTS})
        if extra:  # the first `extra` cases get one more event, so the total is exact
            conn.execute("UPDATE cases SET last_seq = last_seq + 1 WHERE id <= %s", (extra,))
        phase("cases")
        step = 100_000
        for lo in range(1, cases + 1, step):
            conn.execute(EVENTS_SQL, {"lo": lo, "hi": lo + step - 1})
        phase("events")
        conn.execute(PETITIONS_SQL)
        conn.execute(SURVEY_SQL)
        phase("petitions and surveys")
        for _, definition in indexes:
            conn.execute(definition)
        phase(f"{len(indexes)} indexes")
        if triggers_off == "events":
            conn.execute("ALTER TABLE events ENABLE TRIGGER USER")
        conn.execute("RESET session_replication_role")
        conn.execute("ANALYZE")
        phase("analyze")
        n_cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        n_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        n_answers = conn.execute("SELECT count(*) FROM survey_answers").fetchone()[0]
    print(f"loaded {n_cases:,} cases, {n_events:,} events, {n_answers:,} survey answers "
          f"in {time.perf_counter() - t0:.1f} s ({', '.join(phases)})")
    if n_cases != cases or n_events != events:
        raise c.BenchError(f"expected {cases} cases and {events} events")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.events < args.cases:
        raise SystemExit("--events must be at least --cases (every case has its case.created)")
    c.install_signal_handlers()
    import psycopg

    from mediation import clock, create_app
    from mediation.cli import upgrade_database
    from mediation.extensions import db
    from mediation.supervision import reports, rollup
    from mediation.supervision.scope import Scope
    from mediation.users import create_user, issue_token

    with c.fresh_database("bench_reports") as url, c.temp_dir("bench-reports-") as tmp:
        print("machine:", "; ".join(f"{k} {v}" for k, v in c.machine_info(url).items()))
        app = create_app({"MEDIATION_DATABASE_URL": c.sqlalchemy_url(url),
                          "MEDIATION_SECRET_KEY": c.SECRET_KEY,
                          "MEDIATION_PII_KEY": Fernet.generate_key().decode(), "INSTANCE_PATH": tmp})
        with app.app_context():
            upgrade_database()
            admin = create_user("bench_admin", "Bench-pass-123!", "admin", None)
            token, _ = issue_token(admin)
            db.session.commit()
            db.session.remove()
        load(url, args.cases, args.events)
        with app.app_context():  # the bulk rollup build (`mediation reports rebuild`), in SQL
            t0 = time.perf_counter()
            built = rollup.rebuild(db.session.connection())
            db.session.commit()
            db.session.remove()
        print(f"rollup rebuilt in {time.perf_counter() - t0:.1f} s: {built['steps']:,} case steps, "
              f"{built['rollup_rows']:,} rollup rows")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def day_end(d: dt.date) -> dt.datetime:  # the end of the service's day d, in UTC
            with app.app_context():
                return clock.day_end(d)

        with app.app_context():
            today = clock.today()
        rows = [["measure", "app (s)", "raw SQL, base tables (s)", "ratio app÷raw", "≤ 0.5 s", "≤ 1.5×",
                 "raw SQL, rollup (s)", "app÷rollup SQL"]]
        ok = True

        def row(label, t_app, t_raw, t_roll):
            nonlocal ok
            ok &= t_app <= TARGET_SECONDS and t_app / t_raw <= TARGET_RATIO
            size = "" if args.cases >= GOAL_CASES else f"; the goal is at {GOAL_CASES:,} cases (--full)"
            c.result(f"{label} ({args.cases:,} cases)", t_app * 1000, "ms", t_raw * 1000,
                     f"≤ {TARGET_SECONDS * 1000:.0f} ms", t_app <= TARGET_SECONDS,
                     note=f"baseline: raw SQL GROUP BY over the base tables (≤ {TARGET_RATIO}×: "
                          f"{'yes' if t_app / t_raw <= TARGET_RATIO else 'no'}); raw SQL over the rollup "
                          f"{t_roll * 1000:.1f} ms{size}")
            rows.append([label, f"{t_app:.3f}", f"{t_raw:.3f}", f"{t_app / t_raw:.3f}",
                         "yes" if t_app <= TARGET_SECONDS else "NO",
                         "yes" if t_app / t_raw <= TARGET_RATIO else "NO", f"{t_roll:.3f}",
                         f"{t_app / t_roll:.2f}"])

        with psycopg.connect(c.libpq_url(url), autocommit=True) as conn:
            conn.execute("SET jit = off")  # as the app does for its aggregates (kpis.py says why)
            for month in (today.strftime("%Y-%m"), "2025-06"):
                first = dt.date.fromisoformat(month + "-01")
                last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
                prev_last = first - dt.timedelta(days=1)
                day = min(last, today)

                def get(path):
                    r = client.get(path, headers=headers)
                    if r.status_code != 200:
                        raise c.BenchError(f"{path}: {r.status_code} {r.get_data(as_text=True)[:300]}")
                    return r.get_json()

                t_app, body = median_time(lambda d=day: get(f"/api/reports/kpis?date={d}"), args.repeat)
                t_raw, ref = median_time(lambda d=day: raw_kpis(conn, d, day_end), args.repeat)
                t_roll, ref_roll = median_time(lambda d=day: raw_rollup_kpis(conn, d), args.repeat)
                want = ref["all"]
                got = body["kpis"]
                if ref_roll["all"] != want:
                    raise c.BenchError(f"rollup differs from the base tables: {ref_roll['all']} vs {want}")
                if (body["cases"], got["resolution_rate"]["numerator"],
                        got["reasonable_demand_resolution_rate"]["denominator"],
                        got["reasonable_demand_resolution_rate"]["numerator"],
                        got["ceased_petitioning_rate"]["numerator"],
                        got["satisfaction_rate"]["denominator"],
                        got["satisfaction_rate"]["numerator"]) != want:
                    raise c.BenchError(f"KPIs differ from raw SQL: {got} vs {want}")
                row(f"KPIs as of {day}", t_app, t_raw, t_roll)

                t_app, body = median_time(lambda m=month: get(f"/api/reports/monthly?month={m}"), args.repeat)
                t_raw, ref = median_time(lambda a=last, b=prev_last: raw_monthly(conn, a, b, day_end),
                                         args.repeat)
                t_roll, ref_roll = median_time(lambda a=last, b=prev_last: raw_rollup_monthly(conn, a, b),
                                               args.repeat)
                if ref_roll != ref:
                    raise c.BenchError("the rollup's league figures differ from the base tables'")
                for name, grouping in (("regions", "county"), ("departments", "department")):
                    now, before = ref[grouping]
                    for r in body[name]:
                        k = r["key"]
                        if (r["cases"], r["resolved"], r["answers"]) != (now[k][0], now[k][1], now[k][5]):
                            raise c.BenchError(f"league row {k} differs from raw SQL")
                        prev = before.get(k)
                        if r["previous_rate"] != (round(prev[1] / prev[0], 4) if prev else None):
                            raise c.BenchError(f"league row {k}: last month's rate differs from raw SQL")
                    if len(body[name]) != len(now):
                        raise c.BenchError(f"league {name} has {len(body[name])} rows, raw SQL {len(now)}")
                # The league tables alone (what the rollup serves), beside the whole bulletin
                # (the league tables and the month's petition counts, over HTTP).
                def league_tables(a=last, b=prev_last):
                    with app.app_context():
                        try:
                            return {name: reports.league(Scope(""), [a, b], grouping)[0]
                                    for name, grouping in LEAGUES}
                        finally:
                            db.session.rollback()

                t_league, tables = median_time(league_tables, args.repeat)
                for name in ("regions", "departments"):
                    if [(r["key"], r["cases"], r["resolved"], r["rank"]) for r in tables[name]] != [
                            (r["key"], r["cases"], r["resolved"], r["rank"]) for r in body[name]]:
                        raise c.BenchError(f"the league table of {name} differs from the bulletin's")
                petitions = body["petitions"]["total"]
                want = conn.execute("SELECT count(*), coalesce(sum(head_count), 0) FROM petitions "
                                    "WHERE received_on BETWEEN %s AND %s", (first, last)).fetchone()
                if (petitions["petitions"], petitions["persons"]) != tuple(want):
                    raise c.BenchError(f"the bulletin's petitions {petitions} differ from raw SQL {want}")
                row(f"monthly league {month} ({len(body['regions'])} counties, "
                    f"{len(body['departments'])} departments, this month and last)", t_league, t_raw, t_roll)
                row(f"monthly bulletin {month} (the league and {petitions['petitions']:,} petitions, HTTP)",
                    t_app, t_raw, t_roll)
        print(f"\n{args.cases:,} cases, {args.events:,} events; median of {args.repeat} runs after a "
              "warm-up; figures checked equal to the raw SQL over the base tables and over the rollup; "
              "the ratio is app ÷ raw SQL over the base tables")
        c.print_table(rows)
        print(f"\ntargets met: {'all' if ok else 'not all'} (figures, not pass/fail)")
        c.reports_check(app, "the reports bench")  # a goal: its row says whether it passed
        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

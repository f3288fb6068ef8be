"""The deployment of deploy/, as processes on this machine: nginx with deploy's own
configuration in front of two `mediation serve` (gunicorn) web processes, a Celery worker
and one beat, on PostgreSQL and a Redis of their own. The same layout as
deploy/compose.yaml and deploy/systemd/, without containers.

The image itself (deploy/Dockerfile) is built and run only where a Docker daemon answers
(`docker info`); elsewhere that test is not collected, and the run's header says why."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy.orm import Session

from mediation import timeline
from mediation.extensions import db
from tests.conftest import build_app, docker_answers, drop_pg_database, make_pg_database
from tests.factories import make_world
from tests.test_operations import LINE, wait_until
from tests.test_realtime_live import WAIT, Client, LiveServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.own_db]
ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def nginx_config(work: Path, port: int, backends: list[int]) -> Path:
    """deploy/nginx/compose.conf, its upstream pointed at our ports, in a config of its own."""
    site = (DEPLOY / "nginx" / "compose.conf").read_text()
    site = re.sub(r"(?m)^\s*server web\d:8000[^;]*;\n", "", site)
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in backends)
    site = site.replace("    ip_hash;\n", "    ip_hash;\n" + servers)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    assert site.count("127.0.0.1:") == len(backends) + 1, site
    conf = work / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/client_body; proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
{site}
}}
""")
    return conf


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, private_redis) -> Iterator[dict]:
    work = tmp_path_factory.mktemp("deploy")
    # A database of its own in this run's Redis: its own Celery queue and Socket.IO channel.
    redis_url = private_redis.rsplit("/", 1)[0] + "/2"
    url = make_pg_database()
    procs: list[subprocess.Popen] = []
    servers: list[LiveServer] = []
    try:
        app = build_app(url, work / "seed-instance", MEDIATION_REDIS_URL=redis_url)
        world = make_world(app, {"officer": ("case_officer", "510104")}, {"a": ("officer", "510104")})
        servers = [LiveServer(work, url, MEDIATION_REDIS_URL=redis_url, MEDIATION_PROXY_HOPS="1")
                   for _ in range(2)]
        for s in servers:
            s.start()
        env = servers[0].env
        for role, extra in (("worker", ["--pool=solo", "--without-gossip", "--without-mingle"]),
                            ("beat", ["--schedule", str(work / "celerybeat-schedule")])):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "mediation.celery_worker", role,
                 "--loglevel=INFO", *extra], env=env, stdout=(work / f"{role}.log").open("w"),
                stderr=subprocess.STDOUT))
        proxy_port = free_port()
        conf = nginx_config(work, proxy_port, [s.port for s in servers])
        procs.append(subprocess.Popen(["nginx", "-p", str(work), "-c", str(conf)],
                                      stdout=subprocess.DEVNULL, stderr=(work / "nginx.out").open("w")))
        proxy = f"http://127.0.0.1:{proxy_port}"

        def proxy_up() -> bool:
            try:
                return requests.get(proxy + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(proxy_up, "nginx to answer: " + (work / "nginx.out").read_text())
        yield {"app": app, "servers": servers, "proxy": proxy, "tokens": world.tokens,
               "ids": {name: user.id for name, user in world.users.items()},
               "cases": world.cases, "work": work}
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for s in servers:
            s.stop()
        drop_pg_database(url)


def test_both_web_processes_are_gunicorn_and_ready_behind_nginx(deployment):
    for server in deployment["servers"]:
        argv = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes().decode().split("\0")
        assert "gunicorn" in argv, argv
        wait_until(lambda s=server: requests.get(s.base + "/readyz", timeout=WAIT).status_code == 200,
                   "each web process to be ready")
    r = requests.get(deployment["proxy"] + "/readyz", timeout=WAIT)
    assert r.status_code == 200 and r.json()["checks"]["socketio_listener"] == "ok"
    # nginx's request id reaches the app and comes back; /metrics stays inside.
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
    assert requests.get(deployment["proxy"] + "/metrics", timeout=WAIT).status_code == 404


def test_a_client_through_nginx_receives_writes_made_on_either_process(deployment):
    tok, case_id = deployment["tokens"]["officer"], deployment["cases"]["a"]
    # Polling first, then the upgrade: both must reach the same process (ip_hash).
    c = Client(deployment["proxy"], tok, transports=("polling", "websocket"))
    try:
        assert c.call("subscribe", {"case_id": case_id, "after": 0})["ok"]
        wait_until(lambda: c.sio.transport() == "websocket", "the upgrade to WebSocket through nginx")
        seqs = [server.post(f"/api/cases/{case_id}/messages", tok, {"body": f"via {server.port}"})
                .json()["seq"] for server in deployment["servers"]]
        assert [e["seq"] for e in c.take(2, case_id)] == seqs
    finally:
        c.close()


def test_beat_sweeps_the_outbox_through_the_worker_and_the_web_processes_say_when(deployment):
    app, case_id = deployment["app"], deployment["cases"]["a"]
    c = Client(deployment["servers"][1].base, deployment["tokens"]["officer"])
    try:
        after = c.call("subscribe", {"case_id": case_id, "after": 0})["last_seq"]
        with app.app_context():
            # Committed, not published (as after a crash): nobody but beat's sweep sends it.
            with Session(db.engine) as s:
                ev = timeline.append(s, case_id, "message.posted",
                                     {"channel": "case", "body": "found by the sweep"},
                                     deployment["ids"]["officer"])
                s.commit()
                seq = ev.seq
            db.session.remove()
        got = c.take(1, case_id, timeout=120)[0]  # beat runs it every 15 s
        assert (got["seq"], got["data"]["body"]) == (seq, "found by the sweep") and seq == after + 1
    finally:
        c.close()

    def swept() -> str | None:
        text = requests.get(deployment["servers"][0].base + "/metrics", timeout=WAIT).text
        found = re.search(r'^mediation_sweep_last_success_timestamp_seconds'
                          r'\{sweep="mediation.publish_pending"\} '
                          r"(\S+)$", text, re.M)
        return text if found and re.search(r"^mediation_outbox_depth 0\.0$", text, re.M) else None

    wait_until(swept, "the sweep's time and an empty outbox in another process's /metrics")
    assert re.search(r"^mediation_celery_queue_length \d+\.0$", swept(), re.M)
    # The worker logs like the web processes: time, level, logger, request id.
    done = [line for line in (deployment["work"] / "worker.log").read_text().splitlines()
            if "mediation.publish_pending" in line and "succeeded" in line]
    assert done and LINE.match(done[0]), done[:1]


if docker_answers():  # else not collected: see the module's docstring and the run's header

    def test_the_image_builds_runs_as_a_user_and_serves(tmp_path):
        tag = "mediation-test:latest"
        built = subprocess.run(["docker", "build", "-f", str(DEPLOY / "Dockerfile"), "-t", tag,
                                str(ROOT)], capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stderr[-3000:]
        uid = subprocess.run(["docker", "run", "--rm", tag, "id", "-u"], capture_output=True,
                             text=True, timeout=120)
        assert uid.returncode == 0 and uid.stdout.strip() != "0"
        top = subprocess.run(["docker", "run", "--rm", tag, "python", "-c",
                              "import importlib.util as u; print(u.find_spec('templates'))"],
                             capture_output=True, text=True, timeout=120)
        assert top.stdout.strip() == "None"
        port = free_port()
        name = f"mediation-test-{port}"
        subprocess.run(["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", tag],
                       check=True, capture_output=True, timeout=120)
        try:
            wait_until(lambda: _answers(f"http://127.0.0.1:{port}/readyz"), "the container to be ready",
                       timeout=120)
        finally:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=120)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_deployment_files_describe_this_layout():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"(?m)^USER mediation$", dockerfile)  # not root
    assert "python:3.11-slim" in dockerfile and "--no-index --find-links /wheels" in dockerfile
    assert "-c constraints.txt" in dockerfile and "/readyz" in dockerfile
    compose = (DEPLOY / "compose.yaml").read_text()
    services = re.findall(r"(?m)^  (\w+):", compose.split("\nservices:\n")[1].split("\nvolumes:")[0])
    assert services == ["postgres", "redis", "migrate", "web1", "web2", "worker", "beat", "nginx"]
    assert compose.count("mediation.celery_worker\", \"beat\"") == 1  # exactly one beat
    for conf in ("compose.conf", "mediation.conf"):
        text = (DEPLOY / "nginx" / conf).read_text()
        assert "ip_hash;" in text and 'proxy_set_header Upgrade $http_upgrade;' in text
        assert "location = /metrics { return 404; }" in text
    units = {p.name: p.read_text() for p in (DEPLOY / "systemd").iterdir()}
    assert "mediation serve --host 127.0.0.1 --port %i" in units["mediation-web@.service"]
    assert "/readyz" in units["mediation-web@.service"] and "/readyz" in units["mediation-readyz@.service"]
    assert "celery -A mediation.celery_worker worker" in units["mediation-worker.service"]
    assert "celery -A mediation.celery_worker beat" in units["mediation-beat.service"]
    example = (DEPLOY / ".env.example").read_text()
    from mediation.settings import DECLARED

    named = set(re.findall(r"(?m)^(MEDIATION_\w+)=", example))
    assert named and named <= set(DECLARED), named - set(DECLARED)


def test_the_wheel_installs_no_generic_top_level_package(tmp_path):
    """templates/ ships inside the package (mediation/templates); `realtime` and `referrals`
    are this project's own top-level packages (README: Architecture)."""
    import zipfile

    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("mediation-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"mediation", "realtime", "referrals"}
    level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(level).decode().split() == ["mediation", "realtime", "referrals"]
    pages = {n for n in names if n.endswith(".html")}
    assert "mediation/templates/base.html" in pages and len(pages) >= 40
    assert all(n.startswith("mediation/templates/") for n in pages)
    assert {"mediation/migrations/env.py", "referrals/routing_rules.json"} <= set(names)
    assert any(n.startswith("mediation/static/") for n in names)

    # Installed from the wheel, the app finds its pages inside the package.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=600)
    found = subprocess.run([sys.executable, "-I", "-c",
                            f"import sys; sys.path.insert(0, {str(target)!r});"
                            "from mediation.about import template_folder; print(template_folder())"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert found.stdout.strip() == str(target / "mediation" / "templates"), found.stderr


def test_the_host_nginx_configuration_is_valid(tmp_path):
    """deploy/nginx/mediation.conf (TLS, the systemd layout) as nginx itself reads it."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=mediation.example.org", "-keyout", str(tmp_path / "privkey.pem"),
                    "-out", str(tmp_path / "fullchain.pem")], check=True, capture_output=True, timeout=120)
    site = (DEPLOY / "nginx" / "mediation.conf").read_text()
    site = site.replace("/etc/ssl/mediation/", f"{tmp_path}/").replace(
        "/var/log/nginx/mediation.access.log", f"{tmp_path}/access.log")
    site = re.sub(r"listen (80|443)", lambda m: f"listen 127.0.0.1:{free_port()}", site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/client_body; proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi; uwsgi_temp_path {tmp_path}/uwsgi; scgi_temp_path {tmp_path}/scgi;
{site}
}}
""")
    checked = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "syntax is ok" in checked.stderr, checked.stderr


def test_every_dependency_is_pinned_in_the_constraints():
    """constraints.txt pins what CI tested (scripts/test, the Dockerfile install within it):
    a dependency added to pyproject.toml without it would install whatever is newest."""
    import tomllib

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pinned = {norm(line.split("==")[0]) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    missing = sorted(norm(Requirement(r).name) for r in wanted
                     if norm(Requirement(r).name) not in pinned and norm(Requirement(r).name)
                     not in ("setuptools", "wheel"))  # pip freeze leaves out its own tools
    assert missing == [], ("not in constraints.txt (regenerate it as its header says): "
                           f"{missing}")


def test_the_apps_imports_are_runtime_dependencies():
    """Every third-party module the installed packages import is provided by a runtime
    dependency (pyproject's `dependencies`, or what they require in turn), not only by
    the test extras: `pip install -e .` (the Quick start, the Dockerfile) must run the app.
    `requests` was once imported by the outbound channels while only the tests asked for it."""
    import ast
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    provided: set[str] = set()
    todo = [Requirement(r) for r in project["dependencies"]]
    while todo:  # the runtime closure, with the extras asked for
        req = todo.pop()
        name = norm(req.name)
        extras = set(req.extras)
        if (name, frozenset(extras)) in provided:
            continue
        provided.add((name, frozenset(extras)))
        for sub in metadata.requires(req.name) or ():
            r = Requirement(sub)
            # no marker, or one this platform and the extras asked for meet
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append(r)
    distributions = {name for name, _ in provided}
    owners = metadata.packages_distributions()
    own = {"mediation", "realtime", "referrals"}
    missing: dict[str, str] = {}
    for package in own:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {n.split(".")[0] for n in names} - own - set(sys.stdlib_module_names):
                    dists = {norm(d) for d in owners.get(top, ())}
                    if dists and not dists & distributions:
                        missing[top] = str(path.relative_to(ROOT))
    assert missing == {}, f"imported but not a runtime dependency: {missing}"

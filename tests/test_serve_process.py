"""`mediation serve` as a real process on a free port with a fresh embedded database,
driven over real HTTP like a user's script would."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mediation_script() -> str:
    here = Path(sys.executable).with_name("mediation")
    found = str(here) if here.exists() else shutil.which("mediation")
    assert found, "the `mediation` console script is not installed"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, token: str | None = None):
    """(status, headers, body bytes) of one request; errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def http_json(method: str, url: str, body: dict | None = None, token: str | None = None):
    status, _, raw = http(method, url, body, token)
    return status, json.loads(raw)


def test_serve_as_a_real_process(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATION_")}
    env.update({
        "MEDIATION_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "MEDIATION_INSTANCE_PATH": str(tmp_path / "instance"),
        # the code under test is this checkout's, whatever else is installed
        "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    })
    script = mediation_script()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([script, "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if http("GET", f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not come up: " + (
                tmp_path / "serve.log").read_text()
            time.sleep(0.2)

        # the embedded default made its own keys, once, in the instance folder
        assert (tmp_path / "instance" / "secret_key").exists()
        assert (tmp_path / "instance" / "pii_key").exists()

        made = subprocess.run(
            [script, "users", "create", "jj_officer", "--role", "case_officer", "--region", "510104",
             "--password-stdin"], input="officer-pass-123\n", env=env, capture_output=True, text=True,
            timeout=120)
        assert made.returncode == 0, made.stderr
        assert "created user jj_officer" in made.stdout

        status, body = http_json("POST", f"{base}/api/auth/tokens",
                                 {"username": "jj_officer", "password": "officer-pass-123"})
        assert status == 201, body
        token = body["token"]
        status, body = http_json("POST", f"{base}/api/auth/tokens",
                                 {"username": "jj_officer", "password": "wrong"})
        assert status == 401 and body["code"] == 401

        status, me = http_json("GET", f"{base}/api/auth/me", token=token)
        assert (status, me["role"], me["region"]) == (200, "case_officer", "510104")

        status, case = http_json("POST", f"{base}/api/cases", {
            "title": "物业维修基金使用纠纷", "summary": "业主反映维修基金被挪用", "region_code": "510104",
            "received_on": "2025-06-01", "livelihood_fields": ["property_management"],
            "petitioners": [{"name": "刘女士", "id_number": "510104198512120021",
                             "phone": "13911112222", "groups": ["woman"]}]}, token)
        assert status == 201, case
        assert case["petitioners"][0]["phone"] == "*******2222"
        assert [c["category"] for c in case["categories"]] == [2]

        status, body = http_json("PATCH", f"{base}/api/cases/{case['id']}",
                                 {"assessment": "reasonable"}, token)
        assert status == 200 and body["strategy"]["code"] == "resolve_in_time_limit"

        status, tl = http_json("GET", f"{base}/api/cases/{case['id']}/timeline", token=token)
        assert status == 200
        assert [(e["seq"], e["type"]) for e in tl["events"]][:3] == [
            (1, "case.created"), (2, "case.classified"), (3, "case.updated")]
        status, tl = http_json("GET", f"{base}/api/cases/{case['id']}/timeline?after=2", token=token)
        assert [e["seq"] for e in tl["events"]][0] == 3
        status, lst = http_json("GET", f"{base}/api/cases?category=2", token=token)
        assert status == 200 and [c["id"] for c in lst["items"]] == [case["id"]]

        status, body = http_json("GET", f"{base}/api/cases/{case['id']}")
        assert status == 401  # no token
        status, body = http_json("GET", f"{base}/api/cases/999999", token=token)
        assert status == 404 and body["code"] == 404

        status, ready = http_json("GET", f"{base}/readyz")
        assert status == 200 and ready["status"] == "ok" and ready["checks"]["database"] == "ok"

        status, spec = http_json("GET", f"{base}/api/openapi.json")
        assert status == 200 and spec["openapi"].startswith("3.")
        for path in ("/api/cases", "/api/cases/{case_id}", "/api/cases/{case_id}/timeline",
                     "/api/auth/tokens"):
            assert path in spec["paths"], path

        status, _, raw = http("GET", f"{base}/api/docs/")
        assert status == 200
        page = raw.decode()
        assert "swagger-ui" in page
        # every URL in the page is the app's own: no CDN, no outside host
        for url in re.findall(r"https?://[^\s\"'<>)]+", page):
            assert url.startswith(("http://127.0.0.1", "https://127.0.0.1")), url
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
        scripts = [a for a in assets if a.endswith(".js")]
        assert scripts, page
        for asset in assets:
            assert not re.match(r"^(https?:)?//", asset) or asset.startswith(
                ("http://127.0.0.1", "//127.0.0.1")), asset
            status, headers, content = http("GET", asset if asset.startswith("http") else base + asset)
            assert status == 200 and content, asset
            if asset.endswith(".js"):
                assert "javascript" in headers["Content-Type"], asset

        verified = subprocess.run([script, "timeline", "verify"], env=env, capture_output=True,
                                  text=True, timeout=120)
        assert verified.returncode == 0, verified.stderr
        assert "ok: 1 case(s)" in verified.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)
        log.close()

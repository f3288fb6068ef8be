"""The S3-compatible document store against a real S3 server (moto's standalone server,
started here on loopback): upload, download, stored once per case, withdraw and purge,
the orphan sweep, the archive; and an unreachable store answers 503 leaving nothing."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from mediation.documents.storage import S3Store, object_key, store
from mediation.extensions import db
from tests.conftest import build_app
from tests.factories import Api, pdf_bytes, png_bytes, sessions_world, upload

BUCKET = "case-files"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                # Its first answer can take seconds on a loaded machine (moto imports lazily):
                # a timed-out probe is a server not ready yet, as a refused one
                requests.get(url, timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.05)
        else:
            raise RuntimeError("moto_server did not start")
        import boto3

        boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                     aws_secret_access_key="test-secret").create_bucket(Bucket=BUCKET)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def s3_app(database_url, tmp_path_factory, s3_endpoint):
    return build_app(database_url, tmp_path_factory.mktemp("s3-instance"),
                     MEDIATION_STORAGE_URL=f"s3://{BUCKET}/mediation",
                     MEDIATION_STORAGE_ENDPOINT=s3_endpoint, MEDIATION_STORAGE_ACCESS_KEY="test",
                     MEDIATION_STORAGE_SECRET_KEY="test-secret")


@pytest.fixture
def s3w(app, s3_app):  # `app`: the suite's clean-up empties the shared database after
    api = Api(s3_app, s3_app.test_client())
    world = sessions_world(s3_app, api.tokens)
    world.api = api
    yield world
    with s3_app.app_context():
        for key, _ in list(store().listing()):
            store().delete(key)


def keys(app) -> list[str]:
    with app.app_context():
        return sorted(k for k, _ in store().listing())


def test_upload_download_once_per_case_withdraw_purge_on_s3(s3_app, s3w, s3_endpoint):
    with s3_app.app_context():
        assert isinstance(store(), S3Store)
    w, pdf = s3w, pdf_bytes("s3")
    r = upload(w.api, w.officer, w.case_id, [("调解协议书.pdf", pdf), ("照片.png", png_bytes())])
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()[0]
    upload(w.api, w.officer, w.case_id, [("再传一次.pdf", pdf)])
    sha = hashlib.sha256(pdf).hexdigest()
    assert object_key(w.case_id, sha) in keys(s3_app) and len(keys(s3_app)) == 2
    # The object really is in the bucket, under the prefix.
    import boto3

    raw = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test-secret")
    body = raw.get_object(Bucket=BUCKET, Key=f"mediation/cases/{w.case_id}/{sha}")["Body"].read()
    assert body == pdf
    r = w.api.get(doc["url"], w.officer)
    assert r.status_code == 200 and r.data == pdf
    admin = w.api.user("admin")
    withdraw = f"/api/documents/{doc['id']}/withdraw"
    assert w.api.post(withdraw, w.officer, {"reason": "重复"}).status_code == 200
    assert w.api.post(f"/api/documents/{doc['id']}/purge", admin).status_code == 200
    from mediation import timeline

    timeline.drain()
    assert object_key(w.case_id, sha) in keys(s3_app)  # the second copy still points to it
    r = w.api.get(f"/api/cases/{w.case_id}/archive", w.officer)
    assert r.status_code == 200
    path = Path(s3_app.instance_path) / "s3.zip"
    path.write_bytes(r.data)
    from mediation.documents.verify_archive import verify

    assert verify(str(path)) == []


def test_the_sweep_on_s3_removes_orphans_past_their_grace(s3_app, s3w):
    w = s3w
    upload(w.api, w.officer, w.case_id, [("a.pdf", pdf_bytes())])
    with s3_app.app_context():
        target = store()
        orphan = Path(s3_app.instance_path) / "orphan.bin"
        orphan.write_bytes(b"left by a crash")
        target.put(object_key(w.case_id, "f" * 64), orphan)
        from mediation.documents import commands

        assert commands.sweep_orphans(force=True) == 0  # within its grace
        s3_app.config["MEDIATION_ORPHAN_GRACE_HOURS"] = 1
        from mediation import clock

        later = clock.now() + __import__("datetime").timedelta(hours=2)
        original = commands.now
        commands.now = lambda: later
        try:
            assert commands.sweep_orphans(force=True) == 1
        finally:
            commands.now = original
            s3_app.config["MEDIATION_ORPHAN_GRACE_HOURS"] = 24
    assert keys(s3_app) == [k for k in keys(s3_app) if not k.endswith("f" * 64)]
    assert len(keys(s3_app)) == 1


def test_an_unreachable_store_is_503_and_leaves_nothing(app, database_url, tmp_path):
    dead = build_app(database_url, tmp_path / "dead", MEDIATION_STORAGE_URL="s3://nowhere/x",
                     MEDIATION_STORAGE_ENDPOINT=f"http://127.0.0.1:{free_port()}",
                     MEDIATION_STORAGE_ACCESS_KEY="k", MEDIATION_STORAGE_SECRET_KEY="s")
    api = Api(dead, dead.test_client())
    w = sessions_world(dead, api.tokens)
    r = upload(api, w.officer, w.case_id, [("a.pdf", pdf_bytes())])
    assert r.status_code == 503
    assert "cannot be reached" in r.get_json()["message"]
    with dead.app_context():
        assert db.session.execute(sa.text("SELECT COUNT(*) FROM documents")).scalar_one() == 0
        assert db.session.execute(sa.text(
            "SELECT COUNT(*) FROM events WHERE type LIKE 'document.%'")).scalar_one() == 0
        db.session.remove()
    assert list((Path(dead.instance_path) / "uploads-in-flight").iterdir()) == []

"""Where document contents are kept: a folder (embedded mode) or an S3-compatible store.

Objects are named by the case and the SHA-256 of their bytes (`cases/<id>/<sha256>`), so
the same file uploaded twice to a case is stored once, and every web process sharing the
folder or the bucket sees the same objects. `MEDIATION_STORAGE_URL` chooses the store.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app

from mediation.errors import DomainError

CHUNK = 64 * 1024


class StoreUnavailable(DomainError):
    """The store cannot be reached: nothing was written, try again later."""

    status = 503
    code_name = "Service Unavailable"


class Store(Protocol):
    url: str

    def put(self, key: str, path: Path) -> bool:
        """Store the file at `path` under `key` unless already there; True if written."""

    def exists(self, key: str) -> bool: ...

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def listing(self, prefix: str = "") -> Iterator[tuple[str, dt.datetime]]:
        """(key, last modified, UTC) of every object under `prefix`."""


def object_key(case_id: int, sha256: str) -> str:
    return f"cases/{int(case_id)}/{sha256}"


class FileStore:
    """Objects as files in a folder, written to a temporary name and renamed into place
    (a reader never sees half a file; two processes writing one object end with one)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"bad object key {key!r}")
        return path

    def _ready(self) -> None:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"the document store {self.url} cannot be written: "
                                   f"{exc.strerror}") from exc

    def put(self, key: str, path: Path) -> bool:
        self._ready()
        target = self._path(key)
        if target.exists():
            return False
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise StoreUnavailable(f"the document store {self.url} cannot be written: "
                                   f"{exc.strerror}") from exc
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreUnavailable(f"the document store {self.url} cannot be read: "
                                   f"{exc.strerror}") from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def listing(self, prefix: str = "") -> Iterator[tuple[str, dt.datetime]]:
        if not self.root.exists():
            return
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".incoming-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key, dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


class S3Store:
    """Objects in an S3-compatible bucket (MinIO, Ceph, a cloud's) through boto3."""

    def __init__(self, bucket: str, prefix: str, endpoint: str | None, region: str | None,
                 access_key: str | None, secret_key: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" + (f" at {endpoint}" if endpoint else "")
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            # A store that does not answer is said quickly, not after minutes of retries.
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(args) from exc
            raise StoreUnavailable(f"the document store {self.url} refused to {what}: {code}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"the document store {self.url} cannot be reached "
                                   f"to {what}: {exc}") from exc

    def exists(self, key: str) -> bool:
        try:
            self._call("look up a document", self.client.head_object, Bucket=self.bucket,
                       Key=self._key(key))
        except FileNotFoundError:
            return False
        return True

    def put(self, key: str, path: Path) -> bool:
        if self.exists(key):
            return False
        with open(path, "rb") as body:
            self._call("store a document", self.client.put_object, Bucket=self.bucket,
                       Key=self._key(key), Body=body)
        return True

    def open(self, key: str) -> BinaryIO:
        answer = self._call("read a document", self.client.get_object, Bucket=self.bucket,
                            Key=self._key(key))
        return answer["Body"]

    def delete(self, key: str) -> None:
        self._call("remove a document", self.client.delete_object, Bucket=self.bucket,
                   Key=self._key(key))

    def listing(self, prefix: str = "") -> Iterator[tuple[str, dt.datetime]]:
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self._key(""))
        pages = self._call("list documents", lambda: list(
            paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix))))
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][strip:], item["LastModified"].astimezone(dt.UTC)


def make_store(url: str | None, app: Flask) -> Store:
    config = app.config
    if not url:
        return FileStore(Path(app.instance_path) / "documents")
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileStore(Path(unquote(parts.path)))
    return S3Store(parts.netloc, unquote(parts.path), config.get("MEDIATION_STORAGE_ENDPOINT"),
                   config.get("MEDIATION_STORAGE_REGION"), config.get("MEDIATION_STORAGE_ACCESS_KEY"),
                   config.get("MEDIATION_STORAGE_SECRET_KEY"))


def store(app: Flask | None = None) -> Store:
    """The app's store (made once per app)."""
    app = app or current_app._get_current_object()
    found = app.extensions.get("mediation.documents.store")
    if found is None:
        found = make_store(app.config.get("MEDIATION_STORAGE_URL"), app)
        app.extensions["mediation.documents.store"] = found
    return found

"""Ledger uploads waiting for their import (the dry run checked them; the officer confirms).

A ledger holds identity and phone numbers in clear, so a waiting upload is kept encrypted
with the personal-data key (MultiFernet over MEDIATION_PII_KEY), in a file only the
service's user may read (0600, in a 0700 folder of the instance folder), and it is gone
after its import, after a failed check, or after MEDIATION_LEDGER_UPLOAD_MINUTES: the
sweep deletes it (the embedded loop, beat, and every upload), and an older file is never
read even before the sweep comes.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from celery import shared_task
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from mediation.settings import get as setting

FOLDER = "ledger-uploads"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")  # what secrets.token_urlsafe(16) makes


def _ttl() -> int:
    return setting("MEDIATION_LEDGER_UPLOAD_MINUTES") * 60


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in current_app.config["MEDIATION_PII_KEYS"]])


def folder() -> Path:
    path = Path(current_app.instance_path) / FOLDER
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # made before this rule existed, or under a loose umask
    return path


def _path(token: str) -> Path | None:
    return folder() / f"{token}.upload" if _TOKEN.match(token or "") else None


def store(data: bytes) -> str:
    """Keep an upload (encrypted, 0600); its token names it for `load` and `discard`."""
    sweep()
    token = secrets.token_urlsafe(16)
    fd = os.open(folder() / f"{token}.upload", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_fernet().encrypt(data))
    return token


def load(token: str) -> bytes | None:
    """The upload's bytes, or None when it is unknown, expired or not ours."""
    path = _path(token)
    if path is None or not path.exists():
        return None
    try:
        return _fernet().decrypt(path.read_bytes(), ttl=_ttl())
    except (InvalidToken, OSError):
        path.unlink(missing_ok=True)
        return None


def discard(token: str) -> None:
    path = _path(token)
    if path is not None:
        path.unlink(missing_ok=True)


def sweep() -> int:
    """Delete uploads older than their time; returns how many."""
    cutoff = time.time() - _ttl()
    removed = 0
    for path in folder().glob("*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


SWEEP_TASK = "supervision.sweep_uploads"


@shared_task(name=SWEEP_TASK)
def sweep_task() -> int:
    """Beat's sweep of expired uploads (where the worker shares the instance folder; each
    web process also sweeps at every upload)."""
    return sweep()


def init_app(app: Flask) -> None:
    from mediation.server import add_periodic_job
    from mediation.tasks import add_beat

    add_periodic_job(app, "supervision-uploads", sweep)
    add_beat(app, "supervision-sweep-uploads", SWEEP_TASK, 600.0)

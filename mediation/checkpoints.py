"""Checkpoints: every case's chain head, signed and kept outside the database.

The hash chain proves that no event was changed or removed from the middle; it cannot
prove that the last events were not removed together with a rewound case counter (the
chain that is left is intact). So once a day (and on `mediation timeline checkpoint`) the
head of every case's chain — (case_id, seq, hash) of its last event — is written to a file
in `MEDIATION_CHECKPOINT_DIR`, signed with HMAC-SHA256 under `MEDIATION_CHECKPOINT_KEY`.
`mediation timeline verify --checkpoint FILE` checks the signature, then that every head
is still there with its hash: a shortened chain or a rewound counter names its case.

The key: embedded, generated once into the instance folder; otherwise the setting, or, if
unset, one derived from MEDIATION_SECRET_KEY (every process has it). Keep the files where
whoever can write the database cannot rewrite them (another host, write-once storage); the
monthly bulletin prints the latest file's digest, so a paper copy anchors it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from mediation import clock
from mediation.extensions import db
from mediation.settings import get as setting
from mediation.timeline import Event, iso

log = logging.getLogger(__name__)
PREFIX = "checkpoint-"
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint file that cannot be trusted: unreadable or its signature wrong."""


@dataclass(frozen=True)
class Mismatch:
    case_id: int
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"case {self.case_id} seq {self.seq}: {self.problem}"


def directory() -> Path:
    configured = setting("MEDIATION_CHECKPOINT_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "checkpoints"


def _key() -> bytes:
    key = setting("MEDIATION_CHECKPOINT_KEY")
    if key:
        return key.encode()
    # Not configured outside the embedded mode: derived from the secret every process has.
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"mediation checkpoint key",
                    hashlib.sha256).digest()


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sign(document: dict[str, Any]) -> str:
    return hmac.new(_key(), _canonical(document), hashlib.sha256).hexdigest()


def heads() -> list[dict[str, Any]]:
    """Every case's last event: [{case_id, seq, hash}], by case."""
    last = (sa.select(Event.case_id, sa.func.max(Event.seq).label("seq"))
            .group_by(Event.case_id).subquery())
    rows = db.session.execute(
        sa.select(Event.case_id, Event.seq, Event.hash)
        .join(last, sa.and_(Event.case_id == last.c.case_id, Event.seq == last.c.seq))
        .order_by(Event.case_id)).all()
    return [{"case_id": c, "seq": s, "hash": h} for c, s, h in rows]


def write(folder: Path | None = None) -> Path:
    """Sign every case's head into a new file of the folder; its path."""
    folder = folder or directory()
    folder.mkdir(parents=True, exist_ok=True)
    now = clock.now()
    document: dict[str, Any] = {"version": VERSION, "created_at": iso(now), "heads": heads()}
    document["signature"] = _sign(document)
    path = folder / f"{PREFIX}{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(_canonical(document))
    os.replace(tmp, path)  # whole or not at all
    db.session.rollback()  # read only: end the snapshot
    return path


def load(path: Path) -> dict[str, Any]:
    """A checkpoint file's document, its signature checked."""
    try:
        document = json.loads(Path(path).read_bytes())
        signature = document.pop("signature")
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{path}: not a checkpoint file ({exc})") from exc
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _sign(document)):
        raise CheckpointError(f"{path}: the signature does not match (the file was changed, "
                              "or it was signed with another key)")
    return document


def check(path: Path) -> tuple[int, list[Mismatch]]:
    """Every head of the checkpoint still in the database with its hash, and no case's
    counter behind it: (heads checked, what is not)."""
    from mediation.cases.models import Case

    document = load(path)
    found = {(c, s): h for c, s, h in db.session.execute(
        sa.select(Event.case_id, Event.seq, Event.hash)
        .where(sa.tuple_(Event.case_id, Event.seq).in_(
            [(h["case_id"], h["seq"]) for h in document["heads"]] or [(-1, -1)]))).all()}
    counters = dict(db.session.execute(sa.select(Case.id, Case.last_seq)).all())
    problems: list[Mismatch] = []
    for head in document["heads"]:
        case_id, seq = head["case_id"], head["seq"]
        if case_id not in counters:
            problems.append(Mismatch(case_id, seq, "the case is gone"))
            continue
        if counters[case_id] < seq:
            problems.append(Mismatch(case_id, seq, f"the case's counter was rewound to "
                                     f"{counters[case_id]} (the checkpoint saw {seq})"))
        stored = found.get((case_id, seq))
        if stored is None:
            problems.append(Mismatch(case_id, seq, "the checkpointed event is missing: the "
                                     "chain was shortened"))
        elif stored != head["hash"]:
            problems.append(Mismatch(case_id, seq, "the event differs from the checkpoint's"))
    return len(document["heads"]), problems


def latest(folder: Path | None = None) -> Path | None:
    folder = folder or directory()
    files = sorted(p for p in folder.glob(f"{PREFIX}*.json")
                   if re.fullmatch(rf"{PREFIX}\d{{8}}T\d{{12}}Z\.json", p.name)) \
        if folder.is_dir() else []
    return files[-1] if files else None


def digest(path: Path) -> str:
    """The SHA-256 of the file as written (what the bulletin prints)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def written_at(path: Path) -> dt.datetime:
    """When a checkpoint was written, from its name (never parsing a file of every case)."""
    stamp = path.name.removeprefix(PREFIX).removesuffix(".json")
    return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.UTC)


def latest_digest() -> dict[str, str] | None:
    """The latest checkpoint's name, time and digest, for print (None if there is none)."""
    path = latest()
    if path is None:
        return None
    return {"name": path.name, "digest": digest(path), "created_at": iso(written_at(path))}


def daily() -> Path | None:
    """The daily checkpoint (a job): written once per service day, if not yet today."""
    today = clock.today()
    last = latest()
    if last is not None and clock.local_date(written_at(last)) >= today:
        return None
    path = write()
    log.info("checkpoint of every case's chain head written to %s", path)
    return path

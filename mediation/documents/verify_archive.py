#!/usr/bin/env python3
"""Verify a case archive (卷宗) offline: `python3 verify.py ARCHIVE.zip`.

Needs nothing but Python 3: it recomputes the SHA-256 of every document in the ZIP, the
hash chain of the timeline, and checks that every document the timeline says is in the
file is in the ZIP with the same hash. Exit status 0 when all holds; 1 with each problem
named otherwise. (This file is the service's own checker, copied into each archive.)
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile

GENESIS = "0" * 64


def canonical_json(data):
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(ev):
    material = canonical_json({"case": ev["case"], "seq": ev["seq"], "type": ev["type"],
                               "actor": ev["actor"], "at": ev["at"], "data": ev["data"],
                               "prev": ev["prev"]})
    return hashlib.sha256(material.encode()).hexdigest()


def verify(path):
    """Every problem found in the archive at `path` (an empty list: it is intact)."""
    problems = []
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path}: not a readable ZIP archive ({exc})"]
    with archive:
        names = set(archive.namelist())
        for required in ("manifest.json", "timeline.json"):
            if required not in names:
                problems.append(f"{required}: missing from the archive")
        if problems:
            return problems
        manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
        timeline = json.loads(archive.read("timeline.json").decode("utf-8"))
        # The chain: each event's hash recomputed, each linked to the one before.
        prev, expected = GENESIS, 1
        held = {}
        for ev in timeline["events"]:
            if ev["seq"] != expected:
                problems.append(f"timeline: event {expected} is missing (found {ev['seq']})")
                expected = ev["seq"]
            if ev["prev"] != prev:
                problems.append(f"timeline: event {ev['seq']} does not link to the event before it")
            if event_hash(ev) != ev["hash"]:
                problems.append(f"timeline: event {ev['seq']} does not match its hash")
            prev, expected = ev["hash"], expected + 1
            data = json.loads(ev["data"])
            if ev["type"] == "document.added" and data.get("visibility") != "author":
                held[data["document_id"]] = data
            elif ev["type"] in ("document.withdrawn", "document.purged"):
                held.pop(data.get("document_id"), None)
        if timeline["events"] and timeline.get("head") != prev:
            problems.append("timeline: its head is not the last event's hash")
        # The documents: each file's bytes against the manifest and the timeline.
        listed = {}
        for doc in manifest["documents"]:
            listed[doc["document_id"]] = doc
            if doc["path"] not in names:
                problems.append(f"{doc['path']}: missing from the archive")
                continue
            digest = hashlib.sha256()
            with archive.open(doc["path"]) as f:
                for block in iter(lambda f=f: f.read(65536), b""):
                    digest.update(block)
            if digest.hexdigest() != doc["sha256"]:
                problems.append(f"{doc['path']}: content changed (SHA-256 {digest.hexdigest()} "
                                f"where {doc['sha256']} was recorded)")
            event = held.get(doc["document_id"])
            if event is None:
                problems.append(f"{doc['path']}: not a document of the case file in the timeline")
            elif event["sha256"] != doc["sha256"]:
                problems.append(f"{doc['path']}: its recorded hash differs from the timeline's")
        for document_id, event in held.items():
            if document_id not in listed:
                problems.append(f"document {document_id} ({event.get('name')}): in the case file "
                                "but missing from the archive")
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python3 verify.py ARCHIVE.zip", file=sys.stderr)
        return 2
    problems = verify(argv[0])
    for problem in problems:
        print(problem)
    if problems:
        print(f"NOT INTACT: {len(problems)} problem(s)")
        return 1
    print("OK: every document matches its hash and the timeline's chain is whole")
    return 0


if __name__ == "__main__":
    sys.exit(main())

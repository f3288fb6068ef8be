"""The case archive (卷宗): one ZIP with the index page (卷宗目录) in the order of the
people's-mediation file list, every document of the case file, the timeline as JSON with
its hashes, a manifest, and `verify.py` — so an inspector can prove offline that the file
is complete and untouched (`mediation archive verify FILE` runs the same checker)."""

from __future__ import annotations

import html
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from mediation.cases.models import Case
from mediation.clock import now
from mediation.documents import commands
from mediation.documents.models import KIND_NAMES_ZH, Document, Kind, Visibility
from mediation.extensions import db
from mediation.timeline import Event, iso

VERIFIER = Path(__file__).with_name("verify_archive.py")
_KIND_ORDER = {k.value: i for i, k in enumerate(Kind)}


def _safe_part(name: str) -> str:
    """A file name inside the ZIP: the stored name (already free of separators and control
    characters), with characters some unzip tools trip over replaced."""
    return re.sub(r'[<>:"|?*]', "_", name)[:120]


def archived_documents(case_id: int) -> list[Document]:
    """The papers of the case file, in the file list's order: withdrawn, purged and
    counselling (author-only) documents stay out (the timeline still lists their hashes)."""
    rows = db.session.execute(sa.select(Document).where(
        Document.case_id == case_id, Document.withdrawn_at.is_(None),
        Document.purged_at.is_(None), Document.visibility != Visibility.AUTHOR.value)).scalars()
    return sorted(rows, key=lambda d: (_KIND_ORDER.get(d.kind, 99), d.uploaded_at, d.id))


def timeline_json(case: Case) -> dict[str, Any]:
    events = db.session.execute(sa.select(Event).where(Event.case_id == case.id)
                                .order_by(Event.seq)).scalars().all()
    return {"case_id": case.id, "reference": case.reference,
            "events": [{"case": e.case_id, "seq": e.seq, "type": e.type, "actor": e.actor_id,
                        "at": iso(e.at), "data": e.data, "prev": e.prev_hash, "hash": e.hash}
                       for e in events],
            "head": events[-1].hash if events else None}


def _index_html(case: Case, docs: list[tuple[Document, str]], head: str | None) -> str:
    rows = "\n".join(
        f"<tr><td>{i}</td><td>{html.escape(KIND_NAMES_ZH.get(Kind(d.kind), d.kind))}</td>"
        f"<td><a href=\"{html.escape(path)}\">{html.escape(d.name)}</a></td><td>{d.size}</td>"
        f"<td>{html.escape(iso(d.uploaded_at))}</td><td><code>{d.sha256}</code></td></tr>"
        for i, (d, path) in enumerate(docs, 1))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>卷宗目录 {html.escape(case.reference)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px;font-size:14px}}code{{font-size:11px}}</style></head>
<body><h1>卷宗目录</h1>
<p>案件编号：{html.escape(case.reference)}　案件名称：{html.escape(case.title)}</p>
<p>导出时间：{html.escape(iso(now()))}　时间线末端哈希：<code>{head or "—"}</code></p>
<table><thead><tr><th>序号</th><th>材料类别</th><th>材料名称</th><th>大小（字节）</th>
<th>上传时间（UTC）</th><th>SHA-256</th></tr></thead><tbody>
{rows}
</tbody></table>
<p>核验：<code>python3 verify.py 本压缩包.zip</code>（逐一核对材料哈希与时间线哈希链）。</p>
</body></html>
"""


def export(case_id: int, out: IO[bytes]) -> dict[str, Any]:
    """Write the case's archive as a ZIP to `out`; return its manifest."""
    case = db.session.get(Case, case_id)
    if case is None:
        from mediation.errors import NotFound

        raise NotFound("case")
    docs = archived_documents(case.id)
    timeline = timeline_json(case)
    placed: list[tuple[Document, str]] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i, doc in enumerate(docs, 1):
            path = f"documents/{i:03d}-{_safe_part(doc.name)}"
            with commands.open_content(doc) as src, z.open(path, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 64 * 1024)
            placed.append((doc, path))
        manifest = {
            "case_id": case.id, "reference": case.reference, "exported_at": iso(now()),
            "timeline_head": timeline["head"],
            "documents": [{"document_id": d.id, "path": p, "name": d.name, "kind": d.kind,
                           "size": d.size, "content_type": d.content_type, "sha256": d.sha256}
                          for d, p in placed]}
        z.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        z.writestr("timeline.json", json.dumps(timeline, ensure_ascii=False, indent=1))
        z.writestr("index.html", _index_html(case, placed, timeline["head"]))
        z.write(VERIFIER, "verify.py")
    return manifest


def verify(path: str | Path) -> list[str]:
    """Every problem in an archive (the checker shipped inside it)."""
    from mediation.documents.verify_archive import verify as check

    return check(str(path))

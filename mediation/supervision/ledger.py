"""The ledger (台账) in Excel: the import template, an all-or-nothing import through the
intake command, idempotent by reference number, and the full export (numbers masked)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from mediation import clock
from mediation.cases import commands
from mediation.cases.models import Case, Petition
from mediation.errors import Conflict, DomainError, Forbidden
from mediation.extensions import db
from mediation.permissions import Action, can
from mediation.pii import mask_id_number, mask_phone
from mediation.regions import covers, normalize_region
from mediation.schemas.cases import CaseIn
from mediation.settings import get as setting
from mediation.supervision.excel import SheetRefused, read_sheet, write_workbook
from mediation.supervision.scope import Scope
from mediation.users import Role, User

# (key, Chinese header, kind): the columns of the template, in order.
COLUMNS: list[tuple[str, str, str]] = [
    ("reference", "案件编号", "text"),
    ("title", "案件标题", "text"),
    ("region_code", "行政区划代码", "text"),
    ("departments", "责任部门", "list"),
    ("received_on", "登记日期", "date"),
    ("accepted_on", "受理日期", "date"),
    ("times_handled", "办理次数", "int"),
    ("livelihood_fields", "民生领域", "list"),
    ("visits_in_person", "走访次数", "int"),
    ("online_complaints", "网上投诉次数", "int"),
    ("flags", "标记", "list"),
    ("assessment", "诉求评估", "text"),
    ("summary", "案情摘要", "text"),
    ("petitioner_name", "信访人姓名", "people"),
    ("petitioner_id_number", "身份证号", "people"),
    ("petitioner_phone", "联系电话", "people"),
    # The petition itself, and the officer's decision on a returning petitioner.
    ("petition_channel", "信访形式", "text"),
    ("petition_level", "信访层级", "text"),
    ("petition_head_count", "来访人数", "int"),
    ("repeat_of_reference", "重复件关联编号", "text"),
    ("new_case_reason", "另立新案理由", "text"),
]
PETITION_KEYS = {"petition_channel": "channel", "petition_level": "level",
                 "petition_head_count": "head_count"}
KEYS = [c[0] for c in COLUMNS]
HEADERS = {k: f"{zh} {k}" for k, zh, _ in COLUMNS}
KIND = {k: kind for k, _, kind in COLUMNS}
SPLIT = re.compile(r"\s*[,，、;；\n]\s*")
EXAMPLE = ["XF-2025-000001", "征地拆迁补偿纠纷", "510104", "区自然资源局、区住建局", "2025-03-01",
           "2025-03-08", 1, "land_demolition", 2, 0, "", "reasonable", "补偿款未足额发放",
           "（示例，导入前删除此行）", "", "", "letter", "county", 1, "", ""]


def write_template(path: Path | io.BytesIO) -> None:
    """The import template: the header row, an example row, and a sheet explaining each column."""
    help_rows = [["列 column", "说明"],
                 *[[HEADERS[k], {"list": "多个值用顿号、逗号或分号分隔", "date": "YYYY-MM-DD",
                                 "int": "整数", "people": "多名信访人按顺序用分号分隔",
                                 "text": ""}[kind]] for k, _, kind in COLUMNS],
                 ["", "信访形式：letter 来信、visit 来访、online 网上、phone 电话、leader_mailbox 领导信箱；"
                      "信访层级：county、city、province、national；来访人数仅用于来访。"],
                 ["", "同一信访人已有案件（身份证号、电话一致，或同县姓名相近且事项相同）时，须填写"
                      "重复件关联编号（作为该案的重复信访件，不另立案件）或另立新案理由，否则该行报错并列出疑似案件。"],
                 ["", "案件编号必填且唯一：同一编号再次导入时跳过，不会重复。"],
                 ["", "整表校验：任何一行有错则全部不导入，错误按行号和列名列出。"]]
    write_workbook(path, {"台账": [[HEADERS[k] for k in KEYS], EXAMPLE], "填写说明": help_rows})


@dataclass
class ImportResult:
    rows: int = 0
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # references already in the ledger
    # rows taken as repeat petitions of an existing case (重复件关联编号): no case of their own
    linked: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {row, column, message}
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def _header_key(cell: Any) -> str | None:
    text = str(cell or "").strip()
    if not text:
        return None
    last = text.split()[-1]
    if last in KEYS:
        return last
    for k, zh, _ in COLUMNS:
        if text == zh:
            return k
    return None


def _cell(kind: str, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value).strip()
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) else str(value).strip()
    if kind in ("list", "people"):
        return [v for v in SPLIT.split(str(value).strip()) if v]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _row_data(values: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in values.items() if KIND[k] != "people" and v is not None
            and k not in PETITION_KEYS and k != "repeat_of_reference"}
    petition = {PETITION_KEYS[k]: v for k, v in values.items() if k in PETITION_KEYS and v is not None}
    if petition:
        data["petition"] = petition
    names = values.get("petitioner_name") or []
    ids = values.get("petitioner_id_number") or []
    phones = values.get("petitioner_phone") or []
    people = []
    for i in range(max(len(names), len(ids), len(phones))):
        p: dict[str, Any] = {"name": names[i] if i < len(names) else ""}
        if i < len(ids):
            p["id_number"] = ids[i]
        if i < len(phones):
            p["phone"] = phones[i]
        people.append(p)
    if people:
        data["petitioners"] = people
    return data


def _flatten(messages: Any, column: str, row: int, out: list[dict[str, Any]]) -> None:
    """marshmallow's error tree -> one entry per (row, column, message)."""
    if isinstance(messages, dict):
        for key, sub in messages.items():
            if key == "petitioners" or isinstance(key, int):
                name = "petitioners"  # the list, then one petitioner by position
            elif column == "petitioners":
                name = f"petitioner_{key}" if f"petitioner_{key}" in KEYS else "petitioner_name"
            else:
                name = str(key)
            _flatten(sub, name, row, out)
    elif isinstance(messages, list):
        for m in messages:
            _flatten(m, column, row, out)
    else:
        out.append({"row": row, "column": HEADERS.get(column, column), "message": str(messages)})


# Columns read at most: the template's, with room for a few a clerk added (a 序号 column,
# notes); anything further right is never read.
MAX_COLUMNS = len(COLUMNS) + 24
TOO_MANY_ROWS = "too many rows (MEDIATION_LEDGER_MAX_ROWS): split the ledger into several files"


def parse(source: Path | bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    """Rows (with their spreadsheet row numbers) and header errors. Only the known columns
    are kept, at most MEDIATION_LEDGER_MAX_ROWS rows are read, and the reading is refused
    after MEDIATION_LEDGER_PARSE_SECONDS."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    max_rows = setting("MEDIATION_LEDGER_MAX_ROWS")
    try:
        # the header, the rows allowed, and one more to tell "too many" from "just enough"
        rows = read_sheet(data, MAX_COLUMNS, max_rows + 2, setting("MEDIATION_LEDGER_PARSE_SECONDS"))
    except SheetRefused as exc:
        return [], [{"row": "—", "column": "—", "message": str(exc)}]
    while rows and all(v is None or (isinstance(v, str) and not v.strip()) for v in rows[-1]):
        rows.pop()  # trailing blank lines
    if len(rows) > max_rows + 1:
        return [], [{"row": max_rows + 2, "column": "—",
                     "message": TOO_MANY_ROWS}]
    if not rows:
        return [], [{"row": 1, "column": "", "message": "the sheet is empty"}]
    keys = [_header_key(c) for c in rows[0]]
    missing = [HEADERS[k] for k in ("reference", "title", "region_code") if k not in keys]
    if missing:
        return [], [{"row": 1, "column": m, "message": "required column missing"} for m in missing]
    out = []
    for n, row in enumerate(rows[1:], start=2):
        values = {k: _cell(KIND[k], v) for k, v in zip(keys, row, strict=False) if k}
        if all(v is None for v in values.values()):
            continue  # blank lines between blocks are common in hand-kept ledgers
        out.append((n, values))
    return out, []


def _case_id(reference: str) -> int:
    """The id of the case with this reference (a 404 for the command when there is none)."""
    found = db.session.execute(sa.select(Case.id).where(Case.reference == reference)).scalar()
    return found if found is not None else 0


def import_ledger(path: Path | bytes, actor: User, dry_run: bool = False) -> ImportResult:
    """Validate every row, then import all rows or none, in one transaction.

    A row whose reference is already in the ledger is skipped (idempotent: importing the
    same file twice adds nothing). A dry run does the whole import and rolls it back."""
    if not can(actor, Action.CASE_CREATE):
        raise Forbidden("your role may not take cases in")
    result = ImportResult(dry_run=dry_run)
    rows, result.errors = parse(path)
    result.rows = len(rows)
    if result.errors:
        return result
    schema = CaseIn()
    rows_values = dict(rows)
    seen: dict[str, int] = {}
    valid: list[tuple[int, dict[str, Any]]] = []
    for n, values in rows:
        data = _row_data(values)
        errors: list[dict[str, Any]] = []
        try:
            loaded = schema.load(data)
        except ma.ValidationError as exc:
            _flatten(exc.messages, "", n, errors)
            loaded = None
        ref = data.get("reference")
        if not ref:
            errors.append({"row": n, "column": HEADERS["reference"], "message": "required in the ledger"})
        elif ref in seen:
            errors.append({"row": n, "column": HEADERS["reference"],
                           "message": f"the same reference as row {seen[ref]}"})
        else:
            seen[ref] = n
        if loaded and actor.role != Role.ADMIN and not covers(
                actor.region, normalize_region(loaded["region_code"])):
            errors.append({"row": n, "column": HEADERS["region_code"],
                           "message": f"outside your jurisdiction {actor.region}"})
        result.errors.extend(errors)
        if not errors and loaded is not None:
            valid.append((n, loaded))
    if result.errors:
        return result
    existing = set(db.session.execute(
        sa.select(Case.reference).where(Case.reference.in_(list(seen)))).scalars()) if seen else set()
    if seen:  # rows imported before as repeat petitions made no case of their own
        existing |= set(db.session.execute(sa.select(Petition.source_reference).where(
            Petition.source_reference.in_(list(seen)))).scalars())
    intake = commands.intake.__wrapped__  # the same command, in this one transaction
    try:
        for n, data in valid:
            if data["reference"] in existing:
                result.skipped.append(data["reference"])
                continue
            repeat_ref = rows_values[n].get("repeat_of_reference")
            try:
                if repeat_ref:
                    data = data | {"repeat_of": _case_id(repeat_ref)}
                intake(actor, data)
            except Conflict as exc:
                if not exc.extra.get("candidates"):
                    raise
                refs = "、".join(c["reference"] for c in exc.extra["candidates"])
                result.errors.append({"row": n, "column": HEADERS["repeat_of_reference"], "message":
                                      f"the petitioner may have a case already ({refs}): fill "
                                      f"{HEADERS['repeat_of_reference']} or {HEADERS['new_case_reason']}"})
                break
            except DomainError as exc:
                for column, msgs in (exc.extra.get("errors") or {"": [exc.message]}).items():
                    for m in msgs:
                        result.errors.append({"row": n, "column": HEADERS.get(column, column),
                                              "message": m})
                break
            (result.linked if data.get("repeat_of") else result.created).append(data["reference"])
        if result.errors or dry_run:
            db.session.rollback()
            if result.errors:
                result.created, result.linked = [], []
        else:
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result


EXPORT_EXTRA = [("id", "系统编号"), ("status", "状态"), ("categories", "六类积案"),
                ("status_changed_at", "状态变更时间"), ("next_deadline_on", "最近期限")]


def _export_rows(scope: Scope | None = None, batch: int = 1000) -> Iterator[list[Any]]:
    yield [HEADERS[k] for k in KEYS] + [f"{zh} {k}" for k, zh in EXPORT_EXTRA]
    last_id = 0
    where = scope.condition() if scope is not None else sa.true()
    while True:
        cases = db.session.execute(
            sa.select(Case).options(selectinload(Case.petitioners)).where(where, Case.id > last_id)
            .order_by(Case.id).limit(batch)).scalars().all()
        if not cases:
            return
        for c in cases:
            people = c.petitioners
            yield [c.reference, c.title, c.region_code, "、".join(c.departments or []),
                   c.received_on, c.accepted_on, c.times_handled, "、".join(c.livelihood_fields or []),
                   c.visits_in_person, c.online_complaints, "、".join(c.flags or []),
                   c.assessment or "", c.summary or "",
                   "；".join(p.name for p in people),
                   "；".join(mask_id_number(p.id_number_tail) or "" for p in people),
                   "；".join(mask_phone(p.phone_tail) or "" for p in people),
                   None, None, None, None, None,  # petition and repeat decision: for import
                   c.id, c.status,
                   "、".join(str(n) for n in range(1, 7) if c.category_mask & (1 << (n - 1))),
                   # Excel keeps no zone: the wall time of the service's zone, as the pages show it
                   clock.local(c.status_changed_at).replace(tzinfo=None) if c.status_changed_at else None,
                   c.next_deadline_on]
        last_id = cases[-1].id
        db.session.expunge_all()  # keeps memory flat on a large ledger


def export_ledger(path: Path | io.BytesIO, scope: Scope | None = None) -> int:
    """Write the full ledger (or a jurisdiction's: `scope`); identity and phone numbers
    masked. Returns the case count."""
    where = scope.condition() if scope is not None else sa.true()
    count = db.session.execute(sa.select(sa.func.count()).select_from(Case).where(where)).scalar_one()
    write_workbook(path, {"台账": _export_rows(scope)})
    return count

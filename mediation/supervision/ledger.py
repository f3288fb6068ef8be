"""The ledger (台账) in Excel: the import template, an all-or-nothing import through the
intake command, idempotent by reference number, and the full export (numbers masked)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask_babel import gettext
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
    # 纳入专项行动: the ledger's date for the row (blank: the date given for the whole import)
    # and the reason, which a row without a category needs to be counted.
    ("action_listed_on", "纳入专项行动日期", "date"),
    ("action_reason", "纳入理由", "text"),
]
PETITION_KEYS = {"petition_channel": "channel", "petition_level": "level",
                 "petition_head_count": "head_count"}
KEYS = [c[0] for c in COLUMNS]
HEADERS = {k: f"{zh} {k}" for k, zh, _ in COLUMNS}
KIND = {k: kind for k, _, kind in COLUMNS}
SPLIT = re.compile(r"\s*[,，、;；\n]\s*")
EXAMPLE = ["XF-2025-000001", "征地拆迁补偿纠纷", "成都市锦江区", "区自然资源局、区住建局", "2025-03-01",
           "2025年3月8日", 1, "征地拆迁", 2, 0, "历史遗留", "部分合理", "补偿款未足额发放",
           "（示例，导入前删除此行）", "", "", "来信", "县级", 1, "", "", "2025-03-31", ""]

# The coded columns take what a clerk types: the code, the words the pages show (Chinese,
# or English), or the short forms in use in petition offices; the export writes the words.
CODED = {"livelihood_fields": "livelihood", "flags": "case_flag", "assessment": "assessment",
         "petition_channel": "petition_channel", "petition_level": "petition_level"}
ALIASES: dict[str, dict[str, str]] = {
    "livelihood": {"征地": "land_demolition", "拆迁": "land_demolition", "劳动": "labour_social_security",
                   "社保": "labour_social_security", "欠薪": "labour_social_security",
                   "物业": "property_management", "医疗卫生": "healthcare"},
    "case_flag": {"责任不明": "responsibility_unclear", "责任主体不明确": "responsibility_unclear",
                  "职责交叉": "responsibility_unclear", "典型性": "typical_problem",
                  "代表性": "typical_problem", "典型": "typical_problem", "交办": "assigned_from_above",
                  "批示": "leader_instruction", "高度关注": "high_attention"},
    "assessment": {"合理": "reasonable", "诉求合理": "reasonable", "部分合理": "partly_reasonable",
                   "不合理但生活困难": "unreasonable_hardship", "生活困难": "unreasonable_hardship",
                   "政策缺失": "policy_gap", "政策不衔接": "policy_gap", "政策不完善": "policy_gap",
                   "涉诉": "law_related", "涉法": "law_related"},
    "petition_channel": {"信": "letter", "访": "visit", "网信": "online", "网上信访": "online",
                         "电话信访": "phone", "信箱": "leader_mailbox"},
    "petition_level": {"县": "county", "区县": "county", "市": "city", "地市": "city", "省": "province",
                       "国家": "national", "中央": "national", "国家信访局": "national"},
}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", str(text)).lower()


def _vocabulary(group: str) -> dict[str, str]:
    """What may be typed for each code of a label group -> the code."""
    from flask_babel import force_locale

    from mediation.labels import choices

    words: dict[str, str] = {}
    for lang in ("en", "zh_CN"):  # the Chinese last: it wins where two forms meet
        with force_locale(lang):
            for code, label in choices(group):
                words[_norm(label)] = code
                words[_norm(code)] = code
    return words | {_norm(k): v for k, v in ALIASES.get(group, {}).items()}


def zh_words(group: str) -> dict[str, str]:
    """code -> the Chinese words (whatever the page's language), for the export."""
    from flask_babel import force_locale

    from mediation.labels import choices

    with force_locale("zh_CN"):
        return dict(choices(group))


def _region_code(text: str, actor: User) -> str:
    """A region typed as a code (51, 5101, 510104) or a name (成都市锦江区, 四川省成都市锦江区,
    锦江区 when only one division of the jurisdiction has that name)."""
    if re.fullmatch(r"\d+", text):
        return text
    found = _region_index(actor.region if actor.role != Role.ADMIN else None).get(_norm(text), [])
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(gettext("“%(v)s”对应多个行政区划（%(codes)s），请填写区划代码",
                                 v=text, codes="、".join(found[:6])))
    raise ValueError(gettext(
        "没有名为“%(v)s”的行政区划：请填写区划名称（如 成都市锦江区）或代码（如 510104）", v=text))


@cache
def _region_index(within: str | None) -> dict[str, list[str]]:
    """Each way a division of the jurisdiction is named (四川省成都市锦江区, 成都市锦江区, 锦江区)
    -> its codes."""
    from mediation.regions import region_choices, region_name

    index: dict[str, list[str]] = {}
    for code, _full in region_choices(within):
        named = region_name(code)
        if named is None:
            continue
        for key in {_norm(named.full), _norm(named.short), _norm(named.name)}:
            index.setdefault(key, []).append(code)
    return index


@contextmanager
def words_context() -> Iterator[None]:
    """The catalogue needs a request to know the language; the command line has none, and
    says things in Chinese (the default)."""
    from flask import current_app, has_request_context

    if has_request_context():
        yield
        return
    with current_app.test_request_context():
        yield


def _translate(values: dict[str, Any], actor: User, n: int, errors: list[dict[str, Any]]) -> None:
    """The clerk's words -> the codes the schema takes, in place; what is not known is an
    error under its own column, listing what may be typed."""
    for key, group in CODED.items():
        value = values.get(key)
        if value is None:
            continue
        vocabulary = _vocabulary(group)
        typed = value if isinstance(value, list) else [value]
        codes = []
        for v in typed:
            code = vocabulary.get(_norm(v))
            if code is None:
                errors.append({"row": n, "column": HEADERS[key], "message": gettext(
                    "“%(v)s”不是可填的值；可填：%(words)s", v=v,
                    words="、".join(zh_words(group).values()))})
            codes.append(code or v)
        values[key] = codes if isinstance(value, list) else codes[0]
    if isinstance(values.get("region_code"), str):
        try:
            values["region_code"] = _region_code(values["region_code"], actor)
        except ValueError as exc:
            errors.append({"row": n, "column": HEADERS["region_code"], "message": str(exc)})


def write_template(path: Path | io.BytesIO) -> None:
    """The import template: the header row, an example row, and a sheet explaining each column."""
    with words_context():
        _write_template(path)


def _write_template(path: Path | io.BytesIO) -> None:
    help_rows = [["列 column", "说明"],
                 *[[HEADERS[k], {"list": "多个值用顿号、逗号或分号分隔", "date": "YYYY-MM-DD",
                                 "int": "整数", "people": "多名信访人按顺序用分号分隔",
                                 "text": ""}[kind]] for k, _, kind in COLUMNS],
                 ["", "行政区划：填名称（成都市锦江区）或代码（510104）；日期：2025-03-08 或 2025年3月8日。"],
                 *[["", f"{HEADERS[k]}可填：" + "、".join(zh_words(g).values()) + "（也可填英文代码）"]
                   for k, g in CODED.items()],
                 ["", "来访人数仅用于来访。"],
                 ["", "同一信访人已有案件（身份证号、电话一致，或同县姓名相近且事项相同）时，须填写"
                      "重复件关联编号（作为该案的重复信访件，不另立案件）或另立新案理由，否则该行报错并列出疑似案件。"],
                 ["", "案件编号必填且唯一：同一编号再次导入时跳过，不会重复。"],
                 ["", "纳入专项行动日期：该案列入台账（纳入专项行动）的日期，未填时取导入时选定的日期；"
                      "未归入六类积案的案件须填写纳入理由才纳入统计，否则只登记、不纳入。"],
                 ["", "整表校验：任何一行有错则全部不导入，错误按行号和列名列出。"]]
    write_workbook(path, {"台账": [[HEADERS[k] for k in KEYS], EXAMPLE], "填写说明": help_rows})


@dataclass
class ImportResult:
    rows: int = 0
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # references already in the ledger
    # rows taken as repeat petitions of an existing case (重复件关联编号): no case of their own
    linked: list[str] = field(default_factory=list)
    # cases created but not in the action: no category and no reason (纳入理由)
    unlisted: list[str] = field(default_factory=list)
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
        typed = _DATE.match(str(value).strip())  # 2025年3月8日, 2025/3/8, 2025.3.8
        if typed:
            return f"{typed[1]}-{int(typed[2]):02d}-{int(typed[3]):02d}"
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


# Where the schema's and the command's field names are not the sheet's columns.
_COLUMN_OF = {"petitioners": "petitioner_name", "petition": "petition_channel",
              "repeat_of": "repeat_of_reference", "_schema": "reference"}
_PETITION_COLUMN = {v: k for k, v in PETITION_KEYS.items()}


def column_header(name: str) -> str:
    """The sheet's column header for a field name of the schema or the command."""
    name = _COLUMN_OF.get(name, name)
    return HEADERS.get(name, name)


def _flatten(messages: Any, column: str, row: int, out: list[dict[str, Any]]) -> None:
    """marshmallow's error tree -> one entry per (row, column, message), each under the
    sheet's own column (a petitioner's id number under 身份证号, the petition's channel
    under 信访形式)."""
    if isinstance(messages, dict):
        for key, sub in messages.items():
            if column == "petition":
                name = _PETITION_COLUMN.get(str(key), "petition_channel")
            elif key == "petitioners" or (isinstance(key, int) and column in ("petitioners", "")):
                name = "petitioners"  # the list, then one petitioner by position
            elif column == "petitioners":
                name = f"petitioner_{key}" if f"petitioner_{key}" in KEYS else "petitioner_name"
            elif isinstance(key, int):
                name = column  # one item of a list column (a livelihood field, a flag)
            else:
                name = str(key)
            _flatten(sub, name, row, out)
    elif isinstance(messages, list):
        for m in messages:
            _flatten(m, column, row, out)
    else:
        out.append({"row": row, "column": column_header(column), "message": str(messages)})


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


def import_ledger(path: Path | bytes, actor: User, dry_run: bool = False,
                  listed_on: dt.date | None = None) -> ImportResult:
    """Validate every row, then import all rows or none, in one transaction.

    Importing the ledger is the decision to list its cases in the action (纳入专项行动) on
    the ledger's date: the row's 纳入专项行动日期, else `listed_on` (default: today, the
    service's day). A case with no category and no 纳入理由 is created but not listed.

    A row whose reference is already in the ledger is skipped (idempotent: importing the
    same file twice adds nothing). A dry run does the whole import and rolls it back."""
    if not can(actor, Action.CASE_CREATE):
        raise Forbidden("your role may not take cases in")
    with words_context():
        return _import(path, actor, dry_run, listed_on)


def _import(path: Path | bytes, actor: User, dry_run: bool, listed_on: dt.date | None) -> ImportResult:
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
        errors: list[dict[str, Any]] = []
        translated: list[dict[str, Any]] = []
        _translate(values, actor, n, translated)
        data = _row_data(values)
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
        if translated:  # a word not known: its message says what may be typed, once
            loaded = None
            errors = translated + [e for e in errors if e["column"] not in {t["column"] for t in translated}]
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
                day = data.pop("action_listed_on", None) or listed_on or clock.today()
                why = (data.pop("action_reason", None) or "").strip()
                case = intake(actor, data)
                if not data.get("repeat_of"):
                    if case.category_mask or len(why) >= 2:
                        checked = commands.listing_checked(case, day, why)
                        commands.record_listing(case, *checked, actor, "ledger")
                    else:
                        result.unlisted.append(data["reference"])
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
                        result.errors.append({"row": n, "column": column_header(column),
                                              "message": m})
                break
            (result.linked if data.get("repeat_of") else result.created).append(data["reference"])
        if result.errors or dry_run:
            db.session.rollback()
            if result.errors:
                result.created, result.linked, result.unlisted = [], [], []
        else:
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result


EXPORT_EXTRA = [("region_name", "行政区划"), ("id", "系统编号"), ("status", "状态"),
                ("categories", "六类积案"),
                ("status_changed_at", "状态变更时间"), ("next_deadline_on", "最近期限")]


def _export_rows(scope: Scope | None = None, batch: int = 1000) -> Iterator[list[Any]]:
    from mediation.cases.rules import CATEGORY_NAMES
    from mediation.regions import region_words

    yield [HEADERS[k] for k in KEYS] + [f"{zh} {k}" for k, zh in EXPORT_EXTRA]
    words = {g: zh_words(g) for g in ("livelihood", "case_flag", "assessment", "case_status")}

    def say(group: str, codes: list[str] | None) -> str:
        return "、".join(words[group].get(c, c) for c in codes or [])

    ordinals = "一二三四五六"
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
                   c.received_on, c.accepted_on, c.times_handled, say("livelihood", c.livelihood_fields),
                   c.visits_in_person, c.online_complaints, say("case_flag", c.flags),
                   say("assessment", [c.assessment] if c.assessment else []), c.summary or "",
                   "；".join(p.name for p in people),
                   "；".join(mask_id_number(p.id_number_tail) or "" for p in people),
                   "；".join(mask_phone(p.phone_tail) or "" for p in people),
                   None, None, None, None, None,  # petition and repeat decision: for import
                   c.action_listed_on, c.action_reason or "",
                   region_words(c.region_code, full=True), c.id, say("case_status", [c.status]),
                   "、".join(f"第{ordinals[n - 1]}类" for n in sorted(CATEGORY_NAMES)
                            if (c.category_mask or 0) & (1 << (n - 1))),
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
    with words_context():
        write_workbook(path, {"台账": _export_rows(scope)})
    return count

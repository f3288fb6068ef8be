"""Spreadsheets in and out, safely: every export writes through here, and the ledger
import reads through here.

Out (xlsx and csv): a text cell that a spreadsheet would take for a formula (it begins
with = + - @, a tab or a carriage return) is written as text — in xlsx a string cell
marked "quote prefix", in csv the text behind a leading apostrophe (OWASP's advice) — so a
case title like `=HYPERLINK(...)` typed by anyone never runs on a supervisor's machine.

In (xlsx): see `read_sheet`: only the first columns, a capped number of rows, a capped
unpacked size, in a child process with a time limit.
"""

from __future__ import annotations

import csv
import io
import math
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: Any) -> bool:
    """Text a spreadsheet program would read as a formula (or a DDE call)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_value(value: Any) -> Any:
    """A value for a csv cell: formula-like text behind an apostrophe, the rest as it is."""
    return "'" + value if formula_like(value) else value


def _xlsx_cells(ws: Any, row: Iterable[Any], bold: bool = False) -> list[Any]:
    cells: list[Any] = []
    for value in row:
        if isinstance(value, str):
            # Control characters the XML of a sheet cannot hold (openpyxl raises on them):
            # typed text keeps its words, and the export does not fail on one cell.
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if not (bold or formula_like(value)):
            cells.append(value)
            continue
        cell = WriteOnlyCell(ws, value=value)
        if formula_like(value):
            cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
            cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
        if bold:
            cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def write_workbook(target: Path | io.BytesIO, sheets: dict[str, Iterable[list[Any]]]) -> None:
    """Write each sheet's rows (the first is the header, in bold); streams, so large
    sheets do not sit in memory. Formula-like text is written as text."""
    wb = Workbook(write_only=True)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title[:31])
        for i, row in enumerate(rows):
            ws.append(_xlsx_cells(ws, row, bold=i == 0))
    wb.save(target)


def workbook_bytes(sheets: dict[str, Iterable[list[Any]]]) -> bytes:
    buf = io.BytesIO()
    write_workbook(buf, sheets)
    return buf.getvalue()


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """Rows as csv text; formula-like text behind an apostrophe."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow([csv_value(v) for v in row])
    return buf.getvalue()


# --- reading an uploaded workbook ---------------------------------------------------------

# A workbook is a zip of XML; a small upload can unpack to gigabytes (the shared strings
# are read whole). Refused before any XML is parsed when its parts add up to more.
MAX_UNPACKED = 64 * 1024 * 1024
CHILD_MEMORY = 1024 * 1024 * 1024  # bytes of address space the reading process may use


# Why a workbook is not read (the pages put them in their language).
NOT_A_WORKBOOK = "not an xlsx workbook"
TOO_LARGE = "the workbook is too large to read"
TOO_SLOW = "reading the workbook took too long: refused"


class SheetRefused(Exception):
    """The workbook is not read: too large, too slow, or not a workbook. Says why."""


def _check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise SheetRefused(NOT_A_WORKBOOK) from exc
    if unpacked > MAX_UNPACKED:
        raise SheetRefused(TOO_LARGE)


def _first_sheet_rows(data: bytes, max_cols: int, max_rows: int) -> list[tuple[Any, ...]]:
    """Rows 1..max_rows of the first sheet, columns 1..max_cols, as values. The sheet's own
    declared dimension is ignored: a tiny file may declare A1:XFD1048576, and openpyxl
    would pad every row to it."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        ws.reset_dimensions()
        return [tuple(r) for r in ws.iter_rows(min_row=1, max_row=max_rows, max_col=max_cols,
                                               values_only=True)]
    finally:
        wb.close()


def _child_main() -> None:
    """`python -m mediation.supervision.excel COLS ROWS CPU`: the workbook on stdin, the
    pickled ("ok", rows) or ("refused", why) on stdout."""
    import resource

    max_cols, max_rows, cpu_seconds = (int(a) for a in sys.argv[1:4])
    # The parent's clock is the time limit; these stop a runaway child even if the parent
    # is gone, and keep it from taking the machine's memory.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    data = sys.stdin.buffer.read()
    try:
        answer: tuple[str, Any] = ("ok", _first_sheet_rows(data, max_cols, max_rows))
    except MemoryError:
        answer = ("refused", TOO_LARGE)
    except Exception:  # openpyxl's many ways of saying "not a workbook"
        answer = ("refused", NOT_A_WORKBOOK)
    sys.stdout.buffer.write(pickle.dumps(answer))


def read_sheet(data: bytes, max_cols: int, max_rows: int, time_limit: float) -> list[tuple[Any, ...]]:
    """The first sheet's first `max_rows` rows and `max_cols` columns, read in a child
    process that is killed after `time_limit` seconds; SheetRefused says why not.

    A child process, not a thread: parsing holds the interpreter, and a crafted file would
    otherwise stall every request and socket of the web process while it runs."""
    _check_zip(data)
    command = [sys.executable, "-I", "-m", __name__, str(max_cols), str(max_rows),
               str(max(1, math.ceil(time_limit)))]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=time_limit, check=False)
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        raise SheetRefused(TOO_SLOW) from exc
    try:
        status, payload = pickle.loads(done.stdout)  # our own child's answer
    except Exception as exc:  # killed by its CPU or memory limit: no answer
        raise SheetRefused(TOO_LARGE) from exc
    if status != "ok":
        raise SheetRefused(payload)
    return payload


if __name__ == "__main__":
    _child_main()

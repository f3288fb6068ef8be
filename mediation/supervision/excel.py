"""Small helpers over openpyxl: write sheets of rows, read a sheet's rows."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font


def write_workbook(target: Path | io.BytesIO, sheets: dict[str, Iterable[list[Any]]]) -> None:
    """Write each sheet's rows (the first is the header, in bold); streams, so large
    sheets do not sit in memory."""
    wb = Workbook(write_only=True)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title[:31])
        for i, row in enumerate(rows):
            if i == 0:
                from openpyxl.cell import WriteOnlyCell

                cells = []
                for value in row:
                    cell = WriteOnlyCell(ws, value=value)
                    cell.font = Font(bold=True)
                    cells.append(cell)
                ws.append(cells)
            else:
                ws.append(row)
    wb.save(target)


def workbook_bytes(sheets: dict[str, Iterable[list[Any]]]) -> bytes:
    buf = io.BytesIO()
    write_workbook(buf, sheets)
    return buf.getvalue()


def read_rows(source: Path | io.BytesIO) -> list[tuple[Any, ...]]:
    """The first sheet's rows as tuples of values."""
    wb = load_workbook(source, read_only=True, data_only=True)
    try:
        return [tuple(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()

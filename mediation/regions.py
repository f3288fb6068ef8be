"""GB/T 2260 administrative division codes: six digits, zero-padded.

`510000` is a province (prefix `51`), `510100` a city (`5101`), `510104` a county
(`510104`). A jurisdiction covers every code that starts with its prefix.
"""

from __future__ import annotations

import re

LEVELS = ("province", "city", "county")
# ASCII digits only: `\d` alone would take full-width ５１ typed with a Chinese IME.
_CODE = re.compile(r"^\d{2}(\d{2}){0,2}$", re.ASCII)


def normalize_region(code: str) -> str:
    """Accept `51`, `5101`, `510104` or the padded forms; return the six-digit code."""
    code = (code or "").strip()
    if not _CODE.match(code):
        raise ValueError("a GB/T 2260 code: 2, 4 or 6 digits, e.g. 51, 5101, 510104")
    padded = code.ljust(6, "0")
    if padded[:2] == "00":
        raise ValueError("no province has the code 00")
    if padded[2:4] == "00" and padded[4:] != "00":
        raise ValueError("a county code needs its city digits")
    return padded


def region_prefix(code: str) -> str:
    """The prefix a six-digit code stands for: `510000` -> `51`, `510100` -> `5101`."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def region_level(code: str) -> str:
    return LEVELS[len(region_prefix(code)) // 2 - 1]


def covers(jurisdiction: str | None, code: str) -> bool:
    """True when the jurisdiction contains the code. No region means national (全国)."""
    return jurisdiction is None or code.startswith(region_prefix(jurisdiction))

"""GB/T 2260 administrative division codes: six digits, zero-padded.

`510000` is a province (prefix `51`), `510100` a city (`5101`), `510104` a county
(`510104`). A jurisdiction covers every code that starts with its prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

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


# --- names (GB/T 2260 division table, shipped: mediation/data/gb2260.tsv) --------------------

@dataclass(frozen=True)
class RegionName:
    code: str
    name: str  # the division's own name: 锦江区
    short: str  # what pages show: 成都市锦江区 (city and county; province and city; province)
    full: str  # province, city and county: 四川省成都市锦江区
    abolished: bool = False  # a code of an earlier table (撤销), kept for old cases


@cache
def _table() -> dict[str, tuple[str, bool]]:
    text = resources.files("mediation").joinpath("data/gb2260.tsv").read_text("utf-8")
    table: dict[str, tuple[str, bool]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, name, status = (line.split("\t") + ["", ""])[:3]
        table[code] = (name, status == "撤销")
    return table


def region_name(code: str | None) -> RegionName | None:
    """The division's names, or None for a code the table does not hold (nor national)."""
    if not code:
        return None
    try:
        code = normalize_region(str(code))
    except ValueError:
        return None
    table = _table()
    if code not in table:
        return None
    name, abolished = table[code]
    province = table.get(code[:2] + "0000", ("", False))[0]
    if code.endswith("0000"):
        return RegionName(code, name, name, name, abolished)
    if code.endswith("00"):
        return RegionName(code, name, province + name, province + name, abolished)
    # A county: under its city, or (直辖市, 省直辖县级) right under the province.
    city = table.get(code[:4] + "00")
    parent = city[0] if city else province
    full = province + (city[0] if city else "") + name
    return RegionName(code, name, parent + name, full, abolished)


def region_words(code: str | None, full: bool = False) -> str:
    """Plain words for prints and spreadsheets: 成都市锦江区 (the code when unknown, 全国
    for none)."""
    if not code:
        return "全国"
    found = region_name(code)
    if found is None:
        return str(code)
    return found.full if full else found.short


def region_choices(within: str | None = None) -> list[tuple[str, str]]:
    """(code, 四川省成都市锦江区) of every division in force within a jurisdiction, for a picker."""
    out = []
    for code, (_name, abolished) in _table().items():
        if abolished or not covers(within, code):
            continue
        found = region_name(code)
        if found is not None:
            out.append((code, found.full))
    return out


def region_html(code: str | None, full: bool = False) -> Any:
    """The `region` template filter: the name, with the code (and the full name) on hover.

        {{ case.region_code|region }}
        -> <span class="region" title="510104 四川省成都市锦江区">成都市锦江区</span>

    The name is a Chinese proper name on every page (`lang="zh-CN"`); an unknown code is
    said to be one, never shown bare."""
    from flask_babel import gettext as _
    from markupsafe import Markup, escape

    if not code:
        return Markup('<span class="region">{}</span>').format(_("全国"))
    found = region_name(code)
    if found is None:
        return Markup('<span class="region unknown" title="{}">{}</span>').format(
            code, _("未知区划（代码 %(code)s）", code=code))
    words = escape(found.full if full else found.short)
    if found.abolished:
        words += Markup("<small>{}</small>").format(_("（已撤销）"))
    return Markup('<span class="region" lang="zh-CN" title="{} {}">{}</span>').format(
        found.code, found.full, words)

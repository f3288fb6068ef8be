"""The event types of the petitioner's channel (the catalogue: `mediation/events.py`)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, EventType

_HOW = {"query_page": _l("本人在查询页确认"), "written": _l("书面同意"), "oral": _l("口头同意，已记录")}


def _consented(d: dict[str, Any]) -> str:
    """被申请人 · 书面同意 · 2026年11月29日 (the party's kind, how, and the day when recorded)."""
    from mediation.cases.sentences import long_date

    who = _("被申请人") if d.get("respondent_id") else _("信访人")
    parts = [who, str(_HOW.get(d.get("via", ""), d.get("via", "")))]
    if d.get("given_on"):
        parts.append(long_date(d["given_on"]))
    return " · ".join(p for p in parts if p)


def _respondent(d: dict[str, Any]) -> str:
    return f"{d['name']}（{d['unit']}）" if d.get("unit") else str(d["name"])

# A receipt with a query code was handed to a petitioner (the code itself is never stored).
RECEIPT_ISSUED = EventType("petitioner.receipt_issued", _l("出具受理告知书"), audience=OFFICIALS,
                           progress=False)
# A party (a petitioner, or a respondent entered on the case) agreed to mediation: on the
# public page, or on paper / orally as recorded by an officer (人民调解法第十七条: voluntary).
CONSENTED = EventType("petitioner.consented", _l("当事人同意调解"), sentence=_consented)
# A respondent party (被申请人) was entered on the case, so that it has a channel of its own.
RESPONDENT_ADDED = EventType("petitioner.respondent_added", _l("登记被申请人"), audience=OFFICIALS,
                             sentence=_respondent)

ALL = (RECEIPT_ISSUED, CONSENTED, RESPONDENT_ADDED)

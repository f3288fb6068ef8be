"""Sentences, not codes: what the rules found and what happened, said in the reader's language.

The rules (`rules.py`) keep a Chinese sentence with each finding (the API's `reason`) and
the facts it read (`facts`); the pages say the sentence again from the facts, through the
catalogue, so an English page reads English. The timeline says each event as its type's
words and, for the types declared with a `sentence` (`EventType.sentence`), a sentence
made from the event's data:

    案件化解：化解中 → 已化解。原因：双方达成协议
    积案归类：归为第一类、第二类

Free text people typed (a reason, a note) is shown as typed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mediation.labels import label


def _english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


def long_date(value: Any) -> str:
    """A date as people write it: 2021年3月10日 / 10 March 2021 (blank for none)."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if _english():
        return f"{value.day} {value.strftime('%B')} {value.year}"
    return f"{value.year}年{value.month}月{value.day}日"


def _listed(words: list[str]) -> str:
    return (", " if _english() else "、").join(words)


CATEGORY_ORDINALS = {1: _l("第一类"), 2: _l("第二类"), 3: _l("第三类"), 4: _l("第四类"),
                     5: _l("第五类"), 6: _l("第六类")}


def category_badge(n: int | str) -> str:
    found = CATEGORY_ORDINALS.get(int(n)) if str(n).isdigit() else None
    return str(found) if found is not None else str(n)


def category_reason(finding: dict[str, Any]) -> str:
    """Why a category applies, in the reader's language: the rule's sentence from its facts,
    the officer's own words for an officer's addition."""
    facts = finding.get("facts")
    if finding.get("source") != "rule" or facts is None:
        return finding.get("reason") or ""
    n = finding.get("category")
    if n == 1:
        return _("%(date)s受理（2023年1月1日前），已办理%(n)s次，信访人仍未息诉罢访",
                 date=long_date(facts.get("accepted_on")), n=facts.get("times_handled"))
    if n == 2:
        return _("属%(fields)s民生领域",
                 fields=_listed([label(f, "livelihood") for f in facts.get("fields", [])]))
    if n == 3:
        words = [label(f, "case_flag") for f in facts.get("flags", [])]
        if facts.get("departments"):
            words.append(_("涉及%(n)s个部门", n=facts["departments"]))
        return _("%(what)s，责任主体不明确或职责交叉", what=_listed(words))
    if n == 4:
        return _("走访%(visits)s次、网上投诉%(online)s次，属典型性、代表性问题",
                 visits=facts.get("visits_in_person", 0), online=facts.get("online_complaints", 0))
    if n == 5:
        return _("因%(what)s形成，需政策解决或统筹协调",
                 what=_listed([label(f, "case_flag") for f in facts.get("flags", [])]))
    if n == 6:
        return _listed([label(f, "case_flag") for f in facts.get("flags", [])])
    return finding.get("reason") or ""


def category_source(source: str | None) -> str:
    return _("规则认定") if source == "rule" else _("办案人员认定")


# The owner level the rules suggest, and why (rules.suggested_owner_level's Chinese words).
OWNER_WHY = {
    "跨地区或跨领域的疑难复杂案件（骨头案、钉子案）": _l("跨地区或跨领域的疑难复杂案件（骨头案、钉子案）"),
    "需要多个部门协同化解的复杂案件": _l("需要多个部门协同化解的复杂案件"),
    "县域内的一般性信访积案": _l("县域内的一般性信访积案"),
}


def owner_why(words: str | None) -> str:
    found = OWNER_WHY.get(words or "")
    return str(found) if found is not None else (words or "")


# --- the timeline -----------------------------------------------------------------------

def _status_move(d: dict[str, Any]) -> str:
    text = f"{label(d.get('from'), 'case_status')} → {label(d.get('to'), 'case_status')}"
    reason = d.get("reason")
    return text + (_("。原因：%(r)s", r=reason) if reason else "")


def _classified(d: dict[str, Any]) -> str:
    cats = d.get("categories") or []
    if not cats:
        return _("不属于六类积案")
    return _("归为%(which)s", which=_listed([category_badge(c.get("category")) for c in cats]))


def _created(d: dict[str, Any]) -> str:
    title = (d.get("fields") or {}).get("title") or ""
    return _("编号 %(ref)s：%(title)s", ref=d.get("reference", ""), title=title)


def _owner(d: dict[str, Any]) -> str:
    return _("%(name)s（%(level)s）包案，自%(date)s起", name=d.get("name") or "",
             level=label(d.get("level"), "owner_level"), date=long_date(d.get("assigned_on")))


def _extended(d: dict[str, Any]) -> str:
    return _("办理期限延长%(days)s天，批准人：%(who)s。原因：%(r)s", days=d.get("days"),
             who=d.get("approver") or "", r=d.get("reason") or "")


def _contact(d: dict[str, Any]) -> str:
    return _("%(date)s%(kind)s", date=long_date(d.get("held_on")), kind=label(d.get("kind"), "contact_kind"))


def _investigation(d: dict[str, Any]) -> str:
    return _("%(date)s%(method)s：%(findings)s", date=long_date(d.get("conducted_on")),
             method=label(d.get("method"), "investigation"), findings=d.get("findings") or "")


def _petition(d: dict[str, Any]) -> str:
    text = _("%(date)s收到%(channel)s", date=long_date(d.get("received_on")),
             channel=label(d.get("channel"), "petition_channel"))
    if d.get("petition_count"):
        text += _("，累计%(n)s件次", n=d["petition_count"])
    return text


def _updated(d: dict[str, Any]) -> str:
    changed = [label(k, "case_field") for k in (d.get("changes") or {})]
    return _("修改了%(what)s", what=_listed(changed)) if changed else ""


def _linked(d: dict[str, Any]) -> str:
    return _("与案件 %(ref)s 关联。理由：%(r)s", ref=d.get("other_reference") or "", r=d.get("reason") or "")


def _applied(d: dict[str, Any]) -> str:
    return _("%(date)s向%(court)s申请司法确认", date=long_date(d.get("applied_on")),
             court=d.get("court") or "")


def _decided(d: dict[str, Any]) -> str:
    return _("%(date)s法院%(decision)s", date=long_date(d.get("decided_on")),
             decision=label(d.get("decision"), "judicial_decision"))


def _offered(d: dict[str, Any]) -> str:
    return _("邀请%(who)s承接“%(need)s”", who=d.get("provider_name") or "",
             need=label(d.get("need"), "need"))


def _ceased(d: dict[str, Any]) -> str:
    text = label(d.get("basis"), "cessation_basis")
    return text + (f"：{d['note']}" if d.get("note") else "")


SENTENCES = {
    "agreement.confirmation_applied": _applied, "agreement.confirmation_decided": _decided,
    "referral.offered": _offered, "case.petitioning_ceased": _ceased,
    "case.created": _created, "case.classified": _classified,
    "case.status_changed": _status_move, "case.resolved": _status_move,
    "case.closed": _status_move, "case.reopened": _status_move,
    "case.owner_assigned": _owner, "clock.extended": _extended,
    "owner.contact_recorded": _contact, "dossier.investigation_added": _investigation,
    "petition.received": _petition, "case.updated": _updated, "case.linked": _linked,
}


def event_sentence(envelope: dict[str, Any]) -> str:
    """What happened, beyond the type's words: a sentence from the event's data (the
    type's `sentence`, or the core's table above), else the text someone wrote."""
    from mediation.registry import registry

    data = envelope.get("data") or {}
    found = registry().event_types.get(str(envelope.get("type")))
    say = getattr(found, "sentence", None) or SENTENCES.get(str(envelope.get("type")))
    if say is not None:
        try:
            return say(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # an event written before its sentence knew its data: the plain words
    if data.get("body"):
        return str(data["body"])
    if data.get("to") and data.get("from"):
        return _status_move(data)
    return ""


def init_app(app: Any) -> None:
    """The filters the pages say things with."""
    app.add_template_filter(event_sentence, "event_sentence")
    app.add_template_filter(category_reason, "category_reason")
    app.add_template_filter(category_badge, "category_badge")
    app.add_template_filter(category_source, "category_source")
    app.add_template_filter(owner_why, "owner_why")
    app.add_template_filter(long_date, "long_date")

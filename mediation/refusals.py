"""Refusals in words: the commands' 403, 404 and 409 messages, said on the pages in the
reader's language.

The commands and the API speak English (`{"error": "conflict", "message": "a case in
closed cannot move to intake"}`); a page says the same refusal as a sentence its reader
understands ("已办结的案件不能改为受理登记"), with the codes in it turned into words and
the current state said in words too. A message the table does not know is shown as it
is (in English): `tests/test_words.py` checks the ones the pages can meet.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mediation.labels import label

# Messages said the same way every time.
FIXED: dict[str, Any] = {
    "a case cannot be merged into itself": _l("案件不能并入它自己"),
    "a caucus is held while the session is in progress": _l("背靠背谈话只能在调解进行中进行"),
    "a request with this Idempotency-Key is still being processed": _l("同一请求正在处理中，请稍候"),
    "already on the task force": _l("已是工作专班成员"),
    "attendance is recorded once the session has started": _l("调解开始后才能记录出席情况"),
    "cessation is recorded already": _l("已记录过息诉罢访"),
    "cessation is recorded on a resolved or closed case": _l("案件化解或办结后才能记录息诉罢访"),
    "decline an offer rather than withdraw it": _l("邀请请选择“拒绝”，不能撤回"),
    "follow-up visits come after an agreement or a resolution": _l("达成协议或化解后才能回访"),
    "messages are posted while the session is in progress": _l("调解进行中才能发言"),
    "no application for judicial confirmation is recorded": _l("尚未记录司法确认申请"),
    "one of the cases was merged meanwhile": _l("其中一个案件刚刚被合并，请刷新后重试"),
    "only a draft can be changed; a new agreement supersedes one in effect":
        _l("只有草稿可以修改；已生效的协议须另拟新协议取代"),
    "only a draft can be finalised": _l("只有草稿可以定稿"),
    "only a final agreement is signed": _l("定稿后才能签署"),
    "only a resolved or closed case is reopened by a new petition":
        _l("只有已化解或已办结的案件才因再次信访重新办理"),
    "only a session in progress can be joined": _l("只能进入正在进行的调解"),
    "only a withdrawn document may be purged": _l("只有已撤回的材料可以清除"),
    "only an agreement in effect can be confirmed": _l("只有已生效的协议可以申请司法确认"),
    "performance is tracked for an agreement in effect": _l("协议生效后才跟踪履行情况"),
    "such a record exists already": _l("该记录已存在"),
    "the agreement's performance is not complete": _l("协议尚未履行完毕"),
    "the application is recorded already": _l("已记录过申请"),
    "the case changed meanwhile": _l("案件刚刚被他人修改，请刷新后重试"),
    "the case has no agreement in effect": _l("本案没有已生效的协议"),
    "the case has no lead official yet": _l("本案尚未确定包案领导"),
    "the case is closed": _l("案件已办结"),
    "the case is closed: its file takes no more papers": _l("案件已办结，案卷不再接收材料"),
    "the case was merged into another; link to that one": _l("本案已并入其他案件，请关联到该案"),
    "the case was merged into another; the petition belongs there":
        _l("本案已并入其他案件，信访件应登记到该案"),
    "the court's decision is recorded already": _l("已记录过法院的确认结果"),
    "the document is already purged": _l("材料已清除"),
    "the document is already withdrawn": _l("材料已撤回"),
    "the draft was changed meanwhile": _l("草稿刚刚被他人修改，请刷新后重试"),
    "the handling clock has already been extended": _l("办理期限已经延长过"),
    "the handling clock has not started (no acceptance date)": _l("办理期限尚未开始计算（没有受理日期）"),
    "the item is already marked done": _l("该事项已标记为完成"),
    "the matter has been handled already": _l("该事项已处理"),
    "the message was deleted": _l("留言已删除"),
    "the rectification is already done": _l("整改已完成"),
    "the session changed meanwhile": _l("调解安排刚刚被他人修改，请刷新后重试"),
    "the session is over": _l("调解已结束"),
    "this visit is recorded already": _l("该次回访已记录"),
    "this petitioner has consented already": _l("该信访人已同意调解"),
    "this respondent has consented already": _l("该被申请人已同意调解"),
    # 403
    "a satisfaction survey is answered by the petitioner, not from a staff account":
        _l("满意度评价须由信访人本人填写，工作人员账户不能代填"),
    "only a mediator with an accepted referral on this case may draft an agreement":
        _l("只有已接受本案转介的调解员可以起草协议"),
    "only its author may edit a message": _l("只有发言人本人可以修改留言"),
    "only its author or the case's officers may delete a message": _l("只有发言人本人或办案人员可以删除留言"),
    "only the agreement's mediator or the case's officers track performance":
        _l("只有协议的调解员或办案人员可以跟踪履行"),
    "only the case's officers may record this": _l("只有本案办案人员可以记录"),
    "only the case's officers or its mediator may schedule a session":
        _l("只有办案人员或本案调解员可以安排调解"),
    "only the mediator who drafted the agreement may change it": _l("只有起草协议的调解员可以修改"),
    "only the session's mediator or the case's officers may do this":
        _l("只有主持调解员或办案人员可以这样操作"),
    "only the session's participants and the case's officers may speak in it":
        _l("只有调解参加人和办案人员可以发言"),
    "routing is for case officers and supervisors": _l("只有办案人员和督查人员可以转介"),
    "supervision reports are for supervisors, case officers and admins":
        _l("督查统计仅供督查人员、办案人员和管理员查看"),
    "the delivery log is for admins": _l("发送记录仅供管理员查看"),
    "the security audit is for admins": _l("安全审计仅供管理员查看"),
    "through your own account you may sign only for yourself": _l("通过本人账户只能为自己签名"),
    "your role may not reveal numbers on this case": _l("您的角色不能查看本案的完整号码"),
    "your role may not search by number": _l("您的角色不能按号码查询"),
    "your role may not send satisfaction surveys": _l("您的角色不能发送满意度评价"),
    "your role may not take cases in": _l("您的角色不能登记案件"),
    "the record is a provider's": _l("该记录属于服务机构"),
    "inspections, deductions and rectifications are for supervisors": _l("检查、扣分和整改由督查人员记录"),
    "the case's officers, its lead official and its mediator record visits":
        _l("回访由办案人员、包案领导或调解员记录"),
    "follow-up visits are for the case's officials and its mediator": _l("回访仅供本案工作人员和调解员"),
}

# What a 404 names (NotFound("case")): the thing that is not there, or not for this reader.
THINGS: dict[str, Any] = {
    "case": _l("案件"), "agreement": _l("调解协议"), "session": _l("调解安排"), "referral": _l("转介"),
    "document": _l("材料"), "provider": _l("服务机构"), "user": _l("用户"), "petitioner": _l("信访人"),
    "message": _l("留言"), "notification": _l("通知"), "visit": _l("回访记录"), "page": _l("页面"),
    "part": _l("页面"), "bulletin": _l("通报"), "department": _l("责任单位"), "hand-over": _l("交办事项"),
    "supervision order":
        _l("督办单"), "legal opinion": _l("法律意见"), "counselling note": _l("心理疏导记录"),
    "performance item": _l("履行事项"), "investigation": _l("调查核实记录"), "rectification": _l("整改记录"),
    "caucus": _l("背靠背谈话"), "task force member": _l("工作专班成员"), "format": _l("格式"),
    "action": _l("操作"), "responsibility": _l("责任人"), "handover reply": _l("交办答复"),
    "survey": _l("满意度评价"),
}


def _state(code: str) -> str:
    """A state code in words, whichever thing's state it is."""
    for group in ("case_status", "referral_status", "session_status", "agreement_status",
                  "need_state", "order_state", "rectification_state", "clock_state"):
        words = label(code, group)
        if words != code:
            return words
    return code


PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^a case in (\w+) cannot move to (\w+)$"),
     lambda m: _("“%(a)s”的案件不能改为“%(b)s”", a=_state(m[1]), b=_state(m[2]))),
    (re.compile(r"^a case in (\w+) cannot be resolved$"),
     lambda m: _("“%(a)s”的案件不能认定化解", a=_state(m[1]))),
    (re.compile(r"^a referral that is (\w+) cannot be (\w+)$"),
     lambda m: _("转介已是“%(a)s”，不能再改为“%(b)s”", a=_state(m[1]), b=_state(m[2]))),
    (re.compile(r"^a session that is (\w+) cannot become (\w+)$"),
     lambda m: _("调解已是“%(a)s”，不能再改为“%(b)s”", a=_state(m[1]), b=_state(m[2]))),
    (re.compile(r"^category (\d) already applies$"),
     lambda m: _("本案已属%(c)s", c=_("第%(n)s类", n=m[1]))),
    (re.compile(r"^category (\d) does not apply$"),
     lambda m: _("本案不属%(c)s", c=_("第%(n)s类", n=m[1]))),
    (re.compile(r"^the need (\w+) already has a live referral$"),
     lambda m: _("“%(n)s”需求已有进行中的转介", n=label(m[1], "need"))),
    (re.compile(r"^the need (\w+) is being routed by someone else$"),
     lambda m: _("“%(n)s”需求正由他人转介，请稍后刷新", n=label(m[1], "need"))),
    (re.compile(r"^the referral is (\w+) now$"), lambda m: _("转介现在是“%(s)s”", s=_state(m[1]))),
    (re.compile(r"^the draft was changed meanwhile \(you edited version (\d+)\)$"),
     lambda m: _("草稿刚刚被他人修改（您编辑的是第%(v)s版），请刷新后重试", v=m[1])),
    (re.compile(r"^case (\d+) was merged into another already$"), lambda m: _("该案件已并入其他案件")),
    (re.compile(r"^the (.+) is (\w+): it takes no more papers$"),
     lambda m: _("已“%(s)s”，不再接收材料", s=_state(m[2]))),
    (re.compile(r"^the petitioner may have a case already"),
     lambda m: _("该信访人可能已有案件：请选择作为其中一案的重复信访件，或填写理由另立新案")),
    (re.compile(r"^no eligible provider is free"),
     lambda m: _("暂无可接的服务机构：需求等待中，一有空闲即自动发出邀请")),
    (re.compile(r"^your role may not (\w+) this case$"), lambda m: _("您的角色不能对本案进行此操作")),
    (re.compile(r"^region (\d+) is outside your jurisdiction (\d*)$"),
     lambda m: _("该地区不在您的辖区内")),
    (re.compile(r"^outside your jurisdiction"), lambda m: _("该地区不在您的辖区内")),
    (re.compile(r"^people's mediation needs every party's consent; missing: (.+)$"),
     lambda m: _("人民调解须经各方当事人同意，尚未同意调解的当事人：%(who)s", who=m[1])),
    (re.compile(r"^only a (\w+) with an accepted referral on this case may do this$"),
     lambda m: _("只有已接受本案转介的%(who)s可以这样操作", who=label(m[1], "role"))),
]


def refusal_words(message: Any) -> str:
    """A command's refusal in the page's language (as it is when the table does not know it)."""
    text = str(message or "")
    found = FIXED.get(text)
    if found is not None:
        return str(found)
    for pattern, say in PATTERNS:
        m = pattern.match(text)
        if m:
            return say(m)
    return text


def state_words(state: Any) -> str:
    """A refusal's current state in words: a status, a list of categories, a mapping."""
    if state is None or state == "":
        return ""
    if isinstance(state, dict):
        return "；".join(state_words(v) for v in state.values() if v not in (None, ""))
    if isinstance(state, (list, tuple)):
        if all(isinstance(x, int) for x in state):
            return "、".join(_("第%(n)s类", n=n) for n in state) or _("无")
        return "、".join(state_words(x) for x in state)
    return _state(str(state))


def not_found_words(message: Any) -> str:
    """What a 404 says: the thing is not there or not for this reader."""
    text = str(message or "")
    thing = THINGS.get(text[:-len(" not found")] if text.endswith(" not found") else text)
    if thing is None:
        return _("页面不存在，或您无权查看")
    return _("%(what)s不存在，或您无权查看", what=thing)


def init_app(app: Any) -> None:
    app.add_template_filter(refusal_words, "refusal")
    app.add_template_filter(state_words, "state_words")
    app.add_template_filter(not_found_words, "not_found_words")

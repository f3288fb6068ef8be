"""The words the pages show for the codes the data stores: statuses, kinds, needs, event types.

Codes stay English in the database and the API; pages show them through the `label` filter,
translated (the source strings are Chinese, the English catalog has the English):

    {{ case.status|label("case_status") }}      -> 化解中 / In progress

Each area registers its own groups from its `init_app` into the registry's `labels` store
(`register_groups(app, {...})`; a group registered twice raises). The "event" group is the
event catalogue's (`mediation/events.py`). An unknown code is shown as it is, never an
error, so a new status cannot break a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l

from mediation.regions import region_choices, region_html, region_words
from mediation.registry import registry

EVENT_GROUP = "event"


def register_groups(app: Flask, groups: Mapping[str, Mapping[str, Any]]) -> None:
    """Add groups of labels (group -> {code: lazily translated words}) to the app's registry."""
    store = registry(app).labels
    for group, mapping in groups.items():
        if group == EVENT_GROUP:
            raise ValueError("event types take their words from the event catalogue")
        store.register(group, dict(mapping))


def _group(group: str) -> Mapping[str, Any]:
    reg = registry()
    if group == EVENT_GROUP:
        return {t.name: t.label for t in reg.event_types.values()}
    return reg.labels.get(group) or {}


def label(code: Any, group: str) -> str:
    """The words for a code, in the page's language; the code itself when none is known."""
    if code is None or code == "":
        return "—"
    if group == EVENT_GROUP:
        found = registry().event_types.get(str(code))
        return str(found.label) if found is not None else str(code)
    found = _group(group).get(str(code))
    return str(found) if found is not None else str(code)


def choices(group: str) -> list[tuple[str, str]]:
    """(code, words) pairs of a group, for a <select>."""
    return [(code, str(words)) for code, words in _group(group).items()]


def init_app(app: Flask) -> None:
    app.add_template_filter(label, "label")
    app.add_template_global(choices, "label_choices")
    app.add_template_filter(region_html, "region")  # {{ code|region }}: 成都市锦江区, code on hover
    app.add_template_global(region_choices, "region_choices")
    app.add_template_filter(region_words, "region_text")  # plain words: prints, <svg>, titles
    register_groups(app, CORE)


# The core's groups: users' roles and the case's own codes.
CORE: dict[str, dict[str, Any]] = {
    "role": {
        "admin": _l("系统管理员"), "supervisor": _l("督查人员"), "case_officer": _l("案件专员"),
        "lead_official": _l("包案领导"), "mediator": _l("调解员"), "lawyer": _l("律师"),
        "counsellor": _l("心理咨询师"), "mass_org": _l("群团组织"), "evaluator": _l("第三方评估"),
        "party": _l("当事人"), "department": _l("责任单位"),
    },
    "petition_channel": {
        "letter": _l("来信"), "visit": _l("来访"), "online": _l("网上"), "phone": _l("电话"),
        "leader_mailbox": _l("领导信箱"),
    },
    "case_link": {
        "related": _l("同一信访人的另一案件"), "merged_into": _l("本案已并入该案"),
        "absorbed": _l("该案已并入本案"),
    },
    "petition_level": {
        "county": _l("县级"), "city": _l("市级"), "province": _l("省级"), "national": _l("国家级"),
    },
    "case_status": {
        "intake": _l("受理登记"), "in_progress": _l("化解中"), "agreement_reached": _l("已达成协议"),
        "resolved": _l("已化解"), "closed": _l("已办结"), "reopened": _l("重新信访"),
    },
    "need": {
        "economic_compensation": _l("经济补偿、权益保障"), "legal_opinion": _l("法律意见"),
        "counselling": _l("心理疏导"), "group_support": _l("群团帮扶"),
        "neutral_participation": _l("中立第三方参与"),
    },
    "group": {
        "worker": _l("职工"), "woman": _l("妇女"), "disabled": _l("残疾人"), "elderly": _l("老年人"),
        "minor": _l("未成年人"), "veteran": _l("退役军人"), "emotional": _l("情绪激动、长期缠访"),
    },
    "livelihood": {
        "land_demolition": _l("征地拆迁"), "labour_social_security": _l("劳动保障"),
        "education": _l("教育"), "healthcare": _l("医疗"), "property_management": _l("物业管理"),
        "other": _l("其他"),
    },
    "assessment": {
        "reasonable": _l("诉求合理且有政策依据"), "partly_reasonable": _l("诉求部分合理"),
        "unreasonable_hardship": _l("诉求不合理但生活困难"), "policy_gap": _l("政策不衔接、不完善"),
        "law_related": _l("涉法涉诉"),
    },
    "owner_level": {"province": _l("省级"), "city": _l("市级"), "county": _l("县级")},
    "contact_kind": {"progress_hearing": _l("听取汇报"), "petitioner_meeting": _l("接访约谈")},
    "clock_state": {
        "not_started": _l("未开始"), "running": _l("计时中"), "overdue": _l("已超期"),
        "done": _l("已完成"), "ended": _l("已随办结终止"), "open": _l("可申请"), "lapsed": _l("已过期"),
    },
    "clock": {
        "acceptance_decision": _l("受理告知"), "handling": _l("办理答复"),
        "review_request": _l("申请复查期限"), "review_answer": _l("复查答复"),
        "rereview_request": _l("申请复核期限"), "rereview_answer": _l("复核答复"),
        "progress_hearing": _l("听取汇报（每月）"), "petitioner_meeting": _l("接访约谈（每半月）"),
    },
    "investigation": {
        "archive_review": _l("调阅原始档案"), "on_site_check": _l("实地走访核查"),
        "face_to_face": _l("面对面沟通"),
    },
    "category": {
        "1": _l("2023年1月1日前受理、经两次以上处理仍未息诉罢访"),
        "2": _l("征地拆迁、劳动保障、教育、医疗、物业管理等民生领域复杂疑难"),
        "3": _l("跨地区、跨部门、跨层级，责任主体不明确或存在职责交叉"),
        "4": _l("反复走访、网上重复投诉的典型性、代表性问题"),
        "5": _l("政策调整、历史遗留等原因形成，需政策解决或统筹协调"),
        "6": _l("上级交办、领导批示、社会高度关注"),
    },
    "case_field": {
        "title": _l("案件标题"), "summary": _l("案情摘要"), "departments": _l("责任单位"),
        "received_on": _l("登记受理日期"), "accepted_on": _l("受理告知日期"), "replied_on": _l("答复日期"),
        "review_requested_on": _l("申请复查日期"), "review_answered_on": _l("复查答复日期"),
        "rereview_requested_on": _l("申请复核日期"), "rereview_answered_on": _l("复核答复日期"),
        "times_handled": _l("已处理次数"), "livelihood_fields": _l("民生领域"),
        "visits_in_person": _l("走访次数"), "online_complaints": _l("网上信访次数"),
        "flags": _l("归类事项"), "background": _l("案件背景"), "demand_basis": _l("诉求依据"),
        "focal_conflict": _l("矛盾焦点"), "assessment": _l("研判结论"), "strategy_note": _l("一案一策说明"),
        "needs": _l("化解需求"), "strategy": _l("一案一策"),
        # the evaluators' dataset (mediation/supervision/evaluation.py COLUMNS)
        "case_pseudonym": _l("案件化名"), "region_code": _l("行政区划代码"), "status": _l("状态"),
        "categories": _l("六类积案类别"), "resolved": _l("是否已化解"),
        "petitioning_ceased": _l("是否已息诉罢访"),
        "reopened_after_resolution": _l("化解后是否再次信访"), "petitioners": _l("信访人数"),
        "events": _l("时间线事件数"), "survey_answers": _l("满意度评价份数"), "mean_rating": _l("平均评分"),
    },
    "delivery_status": {
        "pending": _l("待发送"), "sending": _l("发送中"), "retry": _l("等待重试"), "sent": _l("已发送"),
        "failed": _l("发送失败"),
    },
    "delivery_channel": {"email": _l("电子邮件"), "wecom": _l("企业微信"), "sms": _l("短信")},
    "case_flag": {
        "policy_change": _l("政策调整"), "historical_legacy": _l("历史遗留"),
        "assigned_from_above": _l("上级交办"), "leader_instruction": _l("领导批示"),
        "high_attention": _l("社会高度关注"), "cross_region": _l("跨地区"),
        "cross_department": _l("跨部门"), "cross_level": _l("跨层级"),
        "responsibility_unclear": _l("责任主体不明确或职责交叉"), "typical_problem": _l("典型性、代表性问题"),
        "petitioning_ceased": _l("已息诉罢访"), "escalated": _l("无人可接，退回办案人员"),
        "reopened_after_resolution": _l("化解后再次信访"),
    },
}

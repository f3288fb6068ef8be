"""Demo data: a province (Sichuan, 51) with cases in several counties of Chengdu, all six
categories represented, and one user for every role. Loaded once; loading again is a no-op."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from mediation import clock
from mediation.cases import commands
from mediation.extensions import db
from mediation.users import User, create_user

DEMO_PASSWORD = "demo-pass-2025"

USERS = [
    ("admin", "admin", None, "系统管理员"),
    ("supervisor", "supervisor", "510000", "省领导小组办公室 周督查"),
    ("officer", "case_officer", "510100", "成都市信访局 李专员"),
    ("officer_jj", "case_officer", "510104", "锦江区信访局 王干部"),
    ("lead_province", "lead_official", "510000", "省级包案领导 陈副省长"),
    ("lead_city", "lead_official", "510100", "市级包案领导 刘副市长"),
    ("lead_county", "lead_official", "510104", "县级包案领导 赵区长"),
    ("mediator", "mediator", None, "人民调解员 孙调解"),
    ("lawyer", "lawyer", None, "律师 吴律师"),
    ("counsellor", "counsellor", None, "心理咨询师 郑老师"),
    ("union", "mass_org", None, "市总工会 冯主席"),
    ("evaluator", "evaluator", None, "第三方评估 西南财大课题组"),
    ("party", "party", None, "当事人 张某"),
    ("minzheng", "department", "510100", "成都市民政局 马科长"),
]


def _d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


CASES = [
    {
        "title": "锦江区某村征地拆迁补偿款未足额发放",
        "summary": "村民反映2019年集体土地征收后，青苗及地上附着物补偿款未足额发放，多次到区、市上访。",
        "region_code": "510104", "departments": ["区自然资源局", "街道办事处"],
        "received_on": _d("2021-03-02"), "accepted_on": _d("2021-03-10"),
        "replied_on": _d("2021-05-06"), "times_handled": 3,
        "livelihood_fields": ["land_demolition"], "visits_in_person": 6, "online_complaints": 4,
        "flags": ["historical_legacy", "typical_problem"],
        "background": "2019年片区开发征收集体土地120亩，涉及农户46户。",
        "demand_basis": "《土地管理法》第四十八条及省征地补偿标准。",
        "focal_conflict": "附着物清点数量与补偿标准存在争议。",
        "assessment": "partly_reasonable",
        "petitioners": [{"name": "张建国", "id_number": "510104196805121234",
                         "phone": "13800138001", "groups": ["elderly"]}],
    },
    {
        "title": "青羊区某公司拖欠农民工工资",
        "summary": "32名农民工反映工程完工后工资被拖欠，总包与分包相互推诿。",
        "region_code": "510105", "departments": ["区人社局", "区住建局"],
        "received_on": _d("2025-02-10"), "accepted_on": _d("2025-02-18"), "times_handled": 1,
        "livelihood_fields": ["labour_social_security"], "visits_in_person": 3,
        "online_complaints": 5,
        "flags": ["cross_department", "responsibility_unclear", "high_attention"],
        "background": "某住宅项目2024年竣工，劳务分包单位负责人失联。",
        "demand_basis": "《保障农民工工资支付条例》。",
        "focal_conflict": "总包单位是否承担先行清偿责任。",
        "assessment": "reasonable",
        "petitioners": [{"name": "李秀英", "id_number": "510105198203153321",
                         "phone": "13900139002", "groups": ["worker", "woman"]}],
    },
    {
        "title": "金牛区某小区物业服务纠纷",
        "summary": "业主反映物业公司违规收费、公共收益不公开，与业委会矛盾激化。",
        "region_code": "510106", "departments": ["区住建局"],
        "received_on": _d("2024-11-05"), "accepted_on": _d("2024-11-12"), "times_handled": 2,
        "livelihood_fields": ["property_management"], "visits_in_person": 2,
        "online_complaints": 9, "flags": ["typical_problem"],
        "background": "小区交付十年，物业合同到期后未续签仍在服务。",
        "demand_basis": "《民法典》物业服务合同章。",
        "focal_conflict": "公共收益分配与停车费标准。",
        "assessment": "law_related",
        "petitioners": [{"name": "王丽", "phone": "13700137003", "groups": ["woman"]}],
    },
    {
        "title": "武侯区原企业改制职工社保待遇问题",
        "summary": "原国有企业改制时部分职工社保断缴，退休后待遇偏低，属政策调整遗留问题。",
        "region_code": "510107", "departments": ["区人社局", "区国资办", "市医保局"],
        "received_on": _d("2020-06-01"), "accepted_on": _d("2020-06-08"),
        "replied_on": _d("2020-08-01"), "times_handled": 4,
        "livelihood_fields": ["labour_social_security"], "visits_in_person": 8,
        "online_complaints": 2,
        "flags": ["policy_change", "historical_legacy", "cross_level", "responsibility_unclear",
                  "assigned_from_above"],
        "background": "企业于2003年改制，涉及职工约200人。",
        "demand_basis": "改制时的职工安置方案及社保补缴政策。",
        "focal_conflict": "断缴期间费用由谁承担。",
        "assessment": "policy_gap",
        "petitioners": [{"name": "刘德明", "id_number": "510107195809086617",
                         "phone": "13600136004", "groups": ["worker", "elderly"]}],
    },
    {
        "title": "成华区学生入学片区划分争议",
        "summary": "家长对学区调整不满，网上集中投诉，社会关注度高。",
        "region_code": "510108", "departments": ["区教育局"],
        "received_on": _d("2025-07-20"), "accepted_on": _d("2025-07-25"), "times_handled": 1,
        "livelihood_fields": ["education"], "visits_in_person": 1, "online_complaints": 15,
        "flags": ["high_attention", "typical_problem"],
        "background": "新建学校投用后划片调整。", "demand_basis": "义务教育就近入学政策。",
        "focal_conflict": "划片边界及过渡期安排。",
        "petitioners": [{"name": "陈静", "phone": "13500135005", "groups": ["woman"]}],
    },
    {
        "title": "龙泉驿区医疗纠纷长期缠访",
        "summary": "患者家属认为医院手术存在过错，对鉴定结论不服，情绪激动，长期缠访。",
        "region_code": "510112", "departments": ["区卫健委"],
        "received_on": _d("2019-09-09"), "accepted_on": _d("2019-09-16"),
        "replied_on": _d("2019-11-10"), "times_handled": 5,
        "livelihood_fields": ["healthcare"], "visits_in_person": 12, "online_complaints": 3,
        "flags": ["leader_instruction"],
        "background": "2018年手术后出现并发症。", "demand_basis": "医疗损害鉴定意见。",
        "focal_conflict": "赔偿金额与责任比例。",
        "assessment": "unreasonable_hardship",
        "petitioners": [{"name": "赵志强", "id_number": "510112197511200019",
                         "phone": "13400134006", "groups": ["emotional", "disabled"]}],
    },
    {
        "title": "跨市高速公路征地安置争议",
        "summary": "高速公路项目跨成都、德阳两市，安置标准不一，村民多次赴省上访。",
        "region_code": "510100", "departments": ["省交通运输厅", "市自然资源局", "德阳市自然资源局"],
        "received_on": _d("2022-04-11"), "accepted_on": _d("2022-04-20"),
        "replied_on": _d("2022-06-15"), "times_handled": 2,
        "livelihood_fields": ["land_demolition", "labour_social_security"],
        "visits_in_person": 4, "online_complaints": 6,
        "flags": ["cross_region", "cross_level", "responsibility_unclear", "assigned_from_above"],
        "background": "项目2020年开工。", "demand_basis": "两市征地补偿标准文件。",
        "focal_conflict": "同一项目不同安置标准。",
        "assessment": "reasonable",
        "petitioners": [{"name": "周大勇", "id_number": "510100197002021111",
                         "phone": "13300133007", "groups": ["worker"]}],
    },
    {
        "title": "锦江区棚户区改造过渡费拖欠",
        "summary": "棚改居民反映过渡安置费停发，回迁房迟迟未交付。",
        "region_code": "510104", "departments": ["区住建局", "区财政局"],
        "received_on": _d("2025-10-08"), "times_handled": 0,
        "livelihood_fields": ["land_demolition"], "visits_in_person": 1,
        "background": "回迁项目因资金问题停工。", "demand_basis": "棚改安置协议。",
        "focal_conflict": "过渡费发放期限。",
        "petitioners": [{"name": "吴桂兰", "phone": "13200132008", "groups": ["elderly", "woman"]}],
    },
]


# Packages built on mediation add their demo data to the registry's `demo_loaders`
# (referrals: the providers that the demo's mediator, lawyer, counsellor and union users act
# for). Each gets the users by name.
DemoLoader = Callable[[dict[str, User]], None]


def load_demo() -> list[User]:
    """Create the demo users and cases unless they exist; return the demo users."""
    existing = db.session.execute(
        sa.select(User).where(User.username.in_([u[0] for u in USERS]))
    ).scalars().all()
    if existing:
        return sorted(existing, key=lambda u: [x[0] for x in USERS].index(u.username))
    users = {name: create_user(name, DEMO_PASSWORD, role, region, display)
             for name, role, region, display in USERS}
    db.session.commit()
    admin = users["admin"]
    cases = [commands.intake(admin, dict(c)) for c in CASES]
    today = clock.today()
    # The demo's ledger: every case listed in the action (纳入专项行动) on its acceptance
    # (else registration) day, as an imported backlog would be; uncategorised ones with a reason.
    for case, c in zip(cases, CASES, strict=True):
        listed = min(c.get("accepted_on") or c.get("received_on") or today, today)
        commands.list_in_action(admin, case.id, listed, "" if case.category_mask else "示范台账所列案件")
    # Ownership: province for the cross-region case, city and county for others.
    commands.assign_owner(admin, cases[6].id, users["lead_province"].id, "province", None)
    commands.assign_owner(admin, cases[3].id, users["lead_city"].id, "city", None)
    commands.assign_owner(admin, cases[0].id, users["lead_county"].id, "county",
                          today - dt.timedelta(days=40))
    commands.record_contact(admin, cases[0].id, "petitioner_meeting",
                            today - dt.timedelta(days=20), "约见信访人，听取诉求")
    commands.add_investigation(admin, cases[0].id, {
        "method": "on_site_check", "conducted_on": today - dt.timedelta(days=30),
        "investigators": "王干部、街道工作人员", "findings": "实地核查附着物清点记录，发现漏登12户。"})
    commands.transition(admin, cases[0].id, "in_progress", "专班成立，启动化解")
    commands.transition(admin, cases[1].id, "in_progress", "专班成立，启动化解")
    from mediation.registry import registry

    for fn in registry().demo_loaders.values():
        fn(users)
    return list(users.values())

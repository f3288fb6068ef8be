"""Oversight's pages through the test client as a browser (CSRF on): the case page's task
force and orders section, issuing and answering an order through the forms (409 in words),
the printable order, and the responsibility page with its forms and the evaluation's
counts. (Chromium: tests/test_browser_oversight.py.)"""

from __future__ import annotations

import datetime as dt

from mediation import clock
from tests.page_client import PageClient


def _setup(api):
    officer = api.user("case_officer", "510104")
    sup = api.user("supervisor", "51")
    county = api.user("lead_official", "510104", "赵区长")
    outsider = api.user("lead_official", "520102", "外省领导")
    case = api.case(officer, region_code="510104")
    assert api.put("/api/regions/510104/responsibles/direct", sup, {"user_id": county.id}).status_code == 200
    return officer, sup, county, outsider, case


def test_task_force_and_orders_on_the_case_page(api, app, csrf_on):
    officer, sup, county, outsider, case = _setup(api)
    url = f"/cases/{case['id']}"
    page = PageClient(app).sign_in(officer)
    html = page.text(url)
    assert 'data-part="case_oversight"' in html and 'id="task-force-form"' in html
    assert 'id="order-form"' not in html  # officers do not issue orders
    r = page.post(f"/oversight/cases/{case['id']}/task-force", {"user_id": outsider.id, "role": "backbone"},
                  token_from=url)
    assert r.status_code == 302
    part = page.text(url + "?part=case_oversight")
    assert "外省领导" in part and "业务骨干" in part
    member = PageClient(app).sign_in(outsider)
    assert member.get(url).status_code == 200
    # The supervisor issues an order through the form; a past deadline is refused in words.
    boss = PageClient(app).sign_in(sup)
    assert 'id="order-form"' in boss.text(url)
    r = boss.post(f"/oversight/cases/{case['id']}/orders", {"requirement": "限期化解",
                                                            "due_on": clock.today().isoformat()},
                  token_from=url)
    assert r.status_code == 302 and "办理时限须晚于今天" in boss.text(url)
    due = (clock.today() + dt.timedelta(days=5)).isoformat()
    r = boss.post(f"/oversight/cases/{case['id']}/orders",
                  {"requirement": "限期化解并书面回复", "due_on": due}, token_from=url)
    assert r.status_code == 302 and "/oversight/orders/" in r.headers["Location"]
    order_url = r.headers["Location"]
    html = boss.text(order_url)
    assert "待回复" in html and 'id="answer-form"' not in html
    printed = boss.text(order_url + "/print")
    assert "督办单" in printed and "限期化解并书面回复" in printed
    assert "赵区长（四川省成都市锦江区直接责任人）" in printed
    assert "oversight_print.css" in printed
    # The addressee finds it in the list and answers; a second answer is a 409 in words.
    addressee = PageClient(app).sign_in(county)
    assert order_url.rsplit("/", 1)[-1] in addressee.text("/oversight/orders")
    assert 'id="answer-form"' in addressee.text(order_url)
    r = addressee.post(order_url + "/answer", {"answer": ""})
    assert r.status_code == 422 and "answer-error" in r.get_data(as_text=True)
    r = addressee.post(order_url + "/answer", {"answer": "已约见信访人"})
    assert r.status_code == 302
    assert "已回复" in boss.text(order_url) and "已约见信访人" in boss.text(order_url + "/print")
    r = addressee.client.post(order_url + "/answer", data={"answer": "再答", "csrf_token": _token(addressee)})
    assert r.status_code == 409 and "已回复" in r.get_data(as_text=True)
    # Strangers are told there is no such order.
    assert member.get(order_url).status_code == 404
    # Removing the member takes the case away from them.
    r = page.post(f"/oversight/cases/{case['id']}/task-force/{outsider.id}/remove", {}, token_from=url)
    assert r.status_code == 302 and member.get(url).status_code == 404


def _token(page: PageClient) -> str:
    from tests.page_client import csrf_token

    return csrf_token(page.text("/"))


def test_the_responsibility_page(api, app, csrf_on):
    officer, sup, county, outsider, case = _setup(api)
    boss = PageClient(app).sign_in(sup)
    html = boss.text("/oversight/responsibility")
    assert "赵区长" in html and 'id="record-form"' in html and 'id="responsible-form"' in html
    r = boss.post("/oversight/responsibility/records", {
        "kind": "accountability", "subject_kind": "department", "department": "",
        "region_code": "510104", "decided_on": clock.today().isoformat(), "reason": "推诿"},
        token_from="/oversight/responsibility")
    assert r.status_code == 422 and "请填写部门名称" in r.get_data(as_text=True)
    r = boss.post("/oversight/responsibility/records", {
        "kind": "accountability", "subject_kind": "department", "department": "区住建局",
        "region_code": "510104", "decided_on": clock.today().isoformat(), "reason": "推诿",
        "case_ids": str(case["id"])}, token_from="/oversight/responsibility")
    assert r.status_code == 302
    html = boss.text("/oversight/responsibility")
    assert "区住建局" in html and case["reference"] in html
    evaluation = boss.text("/supervision/evaluation")
    assert "约谈提醒与问责记录（1）" in evaluation
    r = boss.post("/oversight/responsibility/responsibles", {"region_code": "510104", "kind": "first",
                                                             "user_id": str(outsider.id)},
                  token_from="/oversight/responsibility")
    assert r.status_code == 302
    # Officers read the page but have no forms; others have no such page.
    reader = PageClient(app).sign_in(officer)
    html = reader.text("/oversight/responsibility")
    assert "区住建局" in html and 'id="record-form"' not in html and 'id="responsible-form"' not in html
    assert PageClient(app).sign_in(county).get("/oversight/responsibility").status_code == 404


def test_an_order_on_an_overdue_hand_over_from_the_case_page_answered_by_the_department(api, app, csrf_on):
    from mediation.departments.models import Handover
    from mediation.extensions import db

    officer, sup, county, outsider, case = _setup(api)
    clerk = api.user("department", "510104", "住建局办事员")
    dept = api.post("/api/departments", sup, {"name": "区住建局", "kind": "housing",
                                              "region_code": "510104", "user_ids": [clerk.id]}).get_json()
    with app.app_context():
        late = Handover(case_id=case["id"], department_id=dept["id"], matter="核实补偿标准",
                        due_on=clock.today() - dt.timedelta(days=3), status="sent")
        db.session.add(late)
        db.session.commit()
        late_id = late.id
    url = f"/cases/{case['id']}"
    boss = PageClient(app).sign_in(sup)
    html = boss.text(url + "?part=case_oversight")
    assert "核实补偿标准" in html and "已超期 3 天" in html and "handover-order-form" in html
    due = (clock.today() + dt.timedelta(days=2)).isoformat()
    r = boss.post(f"/oversight/handovers/{late_id}/orders", {"requirement": "请三日内答复", "due_on": due},
                  token_from=url)
    assert r.status_code == 302 and "/oversight/orders/" in r.headers["Location"]
    order_url = r.headers["Location"]
    assert "区住建局" in boss.text(order_url + "/print")
    desk = PageClient(app).sign_in(clerk)
    listing = desk.text("/oversight/orders")
    assert 'href="/oversight/orders"' in listing and order_url.rsplit("/", 1)[-1] in listing
    html = desk.text(order_url)
    assert 'id="answer-form"' in html and f'href="/cases/{case["id"]}"' not in html
    r = desk.post(order_url + "/answer", {"answer": "已核实，标准符合规定"}, token_from=order_url)
    assert r.status_code == 302
    assert "已回复" in boss.text(order_url)


def test_overdue_orders_beside_the_board_and_in_the_weekly_page(api, app, csrf_on):
    from mediation.extensions import db
    from mediation.oversight.models import SupervisionOrder

    officer, sup, county, outsider, case = _setup(api)
    due = (clock.today() + dt.timedelta(days=3)).isoformat()
    order = api.post(f"/api/cases/{case['id']}/orders", sup,
                     {"requirement": "限期化解", "due_on": due}).get_json()
    board = PageClient(app).sign_in(officer).text("/board")
    assert 'data-part="board_orders"' in board and "督办超期" in board and "没有超期未回复的督办单" in board
    with app.app_context():  # its deadline two days past (the commands refuse a past day)
        db.session.get(SupervisionOrder, order["id"]).due_on = clock.today() - dt.timedelta(days=2)
        db.session.commit()
    board = PageClient(app).sign_in(officer).text("/board")
    assert f'data-order="{order["id"]}"' in board and order["number"] in board
    assert "赵区长（直接责任人）" in board and "已超期 2 天" in board
    assert 'href="/oversight/orders?state=overdue"' in board
    weekly = PageClient(app).sign_in(sup).text("/supervision/weekly")
    assert 'id="orders-overdue"' in weekly and f'data-order="{order["id"]}"' in weekly
    assert case["reference"] in weekly and "赵区长" in weekly
    # another province's board and weekly list do not have it
    far = api.user("supervisor", "52")
    assert f'data-order="{order["id"]}"' not in PageClient(app).sign_in(far).text("/supervision/weekly")
    # answered, it leaves the list
    assert api.post(f"/api/orders/{order['id']}/answer", county, {"answer": "已办"}).status_code == 200
    assert f'data-order="{order["id"]}"' not in PageClient(app).sign_in(officer).text("/board")


def test_the_timeline_says_oversight_events_as_sentences_in_chinese_and_english(api, app, csrf_on):
    officer, sup, county, outsider, case = _setup(api)
    cid = case["id"]
    assert api.post(f"/api/cases/{cid}/task-force", officer,
                    {"user_id": outsider.id, "role": "backbone"}).status_code == 201
    due = clock.today() + dt.timedelta(days=3)
    order = api.post(f"/api/cases/{cid}/orders", sup, {"requirement": "限期化解",
                                                       "due_on": due.isoformat()}).get_json()
    r = api.post(f"/api/orders/{order['id']}/answer", county, {"answer": "已约见信访人"})
    assert r.status_code == 200
    r = api.post("/api/accountability", sup, {"kind": "warning_talk", "subject_kind": "person",
                                              "user_id": county.id, "decided_on": clock.today().isoformat(),
                                              "reason": "化解不力", "case_ids": [cid]})
    assert r.status_code == 201, r.get_json()
    page = PageClient(app).sign_in(sup)
    html = page.text(f"/cases/{cid}?part=case_timeline")
    day = f"{due.year}年{due.month}月{due.day}日"
    assert "外省领导加入工作专班，任业务骨干" in html
    assert f"{order['number']}：督办赵区长（直接责任人），{day}前回复" in html
    assert f"赵区长回复{order['number']}：已约见信访人" in html
    assert "对赵区长约谈提醒" in html
    for code in ("taskforce.member_added", "oversight.order_issued", "oversight.order_answered",
                 "oversight.accountability_recorded"):
        assert f">{code}<" not in html and f"：{code}" not in html
    page.get("/lang/en")
    html = page.text(f"/cases/{cid}?part=case_timeline")
    english_day = f"{due.day} {due.strftime('%B')} {due.year}"
    assert "外省领导 joined the task force as Core staff" in html
    assert (f"{order['number']}: supervision of Directly responsible person (直接责任人) 赵区长, "
            f"reply by {english_day}") in html
    assert f"赵区长 answered {order['number']}: 已约见信访人" in html
    assert "Warning talks (约谈提醒): 赵区长, " in html
    assert "督办赵区长" not in html and "加入工作专班，" not in html


def test_the_timeline_says_an_escalation_with_the_new_addressee(api, app):
    from mediation.registry import registry

    officer, sup, county, outsider, case = _setup(api)
    city = api.user("lead_official", "510100", "刘副市长")
    assert api.put("/api/regions/5101/responsibles/first", sup, {"user_id": city.id}).status_code == 200
    due = clock.today() + dt.timedelta(days=1)
    order = api.post(f"/api/cases/{case['id']}/orders", sup, {"requirement": "限期化解",
                                                               "due_on": due.isoformat()}).get_json()
    later = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(9), tzinfo=clock.zone())
    with clock.frozen(later.astimezone(dt.UTC)), app.app_context():
        assert registry(app).periodic_jobs.get("oversight-order-escalation")() == 1
    html = PageClient(app).sign_in(sup).text(f"/cases/{case['id']}?part=case_timeline")
    assert f"{order['number']}逾期未回复，升级为督办〔" in html and "督办刘副市长（第一责任人）" in html

"""Sensitive personal data: encrypted at rest, masked everywhere, revealed only to the roles
that need it (each showing on the timeline), found by number through the blind index, and
readable and searchable across a key rotation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from mediation import create_app
from mediation.cases import commands
from mediation.extensions import db
from mediation.pii import mask_id_number, mask_phone, normalize
from tests.conftest import PII_KEY, SECRET

ID = "510104198001011234"
PHONE = "13800138000"
ID2 = "51010419750315002X"
PHONE2 = "13900139000"


def raw_database_text(app) -> str:
    """Every value of every row of every table, as text, read with plain SQL."""
    chunks = []
    with app.app_context():
        with db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                for row in conn.execute(sa.text(f"SELECT * FROM {table.name}")):
                    chunks.extend(str(v) for v in row)
        db.session.remove()
    return "\n".join(chunks)


@pytest.fixture
def officer(api):
    return api.user("case_officer", "510104")


@pytest.fixture
def case(api, officer):
    return api.case(officer, petitioners=[
        {"name": "张三", "id_number": ID, "phone": PHONE, "groups": ["worker"]},
        {"name": "李四", "id_number": ID2.lower(), "phone": "+86" + PHONE2}])


def test_masking_helpers():
    assert mask_id_number("1234") == "****************34" and len(mask_id_number("1234")) == 18
    assert mask_phone("8000") == "*******8000" and len(mask_phone("8000")) == 11
    assert mask_id_number(None) is None and mask_phone(None) is None
    assert normalize("id_number", "51010419750315002x") == ID2
    assert normalize("phone", "+8613900139000") == PHONE2
    assert normalize("phone", "8613900139000") == PHONE2
    assert normalize("phone", "028-8555 1234") == "02885551234"



def test_a_sealed_number_is_its_encryption_index_and_tail_of_the_normalized_number():
    """PiiCipher.sealed (normalized once, the index by hmac.digest) stores what encrypt,
    blind_index (hmac.new over the normalized number) and the last four characters give."""
    import hashlib
    import hmac

    from mediation.pii import PiiCipher

    c = PiiCipher((Fernet.generate_key().decode(), PII_KEY))
    for kind, typed, norm in (("id_number", ID2.lower(), ID2), ("phone", "+86 139-0013-9000", PHONE2),
                              ("phone", "028-8555 1234", "02885551234")):
        enc, index, tail = c.sealed(kind, typed)
        assert c.decrypt(enc) == norm and tail == norm[-4:]
        assert index == c.blind_index(kind, typed) == c.blind_indexes(kind, norm)[0]
        assert index == hmac.new(c._index_keys[0], f"{kind}:{norm}".encode(), hashlib.sha256).hexdigest()
        assert c.blind_indexes(kind, typed)[1] == hmac.new(
            c._index_keys[1], f"{kind}:{norm}".encode(), hashlib.sha256).hexdigest()


def test_the_database_holds_no_number_in_clear(api, app, officer, case):
    api.post(f"/api/cases/{case['id']}/petitioners", officer,
             {"name": "王五", "id_number": "510104199912319999", "phone": "02885551234"})
    text = raw_database_text(app)
    assert "张三" in text  # the read did see the rows
    for number in (ID, PHONE, ID2, ID2.lower(), PHONE2, "510104199912319999", "02885551234",
                   "85551234", "1980010112"):
        assert number not in text, number
    with app.app_context():
        row = db.session.execute(sa.text(
            "SELECT id_number_enc, id_number_index, id_number_tail, phone_enc, phone_tail "
            "FROM petitioners WHERE name = '张三'")).one()
        db.session.remove()
    assert row.id_number_enc.startswith("gAAAA")  # a Fernet token
    assert len(row.id_number_index) == 64 and row.id_number_tail == "1234"
    assert row.phone_tail == "8000"


def test_responses_are_masked_everywhere(api, officer, case):
    cid = case["id"]
    admin = api.user("admin")
    responses = [
        api.get(f"/api/cases/{cid}", officer), api.get(f"/api/cases/{cid}", admin),
        api.get("/api/cases", officer), api.get(f"/api/cases/{cid}/timeline", officer),
        api.post("/api/petitioners/search", officer, {"id_number": ID, "reason": "来访核对"}),
        api.post("/api/petitioners/search", officer, {"phone": PHONE2, "reason": "电话回访"}),
        api.patch(f"/api/cases/{cid}", officer, {"title": "新标题"}),
        api.post(f"/api/cases/{cid}/petitioners", officer, {"name": "赵六", "phone": "13700137000"}),
    ]
    for r in responses:
        assert r.status_code in (200, 201), r.get_json()
        body = r.get_data(as_text=True)
        for number in (ID, PHONE, ID2, PHONE2, "13700137000", "1980010112", "00138000"):
            assert number not in body, (r.request.path, number)
    ps = api.get(f"/api/cases/{cid}", officer).get_json()["petitioners"]
    assert [(p["id_number"], p["phone"]) for p in ps] == [
        ("****************34", "*******8000"), ("****************2X", "*******9000"),
        (None, "*******7000")]
    found = responses[4].get_json()
    assert found == [{"id": ps[0]["id"], "case_id": cid, "name": "张三",
                      "id_number": "****************34", "phone": "*******8000",
                      "groups": ["worker"], "address": ""}]


@pytest.mark.parametrize("who", ["officer", "city_officer", "owner", "admin"])
def test_reveal_to_the_roles_that_need_it_is_recorded_without_the_numbers(api, officer, case, who):
    cid, pid = case["id"], case["petitioners"][0]["id"]
    if who == "officer":
        user = officer
    elif who == "city_officer":
        user = api.user("case_officer", "510100")
    elif who == "admin":
        user = api.user("admin")
    else:
        user = api.user("lead_official", "510104")
        assert api.put(f"/api/cases/{cid}/owner", officer,
                       {"lead_official_id": user.id}).status_code == 200
    r = api.post(f"/api/cases/{cid}/petitioners/{pid}/reveal", user, {"reason": "上门约谈需要联系"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"id": pid, "name": "张三", "id_number": ID, "phone": PHONE}
    events = api.get(f"/api/cases/{cid}/timeline", officer).get_json()["events"]
    ev = events[-1]
    assert ev["type"] == "pii.revealed" and ev["actor"] == user.id
    assert ev["data"] == {"petitioner_id": pid, "fields": ["id_number", "phone"],
                          "reason": "上门约谈需要联系", "to": user.username}
    assert ID not in str(events) and PHONE not in str(events)


def test_reveal_one_field_only(api, officer, case):
    cid, pid = case["id"], case["petitioners"][1]["id"]
    r = api.post(f"/api/cases/{cid}/petitioners/{pid}/reveal", officer,
                 {"fields": ["phone"], "reason": "电话回访"})
    assert r.status_code == 200
    assert r.get_json() == {"id": pid, "name": "李四", "phone": PHONE2}
    ev = api.get(f"/api/cases/{cid}/timeline", officer).get_json()["events"][-1]
    assert ev["data"]["fields"] == ["phone"]


def test_reveal_refused_to_others_and_leaves_no_event(api, officer, case):
    cid, pid = case["id"], case["petitioners"][0]["id"]
    url = f"/api/cases/{cid}/petitioners/{pid}/reveal"
    body = {"reason": "想看看"}
    supervisor = api.user("supervisor", "510104")  # sees the case, but masked only
    assert api.post(url, supervisor, body).status_code == 403
    for user in (api.user("case_officer", "510105"), api.user("mediator"),
                 api.user("lawyer"), api.user("evaluator"),
                 api.user("lead_official", "510104")):  # not the case's owner
        r = api.post(url, user, body)
        assert r.status_code == 404, user.role
        assert ID not in r.get_data(as_text=True)
    other = api.case(officer, petitioners=[{"name": "外人", "id_number": "510104200001010011"}])
    r = api.post(f"/api/cases/{cid}/petitioners/{other['petitioners'][0]['id']}/reveal", officer, body)
    assert r.status_code == 404  # a petitioner of another case
    for bad in ({"reason": "x" * 600}, {}, {"reason": "需要", "fields": ["address"]},
                {"reason": "需要", "fields": []}):
        assert api.post(url, officer, bad).status_code == 422
    events = api.get(f"/api/cases/{cid}/timeline", officer).get_json()["events"]
    assert "pii.revealed" not in {e["type"] for e in events}


def test_search_by_number_finds_only_cases_where_numbers_may_be_revealed(api, officer, case):
    other_county = api.user("case_officer", "510105")
    theirs = api.case(other_county, region_code="510105", petitioners=[
        {"name": "张三", "id_number": ID, "phone": PHONE}])
    admin = api.user("admin")

    def found(user, **query):
        r = api.post("/api/petitioners/search", user, {**query, "reason": "来访登记核对"})
        assert r.status_code == 200, r.get_json()
        return sorted(p["case_id"] for p in r.get_json())

    assert found(officer, id_number=ID) == [case["id"]]
    assert found(other_county, id_number=ID) == [theirs["id"]]
    assert found(admin, id_number=ID) == sorted([case["id"], theirs["id"]])
    assert found(api.user("lead_official"), id_number=ID) == []  # owns no case
    assert found(officer, id_number=ID2.lower()) == [case["id"]]  # x or X
    assert found(officer, phone="+86" + PHONE) == [case["id"]]
    assert found(officer, phone="86" + PHONE2) == [case["id"]]
    assert found(officer, phone="13700000000") == []
    why = {"reason": "核对"}
    for bad in ({}, why, {"id_number": ID, "phone": PHONE, **why}, {"id_number": "123", **why},
                {"name": "张三", **why}, {"id_number": ID}, {"id_number": ID, "reason": "x"}):
        assert api.post("/api/petitioners/search", officer, bad).status_code == 422, bad


def test_key_rotation_keeps_numbers_readable_and_searchable(api, app, officer, case, database_url,
                                                             tmp_path):
    new_key = Fernet.generate_key().decode()
    # A respondent's phone is encrypted by another area: the rotation reaches it too.
    r = api.post(f"/api/cases/{case['id']}/respondents", officer,
                 {"name": "某物业公司", "unit": "某物业公司", "phone": "13912345678"})
    assert r.status_code == 201, r.get_json()
    before = raw_database_text(app)
    rotated = create_app({"MEDIATION_DATABASE_URL": database_url, "MEDIATION_SECRET_KEY": SECRET,
                          "MEDIATION_PII_KEY": f"{new_key},{PII_KEY}",
                          "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    with rotated.app_context():
        from mediation.users import User

        me = db.session.get(User, officer.id)
        # with the new key prepended, old numbers still decrypt and are still found
        assert [p.case_id for p in commands.find_petitioners(me, "id_number", ID, "核对")] == [case["id"]]
        result = rotated.test_cli_runner().invoke(args=["pii", "rotate"])
        assert result.exit_code == 0, result.output
        assert "re-encrypted 2 petitioner record(s)" in result.output
        db.session.remove()
        me = db.session.get(User, officer.id)
        shown = commands.reveal_pii(me, case["id"], case["petitioners"][0]["id"],
                                    ["id_number", "phone"], "轮换后核对")
        assert (shown["id_number"], shown["phone"]) == (ID, PHONE)
        assert [p.case_id for p in commands.find_petitioners(me, "phone", PHONE2, "核对")] == [case["id"]]
        enc = db.session.execute(sa.text(
            "SELECT id_number_enc FROM petitioners WHERE name = '张三'")).scalar_one()
        assert Fernet(new_key).decrypt(enc.encode()).decode() == ID  # under the new key now
        with pytest.raises(Exception):  # noqa: B017 - any failure: the old key alone can't read it
            Fernet(PII_KEY).decrypt(enc.encode())
        assert "re-encrypted 1 value(s) of case_respondents.phone_enc" in result.output
        phone = db.session.execute(sa.text("SELECT phone_enc FROM case_respondents")).scalar_one()
        assert Fernet(new_key).decrypt(phone.encode()).decode() == "13912345678"
        with pytest.raises(Exception):  # noqa: B017 - the respondent's phone is off the old key too
            Fernet(PII_KEY).decrypt(phone.encode())
        db.session.remove()
    after = raw_database_text(app)
    assert after != before
    assert ID not in after and PHONE not in after

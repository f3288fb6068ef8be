"""Words, not codes (issue 15 item 2): region names from the shipped GB/T 2260 table, …"""

from __future__ import annotations

from mediation.regions import region_choices, region_name, region_words


def test_a_county_is_named_with_its_city_and_the_code_kept_for_hover(app):
    found = region_name("510104")
    assert (found.short, found.full) == ("成都市锦江区", "四川省成都市锦江区")
    assert region_words("5101") == "四川省成都市" and region_words("51") == "四川省"
    # 直辖市 and 省直辖县级 counties sit right under the province
    assert region_words("110101") == "北京市东城区" and region_words("429004") == "湖北省仙桃市"
    assert region_words(None) == "全国"
    with app.test_request_context():
        html = str(app.jinja_env.from_string("{{ '510104'|region }}").render())
    assert "成都市锦江区" in html and 'title="510104 四川省成都市锦江区"' in html


def test_an_abolished_code_keeps_its_name_and_an_unknown_one_is_said_to_be_unknown(app):
    old = region_name("130521")
    assert old.abolished and old.short == "邢台市邢台县"
    assert region_name("519999") is None and region_words("519999") == "519999"
    with app.test_request_context():
        html = str(app.jinja_env.from_string("{{ '519999'|region }}").render())
    assert "未知区划" in html


def test_the_picker_lists_the_jurisdictions_divisions_by_name():
    chengdu = dict(region_choices("510100"))
    assert chengdu["510104"] == "四川省成都市锦江区" and all(c.startswith("5101") for c in chengdu)
    assert "130521" not in dict(region_choices("13"))  # abolished codes are not offered

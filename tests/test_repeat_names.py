"""The repeat check's name comparison: the batch sieve over a county's stored names keeps
every name that the pairwise rule (`_name_match`) takes, thresholds included."""

from __future__ import annotations

import itertools

from mediation.cases.petitions import _name_match, _plausible

# Equal names, width and space variants, the interpunct, same-sound characters, a name
# exactly at the edit-distance threshold (张三 / 张三丰: 80) and at the pinyin threshold
# (张健 / 张京: "zhang jian" / "zhang jing", 90), names just under, and empty ones.
NAMES = ["王建国", "王健国", "汪建国", "王建", "王建国强", "张三", "张三丰", "章三", "张山", "张健",
         "张京", "欧阳娜娜", "欧阳纳", "李明", "李 明", "李铭", "黎明", "买买提·艾力", "买买提・艾力",
         "ＡＢＣ", "abc", "赵四", "刘洋", "柳杨", "", " "]


def test_the_sieve_keeps_every_pair_the_rule_matches_and_the_rule_decides():
    matched = 0
    for query in NAMES:
        kept = set(_plausible([query], NAMES))
        for i, stored in enumerate(NAMES):
            if _name_match(query, stored):
                matched += 1
                assert i in kept, (query, stored)
    assert matched > len(NAMES)  # the list exercises the rule, not only equal names
    assert _plausible(["王建国"], ["赵四", "王建国", "张健"]) == [1]
    assert _plausible(["张健"], ["张京"]) == [0]  # pinyin ratio exactly at its threshold
    assert _plausible(["张三"], ["张三丰"]) == [0]  # name ratio exactly at its threshold
    assert _plausible(["", " "], NAMES) == []
    assert _plausible(["王建国"], []) == []


def test_several_incoming_names_take_the_union():
    for a, b in itertools.combinations(["王建国", "张三", "欧阳娜娜"], 2):
        assert set(_plausible([a, b], NAMES)) == set(_plausible([a], NAMES)) | set(_plausible([b], NAMES))

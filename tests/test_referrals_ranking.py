"""Routing rules, eligibility and ranking: pure functions, no database."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from mediation.config import ConfigError
from referrals import rules as rules_mod
from referrals.ranking import CaseFacts, ProviderFacts, ineligibility, rank, region_distance

NOW = dt.datetime(2025, 6, 1, 9, 0, tzinfo=dt.UTC)
RULES = rules_mod.load(rules_mod.DEFAULT_PATH)
DEFAULT_DOC = json.loads(rules_mod.DEFAULT_PATH.read_text(encoding="utf-8"))


def case(**kw) -> CaseFacts:
    base = dict(case_id=1, region_code="510104", fields=("land_demolition",),
                groups=frozenset({"worker"}), parties=frozenset({"张三", "区自然资源局"}))
    base.update(kw)
    return CaseFacts(**base)


def provider(pid: int = 1, **kw) -> ProviderFacts:
    base = dict(id=pid, name=f"p{pid}", kind="mediator", region_prefixes=("510104",), capacity=3,
                load=0, mediation_type="people")
    base.update(kw)
    return ProviderFacts(**base)


def codes(c: CaseFacts, p: ProviderFacts, need: str = "economic_compensation", history=None):
    return [w.code for w in ineligibility(c, p, RULES.rule(need), NOW.date(), history)]


# --- the rules file --------------------------------------------------------------------------

def test_default_rules_follow_the_domain_table():
    assert RULES.rule("economic_compensation").kinds == ("mediator",)
    assert RULES.rule("legal_opinion").kinds == ("lawyer",)
    assert RULES.rule("counselling").kinds == ("counsellor",)
    assert set(RULES.rule("group_support").kinds) == {
        "trade_union", "womens_federation", "disabled_persons_federation"}
    assert set(RULES.rule("neutral_participation").kinds) == {"deputy", "cppcc_member", "worthy"}
    assert RULES.rule("group_support").kinds_for({"woman"}) == ("womens_federation",)
    assert RULES.response_hours_for("lawyer") == 72
    assert RULES.response_hours_for("trade_union") == 48


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["needs"]["legal_opinion"].update(kinds=["lawyr"]), "unknown provider kind 'lawyr'"),
    (lambda d: d["needs"].update(astrology={"kinds": ["mediator"]}), "unknown need 'astrology'"),
    (lambda d: d["needs"].pop("counselling"), "no rule for counselling"),
    (lambda d: d["needs"]["economic_compensation"].update(mediation_types=["friendly"]),
     "unknown mediation type 'friendly'"),
    (lambda d: d["needs"]["group_support"]["kinds_by_group"].update(aliens=["trade_union"]),
     "unknown group 'aliens'"),
    (lambda d: d["needs"]["group_support"]["kinds_by_group"].update(worker=["lawyer"]),
     "unknown provider kind of this need 'lawyer'"),
    (lambda d: d["needs"]["legal_opinion"].update(speciality="sometimes"), "speciality"),
    (lambda d: d["response_hours"].update(plumber=3), "unknown provider kind 'plumber'"),
    (lambda d: d["response_hours"].update(default=0), "positive number of hours"),
    (lambda d: d.update(max_failed_offers=0), "max_failed_offers"),
    (lambda d: d["weights"].update(charm=1), "unknown weight"),
    (lambda d: d.update(colour="blue"), "unknown keys"),
])
def test_bad_rules_are_refused_with_a_message_naming_the_problem(mutate, message):
    doc = copy.deepcopy(DEFAULT_DOC)
    mutate(doc)
    with pytest.raises(ConfigError, match="routing rules") as err:
        rules_mod.parse(doc, "rules.json")
    assert message in str(err.value)


def test_app_does_not_start_with_an_unknown_kind(tmp_path: Path):
    from mediation import create_app

    doc = copy.deepcopy(DEFAULT_DOC)
    doc["needs"]["counselling"]["kinds"] = ["therapist"]
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"needs\.counselling\.kinds: unknown provider kind 'therapist'"):
        create_app({"INSTANCE_PATH": str(tmp_path), "MEDIATION_ROUTING_RULES": str(bad)})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        create_app({"INSTANCE_PATH": str(tmp_path), "MEDIATION_ROUTING_RULES": str(broken)})


def test_instance_folder_rules_replace_the_packaged_ones(tmp_path: Path):
    assert rules_mod.rules_path(None, tmp_path) == rules_mod.DEFAULT_PATH
    (tmp_path / "routing_rules.json").write_text("{}", encoding="utf-8")
    assert rules_mod.rules_path(None, tmp_path) == tmp_path / "routing_rules.json"
    assert rules_mod.rules_path("/etc/x.json", tmp_path) == Path("/etc/x.json")


# --- eligibility: every reason ---------------------------------------------------------------

def test_an_eligible_provider_has_no_reason_against_it():
    assert codes(case(), provider()) == []


@pytest.mark.parametrize("facts, need, expected", [
    (dict(active=False), "economic_compensation", "inactive"),
    (dict(kind="lawyer", mediation_type=None), "economic_compensation", "kind"),
    (dict(kind="womens_federation", mediation_type=None), "group_support", "group"),
    (dict(region_prefixes=("510105",)), "economic_compensation", "region"),
    (dict(region_prefixes=("5102",)), "economic_compensation", "region"),
    (dict(kind="lawyer", mediation_type=None, specialities=("healthcare",)), "legal_opinion",
     "speciality"),
    (dict(available=False), "economic_compensation", "unavailable"),
    (dict(away_until=NOW.date()), "economic_compensation", "unavailable"),
    (dict(load=3, capacity=3), "economic_compensation", "capacity"),
    (dict(capacity=0), "economic_compensation", "capacity"),
    (dict(conflicts=("区 自然资源局",)), "economic_compensation", "conflict"),
])
def test_each_eligibility_reason(facts, need, expected):
    assert codes(case(), provider(**facts), need) == [expected]


def test_history_of_this_need_excludes_decliners_and_those_who_let_it_expire():
    assert codes(case(), provider(7), history={7: "declined"}) == ["declined_before"]
    assert codes(case(), provider(7), history={7: "expired"}) == ["expired_before"]
    assert codes(case(), provider(7), history={8: "declined"}) == []


def test_away_until_yesterday_is_available_again_and_every_reason_is_listed():
    assert codes(case(), provider(away_until=NOW.date() - dt.timedelta(days=1))) == []
    many = codes(case(), provider(kind="lawyer", region_prefixes=("52",), load=5, capacity=5,
                                  available=False))
    assert many == ["kind", "region", "unavailable", "capacity"]


def test_required_speciality_only_when_the_case_has_fields():
    lawyer = provider(kind="lawyer", mediation_type=None, specialities=())
    assert codes(case(fields=()), lawyer, "legal_opinion") == []
    assert codes(case(), lawyer, "legal_opinion") == ["speciality"]
    assert codes(case(), provider(kind="lawyer", specialities=("land_demolition",)),
                 "legal_opinion") == []


def test_region_distance_prefers_the_nearer_level():
    c = case()
    assert region_distance(c, provider(region_prefixes=("510104",))) == (0, "510104")
    assert region_distance(c, provider(region_prefixes=("5101",))) == (1, "5101")
    assert region_distance(c, provider(region_prefixes=("51", "5101"))) == (1, "5101")
    assert region_distance(c, provider(region_prefixes=("51",))) == (2, "51")
    # A city-level case is not covered by a county provider.
    assert region_distance(case(region_code="510100"), provider(region_prefixes=("510104",))) is None


# --- ranking ---------------------------------------------------------------------------------

def ranked_ids(c, providers, need="economic_compensation", now=NOW, history=None):
    ranked, _ = rank(c, providers, RULES.rule(need), RULES.weights, now, history)
    return [x.provider.id for x in ranked]


def test_nearer_region_beats_everything_else():
    far = provider(1, region_prefixes=("51",), specialities=("land_demolition",),
                   mediation_type="administrative")
    near = provider(2, region_prefixes=("510104",), load=2)
    middle = provider(3, region_prefixes=("5101",))
    assert ranked_ids(case(), [far, near, middle]) == [2, 3, 1]


def test_score_parts_order_candidates_of_one_level():
    base = provider(1)
    speciality = provider(2, specialities=("land_demolition",))
    preferred_type = provider(3, mediation_type="administrative")  # first for land cases
    lighter = provider(4, capacity=10)
    busy = provider(5, load=2)
    order = ranked_ids(case(), [base, speciality, preferred_type, lighter, busy])
    assert order[0] == 2 and order[-1] == 5
    assert order.index(3) < order.index(1)


def test_acceptance_rate_and_idle_time_count():
    reliable = provider(1, offers_decided=10, offers_accepted=10)
    flaky = provider(2, offers_decided=10, offers_accepted=0)
    assert ranked_ids(case(), [flaky, reliable]) == [1, 2]
    rested = provider(3, last_offered_at=NOW - dt.timedelta(days=10))
    just_offered = provider(4, last_offered_at=NOW - dt.timedelta(minutes=5))
    assert ranked_ids(case(), [just_offered, rested]) == [3, 4]


def test_reasons_explain_the_choice():
    ranked, excluded = rank(case(), [provider(1, specialities=("land_demolition",)),
                                     provider(2, load=3)],
                            RULES.rule("economic_compensation"), RULES.weights, NOW)
    reasons = ranked[0].reasons
    assert reasons["rank"] == 1
    assert reasons["region"] == {"distance": 0, "served": "510104", "level": "same level"}
    assert reasons["speciality"]["matched"] == ["land_demolition"]
    assert reasons["load"] == {"load": 0, "capacity": 3, "ratio": 0.0}
    assert reasons["acceptance"]["rate"] == 0.5  # no history counts as even odds
    assert reasons["idle"] == {"hours_since_last_offer": None}
    assert set(reasons["score_parts"]) == {"speciality", "mediation_type", "load", "acceptance", "idle"}
    assert [w.code for w in excluded[2]] == ["capacity"]


def test_ranking_is_deterministic_and_a_pure_function():
    providers = [provider(i) for i in range(1, 30)]
    first = ranked_ids(case(), providers)
    assert ranked_ids(case(), list(reversed(providers))) == first
    assert ranked_ids(case(), providers) == first


def test_exact_ties_are_broken_fairly_across_cases():
    """Identical providers: each case orders them the same way every time, but over many
    cases each provider comes first about equally often (not always the lowest id)."""
    providers = [provider(i) for i in range(1, 6)]
    firsts = Counter(ranked_ids(case(case_id=cid), providers)[0] for cid in range(1, 1001))
    assert set(firsts) == {1, 2, 3, 4, 5}
    assert all(120 <= n <= 280 for n in firsts.values()), firsts
    assert ranked_ids(case(case_id=42), providers) == ranked_ids(case(case_id=42), providers)


def test_group_support_goes_to_the_organisation_of_the_group():
    union = provider(1, kind="trade_union", mediation_type=None)
    women = provider(2, kind="womens_federation", mediation_type=None)
    disabled = provider(3, kind="disabled_persons_federation", mediation_type=None)
    everyone = [union, women, disabled]
    assert ranked_ids(case(groups=frozenset({"worker"})), everyone, "group_support") == [1]
    assert sorted(ranked_ids(case(groups=frozenset({"woman", "disabled"})), everyone,
                             "group_support")) == [2, 3]

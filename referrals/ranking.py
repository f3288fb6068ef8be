"""Eligibility and ranking as pure functions of the case, the providers and the time.

Nothing here touches the database: `referrals.routing` gathers the facts and stores what
these functions decide, so the choice of a provider can be tested, explained ("why this
one?") and benchmarked on its own.

Order of candidates: nearer region first (county over city over province: the plan asks
for problems to be solved where they arise), then the weighted score of speciality match,
preferred mediation type, spare capacity, recent acceptance rate and time since the last
offer, then a tie-break that is a hash of (case, need, provider): deterministic for one
case, yet different from case to case, so exact ties do not always favour the same
provider (the lowest id would get every tied case).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from mediation.clock import as_utc, local_date
from referrals.models import ProviderKind
from referrals.rules import NeedRule

# Hours without an offer after which a provider counts as fully rested (one week).
IDLE_SATURATION_HOURS = 168.0
LEVEL_BY_DISTANCE = {0: "same level", 1: "one level up", 2: "two levels up"}


@dataclass(frozen=True)
class CaseFacts:
    case_id: int
    region_code: str  # six digits
    fields: tuple[str, ...] = ()  # livelihood fields
    groups: frozenset[str] = frozenset()  # petitioners' groups
    parties: frozenset[str] = frozenset()  # normalised names of petitioners and departments


@dataclass(frozen=True)
class ProviderFacts:
    id: int
    name: str
    kind: str
    region_prefixes: tuple[str, ...]
    capacity: int
    load: int
    mediation_type: str | None = None
    specialities: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    available: bool = True
    away_until: dt.date | None = None
    active: bool = True
    last_offered_at: dt.datetime | None = None
    offers_decided: int = 0  # offers answered (accepted, declined, expired) in the window
    offers_accepted: int = 0


@dataclass(frozen=True)
class Ineligible:
    code: str
    message: str


PART_NAMES = ("speciality", "mediation_type", "load", "acceptance", "idle")


class Candidate:
    """An eligible provider, where it ranks, and (worked out when asked) why: the score's
    parts, the facts that explain them and the tie-break are built on first use, since a
    ranking of thousands reads them for a few."""

    __slots__ = ("provider", "distance", "served", "score", "rank", "_values", "_why",
                 "_tie_of", "_tie_break", "_parts", "_facts", "_reasons")

    def __init__(self, provider: ProviderFacts, distance: int, served: str, score: float,
                 values: tuple[float, ...], why: tuple[Any, ...], tie_of: tuple[int, str]) -> None:
        self.provider = provider
        self.distance = distance
        self.served = served
        self.score = score
        self.rank = 0
        self._values = values  # the parts, in PART_NAMES order
        # (fields matched, speciality mode, preferred types, place, load ratio, idle hours)
        self._why = why
        self._tie_of = tie_of  # (case id, need)
        self._tie_break: str | None = None
        self._parts: dict[str, float] | None = None
        self._facts: dict[str, Any] | None = None
        self._reasons: dict[str, Any] | None = None

    @property
    def tie_break(self) -> str:
        if self._tie_break is None:
            self._tie_break = _tie_break_of(self._tie_of[0], self._tie_of[1], self.provider.id)
        return self._tie_break

    @property
    def parts(self) -> dict[str, float]:
        """The score's parts, each in [0, 1]."""
        if self._parts is None:
            self._parts = dict(zip(PART_NAMES, self._values, strict=True))
        return self._parts

    @property
    def facts(self) -> dict[str, Any]:
        """The facts that explain the parts."""
        if self._facts is None:
            matched, mode, preferred, place, ratio, idle_hours = self._why
            self._facts = {"matched": sorted(matched), "speciality_mode": mode,
                           "preferred": preferred, "place": place, "load_ratio": ratio,
                           "idle_hours": idle_hours}
        return self._facts

    @property
    def reasons(self) -> dict[str, Any]:
        """Each factor of the choice with its value: region, speciality, mediation type,
        load, acceptance, idle time, the score's parts and the rank."""
        if self._reasons is None:
            f = self.facts
            reasons: dict[str, Any] = {
                "rank": self.rank,
                "region": {"distance": self.distance, "served": self.served,
                           "level": LEVEL_BY_DISTANCE.get(self.distance,
                                                          f"{self.distance} levels up")},
                "speciality": {"matched": f["matched"], "mode": f["speciality_mode"]},
                "load": {"load": self.provider.load, "capacity": self.provider.capacity,
                         "ratio": round(f["load_ratio"], 4)},
                "acceptance": {"decided": self.provider.offers_decided,
                               "accepted": self.provider.offers_accepted,
                               "rate": round(self.parts["acceptance"], 4)},
                "idle": {"hours_since_last_offer": None if f["idle_hours"] is None
                         else round(f["idle_hours"], 2)},
            }
            if f["preferred"] is not None:
                reasons["mediation_type"] = {"type": self.provider.mediation_type,
                                             "preferred": list(f["preferred"]),
                                             "place": f["place"]}
            reasons["score_parts"] = {k: round(v, 4) for k, v in self.parts.items()}
            self._reasons = reasons
        return self._reasons

    def as_dict(self) -> dict[str, Any]:
        return {"provider_id": self.provider.id, "name": self.provider.name,
                "kind": self.provider.kind, "score": self.score, "reasons": self.reasons}


def idleness(last: dt.datetime | None, now: dt.datetime) -> tuple[float | None, float]:
    """Hours since a provider's last offer (None: never offered) and its idleness, 0..1."""
    if last is None:
        return None, 1.0
    if last.tzinfo is None:  # naive (SQLite): UTC already
        last = as_utc(last)
    hours = max((now - last).total_seconds() / 3600, 0.0)
    return hours, min(hours / IDLE_SATURATION_HOURS, 1.0)


def normalise_party(name: str) -> str:
    """Compare names of parties and organisations without case or spacing differences."""
    return "".join((name or "").split()).casefold()


def case_prefixes(region_code: str) -> list[str]:
    """Prefixes of a six-digit code that a provider may serve: '51', '5101', '510104'."""
    from mediation.regions import region_prefix

    own = region_prefix(region_code)
    return [own[:n] for n in (2, 4, 6) if n <= len(own)]


def region_distance(case: CaseFacts, provider: ProviderFacts) -> tuple[int, str] | None:
    """Levels between the case and the nearest region the provider serves (0: same)."""
    return _distance(case_prefixes(case.region_code)[-1], provider)


def _distance(own: str, provider: ProviderFacts) -> tuple[int, str] | None:
    best = None
    for p in provider.region_prefixes:
        if own.startswith(p) and (best is None or len(p) > len(best)):
            best = p
    return None if best is None else ((len(own) - len(best)) // 2, best)


class _Context:
    """What every provider is compared with, worked out once per ranking."""

    def __init__(self, case: CaseFacts, rule: NeedRule, now: dt.datetime) -> None:
        self.case = case
        self.rule = rule
        self.now = now
        self.today = local_date(now)
        self.own = case_prefixes(case.region_code)[-1]
        self.kinds_for_groups = set(rule.kinds_for(set(case.groups)))
        self.fields = set(case.fields)
        self.preferred = (rule.preferred_types(list(case.fields))
                          if rule.mediation_types else ())
        self.place = {t: i for i, t in enumerate(self.preferred)}


def _ineligibility(ctx: _Context, provider: ProviderFacts,
                   history: dict[int, str] | None) -> list[Ineligible]:
    case, rule = ctx.case, ctx.rule
    out: list[Ineligible] = []
    if not provider.active:
        out.append(Ineligible("inactive", "no longer active in the directory"))
    if provider.kind not in rule.kinds:
        out.append(Ineligible("kind", f"a {provider.kind} does not take {rule.need} referrals"))
    elif provider.kind not in ctx.kinds_for_groups:
        groups = ", ".join(sorted(case.groups)) or "none"
        out.append(Ineligible("group", f"a {provider.kind} does not serve the case's groups "
                                       f"({groups})"))
    if _distance(ctx.own, provider) is None:
        out.append(Ineligible("region", f"serves no region covering {case.region_code}"))
    if rule.speciality == "required" and ctx.fields and not ctx.fields.intersection(
            provider.specialities):
        out.append(Ineligible("speciality", f"has none of the case's fields "
                                            f"({', '.join(case.fields)})"))
    if not provider.available:
        out.append(Ineligible("unavailable", "marked unavailable"))
    elif provider.away_until is not None and provider.away_until >= ctx.today:
        out.append(Ineligible("unavailable", f"away until {provider.away_until.isoformat()}"))
    if provider.load >= provider.capacity:
        out.append(Ineligible("capacity", f"at capacity ({provider.load} of {provider.capacity})"))
    if provider.conflicts and case.parties:
        conflicts = sorted({normalise_party(c) for c in provider.conflicts} & case.parties)
        if conflicts:
            out.append(Ineligible("conflict", f"declared a conflict of interest with "
                                              f"{', '.join(conflicts)}"))
    before = history.get(provider.id) if history else None
    if before == "declined":
        out.append(Ineligible("declined_before", "declined this need on this case before"))
    elif before == "expired":
        out.append(Ineligible("expired_before", "let an offer of this need on this case expire"))
    return out


def ineligibility(case: CaseFacts, provider: ProviderFacts, rule: NeedRule, today: dt.date,
                  history: dict[int, str] | None = None) -> list[Ineligible]:
    """Every reason the provider may not take this need of this case (empty: eligible).

    `history` maps provider ids to "declined" or "expired" for earlier offers of this need
    on this case.
    """
    now = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    return _ineligibility(_Context(case, rule, now), provider, history)


def _parts(ctx: _Context, provider: ProviderFacts) -> tuple[dict[str, float], dict[str, Any]]:
    """The score's parts, each in [0, 1], and the facts that explain them."""
    matched = sorted(ctx.fields.intersection(provider.specialities))
    place = None
    mediation = 0.0
    preferred = None
    if provider.kind == ProviderKind.MEDIATOR and ctx.preferred:
        preferred = ctx.preferred
        index = ctx.place.get(provider.mediation_type)
        if index is not None:
            place = index + 1
            mediation = 1.0 - index / len(ctx.preferred)
    ratio = provider.load / provider.capacity if provider.capacity else 1.0
    idle_hours, idle = idleness(provider.last_offered_at, ctx.now)
    parts = {
        "speciality": 1.0 if matched and ctx.rule.speciality != "ignored" else 0.0,
        "mediation_type": mediation,
        "load": 1.0 - min(ratio, 1.0),
        # Laplace smoothing: a provider with no history counts as 50%, not 0% or 100%.
        "acceptance": (provider.offers_accepted + 1) / (provider.offers_decided + 2),
        "idle": idle,
    }
    facts = {"matched": matched, "speciality_mode": ctx.rule.speciality, "preferred": preferred,
             "place": place, "load_ratio": ratio, "idle_hours": idle_hours}
    return parts, facts


def score(case: CaseFacts, provider: ProviderFacts, rule: NeedRule, weights: dict[str, float],
          now: dt.datetime) -> float:
    """The weighted score of a provider for this need of this case (higher is better)."""
    parts, _ = _parts(_Context(case, rule, now), provider)
    return round(sum(weights.get(k, 0.0) * v for k, v in parts.items()), 6)


def _tie_break_of(case_id: int, need: str, provider_id: int) -> str:
    return hashlib.blake2b(f"{case_id}:{need}:{provider_id}".encode(), digest_size=8).hexdigest()


def rank(case: CaseFacts, providers: list[ProviderFacts], rule: NeedRule,
         weights: dict[str, float], now: dt.datetime,
         history: dict[int, str] | None = None) -> tuple[list[Candidate], dict[int, list[Ineligible]]]:
    """(eligible candidates best first, each with its reasons; the others with theirs).

    A provider that passes every check at a glance is scored at once (the parts as `_parts`
    works them out); any other is asked `_ineligibility` for its reasons (which may still
    find none). The tie-break is worked out only where (distance, score) tie."""
    ctx = _Context(case, rule, now)
    names = tuple(weights)
    in_order = names == PART_NAMES
    w_spec, w_type, w_load, w_acc, w_idle = (weights.get(k, 0.0) for k in PART_NAMES)
    ranked: list[Candidate] = []
    excluded: dict[int, list[Ineligible]] = {}
    own, today, kinds, fields = ctx.own, ctx.today, ctx.kinds_for_groups, ctx.fields
    mode = rule.speciality
    speciality_required = mode == "required" and bool(fields)
    speciality_counts = mode != "ignored"
    preferred, place_of, n_preferred = ctx.preferred, ctx.place, len(ctx.preferred)
    parties = case.parties
    moment = ctx.now
    tie_of = (case.case_id, rule.need)
    for p in providers:
        found = _distance(own, p)
        if (found is None or not p.active or p.kind not in kinds or not p.available
                or (p.away_until is not None and p.away_until >= today)
                or p.load >= p.capacity
                or (speciality_required and fields.isdisjoint(p.specialities))
                or (p.conflicts and parties)
                or (history and p.id in history)):
            why_not = _ineligibility(ctx, p, history)
            if why_not:
                excluded[p.id] = why_not
                continue
        matched = fields.intersection(p.specialities) if fields and p.specialities else ()
        place = None
        mediation = 0.0
        if p.kind == ProviderKind.MEDIATOR and preferred:
            index = place_of.get(p.mediation_type)
            if index is not None:
                place = index + 1
                mediation = 1.0 - index / n_preferred
        ratio = p.load / p.capacity if p.capacity else 1.0
        idle_hours, idle = idleness(p.last_offered_at, moment)
        values = (1.0 if matched and speciality_counts else 0.0, mediation,
                  1.0 - min(ratio, 1.0), (p.offers_accepted + 1) / (p.offers_decided + 2), idle)
        if in_order:  # the same additions, in the same order, as the sum below
            total = round(w_spec * values[0] + w_type * values[1] + w_load * values[2]
                          + w_acc * values[3] + w_idle * values[4], 6)
        else:
            parts = dict(zip(PART_NAMES, values, strict=True))
            total = round(sum(weights[k] * parts[k] for k in names), 6)
        distance, served = found  # type: ignore[misc]  # eligible: covered
        ranked.append(Candidate(p, distance, served, total, values,
                                (matched, mode, preferred if p.kind == ProviderKind.MEDIATOR
                                 and preferred else None, place, ratio, idle_hours), tie_of))
    ranked.sort(key=lambda c: (c.distance, -c.score, c.provider.id))
    start, n = 0, len(ranked)
    while start < n:  # runs of equal (distance, score): by tie-break, then id
        first = ranked[start]
        end = start + 1
        while end < n and ranked[end].distance == first.distance and ranked[end].score == first.score:
            end += 1
        if end - start > 1:
            ranked[start:end] = sorted(ranked[start:end], key=lambda c: (c.tie_break, c.provider.id))
        start = end
    for place_, c in enumerate(ranked, 1):
        c.rank = place_
    return ranked, excluded

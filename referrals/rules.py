"""Routing rules as data: which provider kinds serve each need, read from a JSON file.

The file (default: `referrals/routing_rules.json`; replace it with `MEDIATION_ROUTING_RULES`
or a `routing_rules.json` in the instance folder) is validated when the app starts: an
unknown need, kind, mediation type, group or field stops the app with a message naming
the file and the key.

Keys, per need under `needs`:
- `kinds`: provider kinds that may take the need (at least one);
- `kinds_by_group`: narrows `kinds` to those serving the case's petitioner groups
  (a worker's case goes to the trade union, not to the women's federation);
- `mediation_types`: mediators' types in order of preference (ranking, not a filter);
- `mediation_types_by_field`: the same per livelihood field of the case, tried first;
- `speciality`: `required` (a provider must share one of the case's livelihood fields),
  `preferred` (a match ranks higher) or `ignored`.
Top level: `response_hours` (per provider kind, with `default`), `max_failed_offers`
(declined or expired offers of one need before the case is escalated to its officer),
`acceptance_window_days` (how far back the acceptance rate looks), `weights` (ranking).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediation.cases.models import Group, LivelihoodField, Need
from mediation.settings import ConfigurationError
from referrals.models import MediationType, ProviderKind

DEFAULT_PATH = Path(__file__).with_name("routing_rules.json")
SPECIALITY_MODES = ("required", "preferred", "ignored")
WEIGHT_NAMES = ("speciality", "mediation_type", "load", "acceptance", "idle")


@dataclass(frozen=True)
class NeedRule:
    need: str
    kinds: tuple[str, ...]
    kinds_by_group: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mediation_types: tuple[str, ...] = ()
    mediation_types_by_field: dict[str, tuple[str, ...]] = field(default_factory=dict)
    speciality: str = "ignored"

    def kinds_for(self, groups: set[str]) -> tuple[str, ...]:
        """The kinds that may take this need on a case whose petitioners are in `groups`."""
        if not self.kinds_by_group:
            return self.kinds
        narrowed = {k for g in groups for k in self.kinds_by_group.get(g, ())}
        return tuple(k for k in self.kinds if k in narrowed)

    def preferred_types(self, fields: list[str]) -> tuple[str, ...]:
        """Mediation types in order of preference for a case in these livelihood fields."""
        ordered: list[str] = []
        for f in fields:
            ordered.extend(self.mediation_types_by_field.get(f, ()))
        ordered.extend(self.mediation_types)
        return tuple(dict.fromkeys(ordered))


@dataclass(frozen=True)
class RoutingRules:
    needs: dict[str, NeedRule]
    response_hours: dict[str, float]
    max_failed_offers: int
    acceptance_window_days: int
    weights: dict[str, float]
    source: str

    def rule(self, need: str) -> NeedRule:
        return self.needs[need]

    def response_hours_for(self, kind: str) -> float:
        return self.response_hours.get(kind, self.response_hours["default"])


def _fail(source: str, where: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"routing rules {source}: {where}: {message}")


def _names(values: Any, known: set[str], source: str, where: str, what: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _fail(source, where, f"must be a list of {what} names")
    for v in values:
        if v not in known:
            raise _fail(source, where, f"unknown {what} {v!r} (known: {', '.join(sorted(known))})")
    return tuple(values)


def parse(data: Any, source: str = "<data>") -> RoutingRules:
    """Validate the rules document; raise ConfigurationError naming the first problem."""
    kinds = {k.value for k in ProviderKind}
    types = {t.value for t in MediationType}
    needs_known = {n.value for n in Need}
    groups = {g.value for g in Group}
    fields_known = {f.value for f in LivelihoodField}
    if not isinstance(data, dict):
        raise _fail(source, "top level", "must be a JSON object")
    unknown_top = set(data) - {"needs", "response_hours", "max_failed_offers",
                               "acceptance_window_days", "weights", "_comment"}
    if unknown_top:
        raise _fail(source, "top level", f"unknown keys {sorted(unknown_top)}")
    raw_needs = data.get("needs")
    if not isinstance(raw_needs, dict) or not raw_needs:
        raise _fail(source, "needs", "must map each need to its rule")
    rules: dict[str, NeedRule] = {}
    for need, raw in raw_needs.items():
        where = f"needs.{need}"
        if need not in needs_known:
            raise _fail(source, where, f"unknown need {need!r} (known: {', '.join(sorted(needs_known))})")
        if not isinstance(raw, dict):
            raise _fail(source, where, "must be an object")
        extra = set(raw) - {"kinds", "kinds_by_group", "mediation_types",
                            "mediation_types_by_field", "speciality"}
        if extra:
            raise _fail(source, where, f"unknown keys {sorted(extra)}")
        need_kinds = _names(raw.get("kinds"), kinds, source, f"{where}.kinds", "provider kind")
        if not need_kinds:
            raise _fail(source, f"{where}.kinds", "names no provider kind")
        by_group: dict[str, tuple[str, ...]] = {}
        for g, ks in (raw.get("kinds_by_group") or {}).items():
            if g not in groups:
                raise _fail(source, f"{where}.kinds_by_group", f"unknown group {g!r}")
            by_group[g] = _names(ks, set(need_kinds), source, f"{where}.kinds_by_group.{g}",
                                 "provider kind of this need")
        mtypes = _names(raw.get("mediation_types", []), types, source,
                        f"{where}.mediation_types", "mediation type")
        by_field: dict[str, tuple[str, ...]] = {}
        for f, ts in (raw.get("mediation_types_by_field") or {}).items():
            if f not in fields_known:
                raise _fail(source, f"{where}.mediation_types_by_field", f"unknown field {f!r}")
            by_field[f] = _names(ts, types, source, f"{where}.mediation_types_by_field.{f}",
                                 "mediation type")
        speciality = raw.get("speciality", "ignored")
        if speciality not in SPECIALITY_MODES:
            raise _fail(source, f"{where}.speciality", f"one of {', '.join(SPECIALITY_MODES)}")
        rules[need] = NeedRule(need, need_kinds, by_group, mtypes, by_field, speciality)
    missing = needs_known - set(rules)
    if missing:
        raise _fail(source, "needs", f"no rule for {', '.join(sorted(missing))}")

    hours = data.get("response_hours", {"default": 48})
    if not isinstance(hours, dict) or "default" not in hours:
        raise _fail(source, "response_hours", "must be an object with a 'default'")
    for k, v in hours.items():
        if k != "default" and k not in kinds:
            raise _fail(source, f"response_hours.{k}", f"unknown provider kind {k!r}")
        if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
            raise _fail(source, f"response_hours.{k}", "must be a positive number of hours")
    max_failed = data.get("max_failed_offers", 3)
    if not isinstance(max_failed, int) or isinstance(max_failed, bool) or max_failed < 1:
        raise _fail(source, "max_failed_offers", "must be a whole number of at least 1")
    window = data.get("acceptance_window_days", 90)
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise _fail(source, "acceptance_window_days", "must be a whole number of at least 1")
    weights = {name: 0.0 for name in WEIGHT_NAMES} | dict(data.get("weights") or {})
    for k, v in weights.items():
        if k not in WEIGHT_NAMES:
            raise _fail(source, f"weights.{k}", f"unknown weight (known: {', '.join(WEIGHT_NAMES)})")
        if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
            raise _fail(source, f"weights.{k}", "must be a number >= 0")
    return RoutingRules(rules, {k: float(v) for k, v in hours.items()}, max_failed, window,
                        {k: float(v) for k, v in weights.items()}, source)


def load(path: Path) -> RoutingRules:
    """Read and validate the rules file at `path`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"routing rules {path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"routing rules {path}: not valid JSON ({exc})") from exc
    return parse(data, str(path))


def rules_path(config_value: str | None, instance_path: Path) -> Path:
    """The file in force: the setting, else the instance folder's, else the packaged one."""
    if config_value:
        return Path(config_value)
    local = instance_path / "routing_rules.json"
    return local if local.exists() else DEFAULT_PATH

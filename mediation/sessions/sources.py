"""Where sessions learn about providers, without `mediation` importing `referrals`.

`referrals` registers one `ProviderSource` in the registry's `provider_sources` at start-up
(as it registers its case-access rule). With none registered, a case has no mediator and no
provider participants, so scheduling a session is refused (422).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class DirectoryEntry:
    """A provider of the directory, as a session invitation needs it."""

    id: int
    name: str
    kind: str
    active: bool
    user_ids: tuple[int, ...] = field(default=())
    # GB/T 2260 prefixes of the regions it serves: an invitation stays in the case's region.
    region_prefixes: tuple[str, ...] = field(default=())
    mediation_type: str | None = None  # a mediator's: people, administrative, industry, professional

    def serves(self, region_code: str) -> bool:
        return any(region_code.startswith(p) for p in self.region_prefixes)


class ProviderSource(Protocol):
    def accepted_users(self, case_id: int, kinds: tuple[str, ...] | None) -> set[int]:
        """Users acting for a provider (of these kinds; None: any) that holds an accepted
        referral on the case."""

    def directory_entry(self, provider_id: int) -> DirectoryEntry | None:
        """The provider with that id, or None."""

    # Optional: `mediating_provider(case_id, user_id) -> DirectoryEntry | None`, the mediator
    # provider through which the user holds an accepted referral on the case (the issuer of
    # its agreements: `numbering.issuer_of`).
    # Optional: `invitable(region_code) -> list[DirectoryEntry]`, the active deputies, CPPCC
    # members and worthies serving a region, for the scheduling form to offer (`invitable`);
    # `mediation_types(case_id, user_id) -> set[str]`, the mediation types (people,
    # administrative, …) of the providers the user acts for on the case through an accepted
    # referral (`mediation_types`: the consent rule at session start).


class _NoProviders:
    def accepted_users(self, case_id: int, kinds: tuple[str, ...] | None) -> set[int]:
        return set()

    def directory_entry(self, provider_id: int) -> DirectoryEntry | None:
        return None


MEDIATOR_KINDS = ("mediator",)
# Neutral parties invited from the directory (人大代表、政协委员、乡贤).
INVITED_KINDS = ("deputy", "cppcc_member", "worthy")


def source() -> ProviderSource:
    """The registered source (at most one area brings providers), else one with none."""
    from mediation.registry import registry

    found = registry().provider_sources.values()
    return found[0] if found else _NoProviders()


def mediator_users(case_id: int) -> set[int]:
    """Users of mediators holding an accepted referral on the case."""
    return source().accepted_users(case_id, MEDIATOR_KINDS)


def referral_users(case_id: int) -> set[int]:
    """Users of any provider holding an accepted referral on the case."""
    return source().accepted_users(case_id, None)


def invitable(region_code: str) -> list[DirectoryEntry]:
    """The directory's active deputies, CPPCC members and worthies serving the region (for
    the scheduling form); empty when the registered source cannot list them."""
    lister = getattr(source(), "invitable", None)
    return list(lister(region_code)) if lister is not None else []


def mediation_types(case_id: int, user_id: int) -> set[str]:
    """The mediation types the user acts under on the case (empty when the registered
    source cannot tell)."""
    finder = getattr(source(), "mediation_types", None)
    return set(finder(case_id, user_id)) if finder is not None else set()

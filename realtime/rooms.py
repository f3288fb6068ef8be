"""Room names. One place, so the relay and the handlers cannot drift apart.

`user:<id>`            a person's inbox: every connection of theirs joins it on connect
`case:<id>`            subscribers of a case who see its ordinary events
`case:<id>#<audience>` subscribers of a case admitted to a narrower audience (officials)
`region:<prefix>`      a supervisor's board: the events of every case in a GB/T 2260 prefix
"""

from __future__ import annotations

from mediation.events import PARTICIPANTS
from mediation.regions import region_prefix


def _with_audience(room: str, audience: str) -> str:
    return room if audience == PARTICIPANTS.name else f"{room}#{audience}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def case_room(case_id: int, audience: str = PARTICIPANTS.name) -> str:
    return _with_audience(f"case:{case_id}", audience)


def region_room(prefix: str, audience: str = PARTICIPANTS.name) -> str:
    return _with_audience(f"region:{prefix}", audience)


def region_prefixes(region_code: str) -> list[str]:
    """The province, city and county prefixes a six-digit code falls under."""
    own = region_prefix(region_code)
    return [own[:n] for n in (2, 4, 6) if n <= len(own)]

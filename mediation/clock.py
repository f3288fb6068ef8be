"""Now and today, in one place.

Moments are aware datetimes in UTC (`now()`), stored as such. Days — today, due dates,
signatures, printed dates, "as of" dates of the reports — are the service's local days:
calendar days in `MEDIATION_TIMEZONE` (Asia/Shanghai by default). A day D runs from
`day_start(D)` (local midnight, in UTC) to `day_end(D)`; `local_date(moment)` is the day a
moment falls on.

Tests set the time with `freeze(moment)` / `unfreeze()` (or `frozen(moment)` as a context
manager): every `now()` and `today()` of the process then answers from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"

_frozen: dt.datetime | None = None


def freeze(moment: dt.datetime) -> None:
    """From now on, `now()` is `moment` (naive means UTC) until `unfreeze()`."""
    global _frozen
    _frozen = as_utc(moment)


def unfreeze() -> None:
    global _frozen
    _frozen = None


@contextmanager
def frozen(moment: dt.datetime) -> Iterator[None]:
    freeze(moment)
    try:
        yield
    finally:
        unfreeze()


def now() -> dt.datetime:
    """The current moment, aware, in UTC."""
    return _frozen if _frozen is not None else dt.datetime.now(dt.UTC)


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_name() -> str:
    """The service's time zone: the app's MEDIATION_TIMEZONE, the default outside an app."""
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.config.get("MEDIATION_TIMEZONE") or DEFAULT_TIMEZONE
    return DEFAULT_TIMEZONE


def zone() -> ZoneInfo:
    return _zone(zone_name())


def as_utc(moment: dt.datetime) -> dt.datetime:
    """`moment` in UTC; a naive value (SQLite returns them) is taken as UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def local(moment: dt.datetime) -> dt.datetime:
    """`moment` as wall-clock time in the service's zone (naive means UTC)."""
    return as_utc(moment).astimezone(zone())


def local_date(moment: dt.datetime) -> dt.date:
    """The service's day that `moment` falls on."""
    return local(moment).date()


def today() -> dt.date:
    """The service's current day."""
    return local_date(now())


def day_start(day: dt.date) -> dt.datetime:
    """Local midnight at the start of `day`, in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone()).astimezone(dt.UTC)


def day_end(day: dt.date) -> dt.datetime:
    """The end of `day` (the start of the next), in UTC: `local_date(x) <= day` ⟺ `x < day_end(day)`."""
    return day_start(day + dt.timedelta(days=1))


def day_range(first: dt.date, last: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC covering the local days `first` to `last` (default: `first`)."""
    return day_start(first), day_end(last or first)


def sqlite_local_date(stored: str | None, zone_name: str) -> str | None:
    """SQL `local_date(ts, zone)` on SQLite: the day (ISO text) in `zone_name` of a timestamp
    as SQLite stores it (UTC digits, no offset)."""
    if stored is None:
        return None
    moment = as_utc(dt.datetime.fromisoformat(str(stored)))
    return moment.astimezone(_zone(zone_name)).date().isoformat()


def local_wall_time(naive: dt.datetime) -> dt.datetime:
    """A wall-clock time typed in the service's zone (a form's datetime-local) as UTC."""
    if naive.tzinfo is not None:
        return naive.astimezone(dt.UTC)
    return naive.replace(tzinfo=zone()).astimezone(dt.UTC)

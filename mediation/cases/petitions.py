"""Petitions (信访件) on a case, and the search for a returning petitioner at intake.

Every petition — the first and each repeat — is a dated record on its case with its
channel, the level it was lodged at and, for visits, the head count; the case carries
件次 (`petition_count`) and 人次 (`person_count`). A petition lodged above the level
responsible for the case is 越级访 (`skip_level`).

Detection looks for the same person among the cases the officer may see (merged-away
cases excluded): the identity and phone numbers through their blind indexes (exact), the
name within the same county (normalised for full/half width and spaces, and compared by
pinyin so that a mistyped character of the same sound still matches); then for the same
matter (the respondent unit, the livelihood field, overlapping summaries). Candidates
come ranked with why each matched and how strongly, never with a number in clear.
"""

from __future__ import annotations

import collections
import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import current_app
from pypinyin import Style
from pypinyin.converter import UltimateConverter
from pypinyin.core import Pinyin
from rapidfuzz import fuzz, process
from sqlalchemy.dialects.postgresql import ARRAY

from mediation import clock, driver, timeline
from mediation.cases import events
from mediation.cases.models import LEVEL_ORDER, Case, Channel, Petition, Petitioner
from mediation.cases.name_cache import Beside, Look, NameCache, Names
from mediation.clock import today
from mediation.errors import Invalid
from mediation.extensions import db
from mediation.permissions import Action, can, can_view_case, visible_cases_filter
from mediation.pii import cipher, mask_id_number, mask_phone
from mediation.regions import region_level, region_prefix
from mediation.users import User

# Weights of the evidence; a candidate's score is its strongest person match plus the
# matter's evidence, capped at 1. STRONG and above blocks an intake without a decision.
ID_MATCH, PHONE_MATCH = 1.0, 0.9
SAME_NAME, SAME_PINYIN, SIMILAR_NAME = 0.7, 0.6, 0.5
SAME_UNIT, SAME_FIELD, SUMMARY_OVERLAP = 0.15, 0.1, 0.15
STRONG = 0.8
SIMILAR_NAME_RATIO = 80  # rapidfuzz ratio of the normalised names or of their pinyin
SUMMARY_OVERLAP_RATIO = 60
MAX_CANDIDATES = 10


# Pure functions of a name, asked of every stored name of the county at each intake: cached.
@functools.lru_cache(maxsize=1 << 16)
def normalise_name(name: str) -> str:
    """Full-width letters and digits to half-width (NFKC), every kind of space dropped,
    the interpunct of minority names unified."""
    name = unicodedata.normalize("NFKC", name or "")
    name = re.sub(r"\s+", "", name)
    return name.replace("•", "·").replace("・", "·").lower()


class _RememberingConverter(UltimateConverter):
    """pypinyin's converter of `lazy_pinyin` (its default options), remembering what it
    made of each word its segmentation gives: a name is new at each intake, but made of a
    few thousand characters seen before, and converting a word (its readings, then the
    style, in Python) costs three times what segmenting the name does. The conversion of
    a word depends on the word and the options alone."""

    def __init__(self) -> None:
        super().__init__(v_to_u=False, neutral_tone_with_five=False, tone_sandhi=False)
        self._made: dict[tuple[Any, ...], tuple[tuple[str, ...], ...]] = {}

    def convert(self, words: str, style: Any, heteronym: bool, errors: Any, strict: bool,
                **kwargs: Any) -> list[list[str]]:
        key = (words, style, heteronym, errors, strict)
        made = self._made.get(key)
        if made is None:
            made = tuple(map(tuple, super().convert(words, style, heteronym, errors, strict, **kwargs)))
            if len(self._made) >= 1 << 16:  # bounded: a text of any length is a word of its own
                self._made.clear()
            self._made[key] = made
        return [list(p) for p in made]


# pypinyin.lazy_pinyin with its defaults, built once (it builds its converter at each call).
_lazy_pinyin = functools.partial(Pinyin(_RememberingConverter()).lazy_pinyin, style=Style.NORMAL,
                                 errors="default", strict=True)


@functools.lru_cache(maxsize=1 << 16)
def name_pinyin(name: str) -> str:
    return " ".join(p for p in _lazy_pinyin(normalise_name(name)) if p.strip())


def responsible_level(case: Case) -> str:
    """The level responsible for the case: its owner's when one is assigned, otherwise
    the level of its region (a county's case is the county's)."""
    return case.owner_level or region_level(case.region_code)


def record_petition(case: Case, data: dict[str, Any], actor: User | None, *, repeat: bool,
                    event: bool = True) -> Petition:
    """Add a petition to the case in the caller's transaction, with its event (the first
    petition's goes into `case.created` instead: event=False); keeps 件次 and 人次 in step."""
    petition = new_petition(case, data, actor, repeat=repeat)
    db.session.add(petition)
    db.session.flush()
    if event:
        timeline.append(db.session, case.id, events.PETITION_RECEIVED, petition_view(petition)
                        | {"petition_count": case.petition_count, "person_count": case.person_count},
                        actor.id if actor else None)
    return petition


def new_petition(case: Case, data: dict[str, Any], actor: User | None, *, repeat: bool) -> Petition:
    """A petition on the case, checked, with the case's 件次 and 人次 counted; not written."""
    channel = data.get("channel") or Channel.LETTER.value
    level = data.get("level") or region_level(case.region_code)
    head_count = int(data.get("head_count") or 1)
    if channel != Channel.VISIT.value and head_count != 1:
        raise Invalid({"petition": {"head_count": ["only a visit has a head count"]}})  # type: ignore[dict-item]
    day = today()
    received_on = data.get("received_on") or case.received_on or day
    if received_on > day:
        raise Invalid({"petition": {"received_on": ["cannot be in the future"]}})  # type: ignore[dict-item]
    skip = LEVEL_ORDER[level] > LEVEL_ORDER[responsible_level(case)]
    petition = Petition()
    # Into its dict, not through the attribute events: a new object has no history to keep,
    # and its INSERT (the flush's, insert_petition's or the intake's statement) reads its dict
    petition.__dict__.update(
        case_id=case.id, received_on=received_on, channel=channel, level=level,
        head_count=head_count, repeat=repeat, skip_level=skip, summary=data.get("summary") or "",
        source_reference=data.get("source_reference"), recorded_by_id=actor.id if actor else None,
        recorded_at=clock.now())
    case.petition_count = (case.petition_count or 0) + 1
    case.person_count = (case.person_count or 0) + head_count
    return petition


def insert_petition(petition: Petition) -> None:
    """Write a petition of new_petition (its case's row written already) by one INSERT on
    the session's connection: the case's pending changes wait for the next flush instead
    of being flushed for it. The object stays outside the session."""
    table = Petition.__table__
    row = petition_row(petition)
    del row["id"]
    petition.id = db.session.connection().execute(table.insert().returning(table.c.id), row).scalar_one()


def petition_row(petition: Petition) -> dict[str, Any]:
    """The row of a petition of new_petition (its id as set, None if not)."""
    return {c.key: getattr(petition, c.key) for c in Petition.__table__.columns}


def petition_view(p: Petition) -> dict[str, Any]:
    return {"id": p.id, "received_on": p.received_on.isoformat(), "channel": p.channel,
            "level": p.level, "head_count": p.head_count, "group_visit": p.group_visit,
            "repeat": p.repeat, "skip_level": p.skip_level, "summary": p.summary}


def petitions_of(case_id: int) -> list[Petition]:
    return list(db.session.execute(sa.select(Petition).where(Petition.case_id == case_id)
                                   .order_by(Petition.received_on, Petition.id)).scalars())


# --- detection ---------------------------------------------------------------------------

def _best_name_match(names: list[str], stored: str) -> tuple[float, str] | None:
    return max((m for m in (_name_match(n, stored) for n in names) if m),
               default=None, key=lambda m: m[0])


def _name_match(a: str, b: str) -> tuple[float, str] | None:
    na, nb = normalise_name(a), normalise_name(b)
    if not na or not nb:
        return None
    if na == nb:
        return SAME_NAME, "same_name"
    pa, pb = name_pinyin(a), name_pinyin(b)
    if pa and pa == pb:
        return SAME_PINYIN, "same_pinyin"
    if fuzz.ratio(na, nb) >= SIMILAR_NAME_RATIO or (pa and fuzz.ratio(pa, pb) >= SIMILAR_NAME_RATIO + 10):
        return SIMILAR_NAME, "similar_name"
    return None


# The batch comparison below is a sieve, each of its hits checked again by _name_match: its
# thresholds sit a little under _name_match's so that no rounding of a score computed with a
# cutoff can drop a pair that _name_match would take.
_SIEVE_MARGIN = 0.5


def _plausible(names: list[str], stored: list[str]) -> list[int]:
    """The positions in `stored` of the names that may match one of `names` by
    _name_match (see _sieve)."""
    return _sieve(names, list(map(normalise_name, stored)), lambda: list(map(name_pinyin, stored)))


def _sieve_keys(names: list[str]) -> list[tuple[str, str | None, float, float]]:
    """What each sieve compares for `names`: per name, its normalised form and its pinyin
    (None without one), with the cutoff each must reach against a stored one (its
    similar-name threshold, less a margin). A name with nothing to compare is left out
    (_name_match finds nothing for an empty name)."""
    out = []
    for name in names:
        na = normalise_name(name)
        if na:
            out.append((na, name_pinyin(name) or None, SIMILAR_NAME_RATIO - _SIEVE_MARGIN,
                        SIMILAR_NAME_RATIO + 10 - _SIEVE_MARGIN))
    return out


def _sieve(names: list[str], normalised: list[str], pinyin: Callable[[], list[str]]) -> list[int]:
    """The positions of the stored names (given normalised, and their pinyin when asked)
    that may match one of `names` by _name_match: each of its matches scores at least its
    similar-name threshold (an equal normalised name or pinyin scores 100), so comparing
    the normalised names and the pinyin of all of them in one batch each (rapidfuzz, in
    C) finds every one of them, and a few more that _name_match then turns down. Sorted,
    each position once. The full scan, where there is no copy of the county's names (SQLite,
    an old snapshot); _indexed_sieve keeps the same names from the copy's index."""
    if not normalised:
        return []
    stored_pinyin: list[str] | None = None
    hits: set[int] = set()
    for na, pa, name_cutoff, pinyin_cutoff in _sieve_keys(names):
        hits.update(i for _, _, i in process.extract(
            na, normalised, scorer=fuzz.ratio, limit=None, score_cutoff=name_cutoff))
        if pa:
            if stored_pinyin is None:
                stored_pinyin = pinyin()
            hits.update(i for _, _, i in process.extract(
                pa, stored_pinyin, scorer=fuzz.ratio, limit=None, score_cutoff=pinyin_cutoff))
    return sorted(hits)


def _indexed_sieve(names: list[str]) -> Callable[[Names], set[int]]:
    """_sieve on indexed names (name_cache.Names): the same petitioners, found by exact key
    and by comparing only the stored keys of the lengths that may reach the thresholds
    (name_cache.KeyIndex) instead of every name of the county."""
    keys = _sieve_keys(names)

    def sieve(index: Names) -> set[int]:
        hits: set[int] = set()
        for na, pa, name_cutoff, pinyin_cutoff in keys:
            hits |= index.normalised.similar(na, name_cutoff)
            if pa:
                hits |= index.pinyin.similar(pa, pinyin_cutoff)
        return hits
    return sieve


def _name_keys(name: str) -> tuple[str, str]:
    return normalise_name(name), name_pinyin(name)


def _county_names(conn: sa.Connection, county: str, names: list[str] | None = None,
                  beside: Beside | None = None) -> Look | None:
    """The petitioners of the county that the sieve keeps for `names`, from the app's
    in-process copy of its names (PostgreSQL), with what `beside` read in the same
    statement (see NameCache.look); None on SQLite, or when this transaction's snapshot
    is older than the copy."""
    if conn.dialect.name != "postgresql":
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cache = app.extensions.get(_NAME_CACHE)
    if cache is None:
        cache = app.extensions.setdefault(_NAME_CACHE, NameCache(_name_keys))
    return cache.look(conn, county, _indexed_sieve(names or []), SCAN_LIMIT, beside)


_NAME_CACHE = "mediation.county_names"
# The name scan looks at the petitioners of the county's latest cases, at most this many.
SCAN_LIMIT = 5000


# What the repeat check reads of a matched petitioner and of its case, as plain columns:
# one row per petitioner, its case's columns beside its own (the case's id as `id`, so a row
# serves `can_view_case` and the rules' checks as the case does: id, region_code,
# lead_official_id). ORM entities cost more to build than the whole of the rest of the load.
_PERSON_COLUMNS = ("name", "id_number_index", "phone_index", "id_number_tail", "phone_tail")
_CASE_COLUMNS = ("id", "reference", "title", "status", "region_code", "departments",
                 "livelihood_fields", "summary", "merged_into_id", "lead_official_id")


@functools.cache
def _matches_statement(dialect: str) -> sa.Select:
    """The statement of _load_matches, built once per dialect (its lists are bound)."""
    pets, cases = Petitioner.__table__, Case.__table__

    def among(column: sa.Column[Any], name: str) -> sa.ColumnElement[bool]:
        """column IN the bound list: on PostgreSQL an array (= ANY), one text for any
        length, so nothing is rendered again at each execution as an expanding list is."""
        if dialect == "postgresql":
            return column == sa.any_(sa.bindparam(name, type_=ARRAY(column.type)))
        return column.in_(sa.bindparam(name, expanding=True))

    matched = (sa.select(pets.c.id, pets.c.case_id, *(pets.c[k] for k in _PERSON_COLUMNS))
               .where(sa.or_(among(pets.c.id_number_index, "id_number"),
                             among(pets.c.phone_index, "phone"), among(pets.c.id, "ids")))
               .cte("matched").prefix_with("MATERIALIZED", dialect="postgresql"))
    ids = sa.select(matched.c.case_id)
    if dialect == "postgresql":
        of_matches = cases.c.id == sa.any_(sa.func.array(ids.scalar_subquery()))  # an index scan
    else:
        of_matches = cases.c.id.in_(ids)
    theirs = (sa.select(*(cases.c[k] for k in _CASE_COLUMNS)).where(of_matches).cte("theirs")
              .prefix_with("MATERIALIZED", dialect="postgresql"))
    return (sa.select(matched.c.id.label("petitioner_id"), *(matched.c[k] for k in _PERSON_COLUMNS),
                      *(theirs.c[k] for k in _CASE_COLUMNS))
            .join_from(matched, theirs, theirs.c.id == matched.c.case_id).order_by(matched.c.id))


@functools.cache
def _matches_beside(dialect: str) -> sa.Select:
    """_matches_statement unordered, read in the name copy's look (a UNION's part): the
    caller orders its rows."""
    return _matches_statement(dialect).order_by(None)


def _matches_params(by_number: dict[str, set[str]], ids: set[int]) -> dict[str, Any] | None:
    """The parameters of _matches_statement; None where it would find nothing."""
    if not (ids or any(by_number.values())):
        return None
    return {"id_number": sorted(by_number["id_number"]), "phone": sorted(by_number["phone"]),
            "ids": sorted(ids)}


def _matches_prepared(dialect: sa.Dialect) -> driver.Prepared:
    """_matches_statement compiled for the dialect (once); planned with its values at every
    execution, as the name copy's look (name_cache): arrays of a few numbers, which a
    generic plan guesses at ten each."""
    return driver.prepared(_matches_statement(dialect.name), dialect, planned_each_time=True)


def _load_matches(actor: User, by_number: dict[str, set[str]], ids: set[int],
                  exclude: int | None) -> list[Any]:
    """The petitioners matched by number (blind indexes, by kind) or whose id is in `ids`,
    with their cases, where the case is live (not merged away, not `exclude`) and the
    actor may see it; by petitioner id. Plain rows (see _PERSON_COLUMNS), read on the
    session's connection after the flush the session would make.

    One statement reads each table on its own, fenced on PostgreSQL: the matches on the
    petitioners' indexes, then their cases by primary key alone; whether a case is live
    and visible is decided on its row (`can_view_case`, the visibility filter's twin).
    Any condition on the cases in the statement lets the planner drive it from the
    county's cases, reading every petitioner of the county at each intake: it did
    whenever the statistics were stale (always on a fresh database before its first
    ANALYZE, where `merged_into_id IS NULL` looks rare). A sieved petitioner outside the
    name scan may come back: the caller checks the scan on the row, and its numbers like
    any other's."""
    params = _matches_params(by_number, ids)
    if params is None:
        return []
    if db.session.autoflush:
        db.session.flush()
    conn = db.session.connection()
    return _kept(actor, driver.rows(conn, _matches_prepared(conn.dialect), params, named=True),
                 exclude)


# A row of _matches_statement read in the name copy's look, as the driver's named rows are.
_Match = collections.namedtuple(  # type: ignore[misc]
    "_Match", ["petitioner_id", *_PERSON_COLUMNS, *_CASE_COLUMNS])


def _kept(actor: User, rows: list[Any], exclude: int | None) -> list[Any]:
    """The rows of _matches_statement whose case is live (not merged away, not `exclude`)
    and which the actor may see."""
    seen: dict[int, bool] = {}
    for r in rows:
        if r.id not in seen:
            seen[r.id] = r.merged_into_id is None and r.id != exclude and can_view_case(actor, r)
    return [r for r in rows if seen[r.id]]


def find_candidates(actor: User, data: dict[str, Any], exclude: int | None = None) -> list[dict[str, Any]]:
    """Cases the incoming petition may repeat, ranked (strongest first)."""
    people = [p for p in data.get("petitioners") or [] if p.get("name") or p.get("id_number")
              or p.get("phone")]
    if not people:
        return []
    region = data["region_code"]
    found: dict[int, dict[str, Any]] = {}

    def note(row: sa.Row[Any], kind: str, weight: float, detail: dict[str, Any]) -> None:
        """A reason for the row's case; the row (its petitioner) of the strongest one kept."""
        entry = found.setdefault(row.id, {"case": row, "person": 0.0, "reasons": [],
                                          "petitioner": row})
        entry["reasons"].append({"kind": kind, "weight": weight, **detail})
        if weight > entry["person"]:
            entry["person"], entry["petitioner"] = weight, row

    def live() -> sa.ColumnElement[bool]:
        """The cases a match may be found in, as SQL (built only where a statement needs it:
        the rows _load_matches reads are decided in Python)."""
        alive = sa.and_(visible_cases_filter(actor), Case.merged_into_id.is_(None))
        return alive if exclude is None else sa.and_(alive, Case.id != exclude)

    c = cipher()
    by_number = {kind: {i for p in people if p.get(kind) for i in c.blind_indexes(kind, p[kind])}
                 for kind in ("id_number", "phone")}
    names = [p["name"] for p in people if p.get("name")]
    name_matches: dict[int, tuple[float, str]] = {}
    # Petitioners the sieve kept from the in-process copy of the county's names: decided
    # below on the rows loaded, if in the county (among its latest SCAN_LIMIT) and live.
    sieved: set[int] = set()
    floor: int | None = None  # see name_cache.Look
    cutoff: list[int | None] = []  # the scan's, read once where the floor does not decide
    preloaded: list[Any] | None = None  # the matches the name copy's look read
    county = region_prefix(region)
    if names:
        # The names alone are compared (thousands of rows); only the matches are loaded.
        # Plain rows read on the session's connection (after the flush the session would
        # make) skip the ORM's handling of each row.
        if db.session.autoflush:
            db.session.flush()
        conn = db.session.connection()
        # The matches by number and by the names the copy's rows read before keep are
        # read in the look's statement: one round trip
        look = _county_names(conn, county, names, Beside(
            _matches_beside(conn.dialect.name), lambda kept: _matches_params(by_number, kept)))
        if look is not None:
            sieved, floor = look.ids, look.floor
            if look.rows is not None:
                read = [_Match._make(r) for r in look.rows]
                # the petitioners the look's rows added, not read with it (rare)
                rest = sieved - look.asked - {r.petitioner_id for r in read}
                if rest:
                    read += driver.rows(conn, _matches_prepared(conn.dialect),
                                        _matches_params({"id_number": set(), "phone": set()}, rest),
                                        named=True)
                read.sort(key=lambda r: r.petitioner_id)  # as _matches_statement orders them
                preloaded = _kept(actor, read, exclude)
        else:
            rows = conn.execute(
                sa.select(Petitioner.id, Petitioner.name).join(Case)
                .where(Case.region_code.startswith(county, autoescape=True), live())
                .order_by(Case.id.desc()).limit(SCAN_LIMIT)).all()
            for i in _plausible(names, [pname for _, pname in rows]):
                pid, pname = rows[i]
                best = _best_name_match(names, pname)
                if best:
                    name_matches[pid] = best

    def in_scan(case_id: int) -> bool:
        """Whether a case of the county is among the latest SCAN_LIMIT rows' cases of its
        live cases the actor may see (a sieved petitioner's, loaded: so live and seen): a
        case at or above the copy's floor is; below it, the cut-off decides, read once.
        Every petitioner of the case at the cut-off is taken (the scan's order among one
        case's petitioners is unspecified)."""
        if floor is None or case_id >= floor:
            return True
        if not cutoff:
            cutoff.append(db.session.connection().execute(
                sa.select(Case.id).select_from(Petitioner).join(Case)
                .where(Case.region_code.startswith(county, autoescape=True), live())
                .order_by(Case.id.desc()).offset(SCAN_LIMIT - 1).limit(1)).scalar())
        return cutoff[0] is None or case_id >= cutoff[0]

    # One query loads every petitioner matched by number (blind index) or by name (unless
    # the look read them).
    loaded = (preloaded if preloaded is not None
              else _load_matches(actor, by_number, name_matches.keys() | sieved, exclude))
    for r in loaded:
        if r.petitioner_id in sieved and r.region_code.startswith(county) and in_scan(r.id):
            best = _best_name_match(names, r.name)
            if best:
                name_matches[r.petitioner_id] = best
    for kind, weight in (("id_number", ID_MATCH), ("phone", PHONE_MATCH)):
        for r in loaded:
            # A match by number confirms the number: only where the officer may read it.
            if (getattr(r, f"{kind}_index") in by_number[kind]
                    and can(actor, Action.CASE_REVEAL_PII, r)):
                note(r, kind, weight, {"name": r.name})
    for r in loaded:
        best = name_matches.get(r.petitioner_id)
        if best:
            note(r, best[1], best[0], {"name": r.name})
    summary = normalise_name(data.get("summary") or "")
    units, fields_ = set(data.get("departments") or []), set(data.get("livelihood_fields") or [])
    out = []
    for entry in found.values():
        case: sa.Row[Any] = entry["case"]
        matter = 0.0
        shared = sorted(units & set(case.departments or []))
        if shared:
            matter += SAME_UNIT
            entry["reasons"].append({"kind": "same_unit", "weight": SAME_UNIT, "units": shared})
        shared_f = sorted(fields_ & set(case.livelihood_fields or []))
        if shared_f:
            matter += SAME_FIELD
            entry["reasons"].append({"kind": "same_field", "weight": SAME_FIELD, "fields": shared_f})
        theirs = normalise_name(case.summary or "")
        if summary and theirs:
            overlap = fuzz.partial_ratio(summary, theirs)
            if overlap >= SUMMARY_OVERLAP_RATIO:
                matter += SUMMARY_OVERLAP
                entry["reasons"].append({"kind": "summary_overlap", "weight": SUMMARY_OVERLAP,
                                         "overlap": round(overlap)})
        score = round(min(1.0, entry["person"] + matter), 2)
        p: sa.Row[Any] = entry["petitioner"]
        out.append({
            "case_id": case.id, "reference": case.reference, "title": case.title,
            "status": case.status, "region_code": case.region_code, "score": score,
            "strength": "strong" if score >= STRONG else "possible",
            "reasons": sorted(entry["reasons"], key=lambda r: -r["weight"]),
            "petitioner": {"name": p.name, "id_number": mask_id_number(p.id_number_tail),
                           "phone": mask_phone(p.phone_tail)},
        })
    out.sort(key=lambda r: (-r["score"], -r["case_id"]))
    return out[:MAX_CANDIDATES]


def strong(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in candidates if c["strength"] == "strong"]


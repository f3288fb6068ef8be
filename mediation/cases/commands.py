"""Actions on cases. Each validates, changes the case, appends its events, and commits
once: a failure anywhere leaves no row and no event behind."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import current_app

from mediation import audit, driver, timeline
from mediation.cases import events, petitions, rules
from mediation.cases.models import (
    TRANSITIONS,
    Case,
    CaseFlag,
    CaseLink,
    CategoryOverride,
    Investigation,
    OwnerContact,
    Petitioner,
    Status,
)
from mediation.clock import today
from mediation.errors import Conflict, Forbidden, Invalid, NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, require_case
from mediation.pii import cipher, mask_id_number, mask_phone
from mediation.regions import covers, normalize_region, region_level
from mediation.settings import get as setting
from mediation.timeline import utcnow
from mediation.transactions import transactional
from mediation.users import Role, User

# Callbacks run when a case's needs change, inside the command's transaction, as
# fn(case, needs_before, needs_after, actor): lets `referrals` route a case on intake
# without `mediation` importing it. They live in the registry's `needs_hooks` store.
NeedsHook = Callable[[Case, list[str], list[str], User | None], None]


def _needs_changed(case: Case, before: list[str], actor: User | None,
                   after: list[str] | None = None) -> None:
    """Run the needs hooks if the case's needs moved from `before` (to `after`, its
    effective needs, when the caller has them already)."""
    from mediation.registry import registry

    if after is None:
        after = rules.effective_needs(case)
    if after != before:
        for fn in registry().needs_hooks.values():
            fn(case, before, after, actor)


def limits() -> dict[str, int]:
    return current_app.config["MEDIATION_CLOCKS"]


def petitioner_view(p: Petitioner) -> dict[str, Any]:
    """A petitioner as anyone may see it: numbers masked."""
    return {"id": p.id, "name": p.name, "id_number": mask_id_number(p.id_number_tail),
            "phone": mask_phone(p.phone_tail), "groups": list(p.groups or []),
            "address": p.address}


def _new_petitioner(data: dict[str, Any]) -> Petitioner:
    """A new petitioner (not yet in a session) from an input's petitioner."""
    c = cipher()
    id_number, phone = data.get("id_number"), data.get("phone")
    id_enc, id_index, id_tail = c.sealed("id_number", id_number) if id_number else (None, None, None)
    ph_enc, ph_index, ph_tail = c.sealed("phone", phone) if phone else (None, None, None)
    p = Petitioner()
    # Into its dict, not through the attribute events: a new object has no history to keep,
    # and its INSERT (the flush's, or the intake's statement) reads its dict
    p.__dict__.update(
        name=data["name"], groups=list(data.get("groups") or []), address=data.get("address") or "",
        id_number_enc=id_enc, id_number_index=id_index, id_number_tail=id_tail,
        phone_enc=ph_enc, phone_index=ph_index, phone_tail=ph_tail)
    return p


def refresh(case: Case, actor: User | None) -> None:
    """Recompute what follows from the case's data; record a change of categories."""
    before = case.category_mask
    refresh_silently(case)
    case.updated_at = utcnow()
    if before != case.category_mask:
        db.session.flush()
        timeline.append(db.session, case.id, events.CASE_CLASSIFIED, {
            "categories": [f.as_dict() for f in rules.effective_categories(case)]},
            actor.id if actor else None)


# Flags only the system sets: an officer's edit of the flags keeps them (supervision reads
# `reopened_after_resolution` to find cases closed and then petitioned again).
SYSTEM_FLAGS = frozenset({CaseFlag.ESCALATED.value, CaseFlag.REOPENED_AFTER_RESOLUTION.value})

CASE_FIELDS = (
    "title", "summary", "departments", "received_on", "accepted_on", "replied_on",
    "review_requested_on", "review_answered_on", "rereview_requested_on",
    "rereview_answered_on", "times_handled", "livelihood_fields", "visits_in_person",
    "online_complaints", "flags", "background", "demand_basis", "focal_conflict",
    "assessment", "strategy_note",
)


def _json_value(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


@transactional
def intake(actor: User, data: dict[str, Any]) -> Case:
    """Take a case in (受理/登记): the case, its petitioners, and its first events."""
    if not can(actor, Action.CASE_CREATE):
        raise Forbidden("your role may not take cases in")
    region = normalize_region(data["region_code"])
    if actor.role != Role.ADMIN and not covers(actor.region, region):
        raise Invalid({"region_code": [f"outside your jurisdiction {actor.region}"]})
    petition = data.get("petition") or {}
    if data.get("repeat_of") is not None:
        # (a) a repeat petition of an existing case: no new case
        if data.get("reference"):  # a ledger row: its reference stays with the petition
            petition = petition | {"source_reference": data["reference"]}
        return link_petition(actor, data["repeat_of"], petition, data.get("summary") or "")
    candidates = petitions.strong(petitions.find_candidates(actor, data | {"region_code": region}))
    reason = (data.get("new_case_reason") or "").strip()
    if candidates and not reason and setting("MEDIATION_REPEAT_INTAKE") == "warn":
        candidates = []
    if candidates and not reason:
        raise Conflict("the petitioner may have a case already: say whether this is a repeat "
                       "petition of one of them (repeat_of) or a new case (new_case_reason)",
                       current_state=None, candidates=candidates)
    reference = data.get("reference")
    if reference and db.session.execute(
        sa.select(Case.id).where(Case.reference == reference)
    ).first():
        raise _reference_taken()
    # PostgreSQL: the ids first, then the case, its petitioners, its first petition and its
    # first events in one statement, with no UPDATE after. Elsewhere the ORM writes the case.
    one_statement = _one_statement()
    values = {name: data[name] for name in CASE_FIELDS if name in data}
    values.update(
        region_code=region,
        # on PostgreSQL a case without one gets its final reference before it is written
        # (its id comes first); the ORM's flush needs a unique one meanwhile
        reference=reference or (None if one_statement else f"pending-{uuid.uuid4().hex[:24]}"),
        created_by_id=actor.id, status=Status.INTAKE.value, last_seq=0,
        # said, not left unloaded: the KPI rollup then knows, without a query, that a
        # case not listed in the action has no steps to derive
        action_listed_on=None, flags=sorted(set(values.get("flags") or [])))
    if data.get("needs") is not None:
        values["needs_set"] = list(dict.fromkeys(data["needs"]))
    case = Case()
    # Into its dict, not through some twenty attribute events: a new case has no history to
    # keep, and its INSERT (the flush's, or the intake's statement) reads its dict
    case.__dict__.update(values)
    # A new case has none of these yet: saying so spares a lazy-load SELECT (and the
    # autoflush it triggers) when the rules look at them before the commit. Loaded empty,
    # as a read would leave them: an empty collection has nothing to flush, and setting
    # one through its attribute events cost more than the case's other columns together.
    for name in _EMPTY_AT_INTAKE:
        sa.orm.attributes.set_committed_value(case, name, ())
    parties = [_new_petitioner(p) for p in data.get("petitioners") or []]
    if one_statement:
        # as loaded, not through the collection's events (and each one's backref): the
        # statement writes them with the case_id _ids_taken gives, and _inserted takes them
        # into the session with the case
        sa.orm.attributes.set_committed_value(case, "petitioners", parties)
    else:
        case.petitioners = parties  # the ORM's flush gives each its case_id
    # before the insert: one row written, not written then updated. The categories found
    # here are the first events' too: nothing they read changes before those are written
    # (the defaults _ids_taken or the flush gives are what the rules read for None)
    categories = refresh_silently(case)
    taken = _ids_taken(case) if one_statement else None
    if taken is None:
        db.session.add(case)
        try:
            db.session.flush()
        except sa.exc.IntegrityError as exc:  # a concurrent intake took the same reference
            raise _reference_taken() from exc
    if not reference:
        year = (case.accepted_on or case.received_on or today()).year
        case.reference = f"XF-{year}-{case.id:06d}"
    timeline.start_case(db.session, case)
    listing = None
    if data.get("action_listed_on") is not None:  # checked before any event is written
        listing = listing_checked(case, data["action_listed_on"], data.get("action_reason") or "")
    first = petitions.new_petition(case, petition | {"summary": case.summary}, actor, repeat=False)
    if taken is None:
        petitions.insert_petition(first)  # the case's reference and counts go with its next UPDATE
    else:
        first.id = taken.petition_id
    try:
        needs = _first_events(case, first, actor, taken, categories)
    except sa.exc.IntegrityError as exc:  # a concurrent intake took the same reference
        if taken is None or _constraint(exc) != "uq_cases_reference":
            raise
        raise _reference_taken() from exc
    if listing is not None:
        record_listing(case, *listing, actor, "intake")
    links: list[CaseLink] = []
    if candidates:
        # (b) a new case of the same person, on purpose: each names the other
        for other in candidates:
            links.append(cross_reference(actor, case, db.session.get(Case, other["case_id"]),
                                         reason, score=other["score"]))
    _needs_changed(case, [], actor, needs)
    remember_detail(case, [first], links)
    return case


_EMPTY_AT_INTAKE = ("investigations", "category_overrides", "contacts")


def _one_statement() -> bool:
    """Whether the intake writes the case, its parties, its first petition and its first
    events in one statement (PostgreSQL), or lets the ORM's flush write the case."""
    return db.session.connection().dialect.name == "postgresql"


def _reference_taken() -> Invalid:
    """The refusal of a reference another case has (found before the insert, or by it)."""
    return Invalid({"reference": ["already used by another case"]})


def _first_events(case: Case, first: Any, actor: User, taken: Taken | None,
                  categories: list[rules.CategoryFinding]) -> list[str]:
    """Append a new case's first events (`categories`: the case's effective ones); on
    PostgreSQL (its ids `taken`) with the rows of the case, its petitioners and its first
    petition, in the events' statement. Returns the case's effective needs."""
    needs = rules.effective_needs(case)
    beside = None
    if taken is not None:
        def rows() -> timeline.Beside:  # asked once the events are numbered: last_seq final
            return [(Case.__table__, [_insert_row(case, taken.nulls[0])]),
                    (Petitioner.__table__, [_insert_row(p, n) for p, n in
                                            zip(case.petitioners, taken.nulls[1:], strict=True)]),
                    (first.__table__, [petitions.petition_row(first)])]
        # in the session before the append hooks run: one may load the case or append to it
        beside = timeline.RowsBeside(rows, lambda: _inserted(case))
    timeline.append_many(db.session, case.id, [
        (events.CASE_CREATED, {
            "reference": case.reference,
            "fields": {k: _json_value(getattr(case, k))
                       for k in ("title", "region_code", *CASE_FIELDS) if k != "summary"}
            | {"summary": case.summary},
            "petitioners": [petitioner_view(p) for p in case.petitioners],
            "petition": petitions.petition_view(first)}),
        (events.CASE_CLASSIFIED, {
            "categories": [f.as_dict() for f in categories],
            "needs": list(needs)}),
    ], actor.id, beside)
    return needs


# PostgreSQL: a new case's id, its first petition's and its petitioners', in one round trip,
# on the driver's cursor (driver.sql_rows: SQLAlchemy's execution of it cost more CPU than
# the driver's own). The statement names its sequences and its count of petitioners as
# constants, one text per count: with the count as a parameter the server planned it anew
# at every execution (a generic plan guesses generate_series at 1,000 rows, so the custom
# plan always looked cheaper), and pg_get_serial_sequence at each execution was a catalog
# lookup per sequence. pg_stat_statements over 2,200 intakes: 81 us of execution and 33 us
# of planning per intake before.
_SEQUENCES = ("SELECT pg_get_serial_sequence('cases', 'id'), "
              "pg_get_serial_sequence('petitions', 'id'), "
              "pg_get_serial_sequence('petitioners', 'id')")
_sequences: tuple[str, str, str] | None = None  # their names, asked once per process
_take_ids: dict[int, str] = {}


def _take_ids_sql(conn: sa.Connection, count: int) -> str:
    """The statement taking a case's ids with `count` petitioners (see above)."""
    global _sequences
    sql = _take_ids.get(count)
    if sql is None:
        if _sequences is None:
            _sequences = driver.sql_rows(conn, _SEQUENCES, ())[0]
        case_seq, petition_seq, petitioner_seq = (
            "'" + name.replace("'", "''") + "'" for name in _sequences)
        sql = (f"SELECT nextval({case_seq}), nextval({petition_seq}), "
               f"ARRAY(SELECT nextval({petitioner_seq}) FROM generate_series(1, {int(count)}))")
        if len(_take_ids) < 64:  # a case's parties are a handful; keep the common counts
            _take_ids[count] = sql
    return sql


class Taken(NamedTuple):
    """What `_ids_taken` gave a new case: its first petition's id, and for the case's row
    then each petitioner's, the columns it writes as SQL NULL (`_take_defaults`)."""

    petition_id: int
    nulls: list[frozenset[str]]


def _ids_taken(case: Case) -> Taken:
    """Give the new case and its petitioners their ids from their sequences (PostgreSQL)
    and their defaults, before anything is written."""
    conn = db.session.connection()
    case_id, petition_id, ids = driver.sql_rows(conn, _take_ids_sql(conn, len(case.petitioners)),
                                                ())[0]
    # into the objects' dicts, not through their attribute events: the statement writes
    # them, and `_inserted` makes them loaded (no history to keep until then)
    case.__dict__["id"] = case_id
    for p, id_ in zip(case.petitioners, ids, strict=True):
        p.__dict__.update(id=id_, case_id=case_id)
    # as the ORM's flush would, before anything reads them (the first event lists them)
    return Taken(petition_id, [_take_defaults(obj) for obj in (case, *case.petitioners)])


@functools.cache
def _insert_columns(cls: type) -> tuple[tuple[str, str, Any, bool], ...]:
    """A mapped class's columns as its INSERT writes them: (attribute, column, its Python
    default or None, whether its type stores None: JSON), deferred ones left out (the
    database's: a trigger, a server default)."""
    return tuple((prop.key, prop.columns[0].name, prop.columns[0].default,
                  prop.columns[0].type.should_evaluate_none)
                 for prop in sa.inspect(cls).column_attrs if not prop.deferred)


def _take_defaults(obj: Any) -> frozenset[str]:
    """Give a new object the values the ORM's INSERT would give it: a column left unset,
    or None where its type does not store None, takes its Python default (None without
    one). Returns the columns of a type that stores None (JSON) that INSERT would leave out
    (SQL NULL there; None would be JSON's null)."""
    nulls = []
    state = obj.__dict__  # written directly: see _ids_taken
    for key, name, default, stores_none in _insert_columns(type(obj)):
        if state.get(key) is None and (key not in state or not stores_none):
            if default is not None:
                state[key] = default.arg(None) if default.is_callable else default.arg
                continue
            if key not in state and stores_none:
                nulls.append(name)
            state[key] = None
    return frozenset(nulls)


def _insert_row(obj: Any, nulls: frozenset[str]) -> dict[str, Any]:
    """The row of a new object given its defaults (`_take_defaults`, which said `nulls`)."""
    state = obj.__dict__
    return {name: sa.null() if name in nulls else state[key]
            for key, name, _, _ in _insert_columns(type(obj))}


def _inserted(case: Case) -> None:
    """Take the case and its petitioners, written by a statement, into the session as
    loaded from the database (clean: nothing to UPDATE at the commit), and tell the KPI
    rollup the case is new: it has no steps stored to lock, read or replace."""
    from mediation.supervision import rollup

    for p in case.petitioners:
        sa.orm.make_transient_to_detached(p)
    sa.orm.make_transient_to_detached(case)
    db.session.add(case)
    rollup.inserted(db.session, [case.id])


def _constraint(exc: sa.exc.IntegrityError) -> str | None:
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None)


_DETAIL = "mediation_case_detail"


def remember_detail(case: Case, petitions_: list, links: list[CaseLink]) -> None:
    """Keep with the case object the petitions and links this command wrote, which are all
    it has: its view needs no query for them while its timeline has not moved on (every
    petition and link appends an event, so a later one invalidates this)."""
    sa.inspect(case).info[_DETAIL] = (case.last_seq, list(petitions_), list(links))


def remembered_detail(case: Case) -> tuple[list, list[CaseLink]] | None:
    """The petitions and links remember_detail kept, if the case's timeline is where it was."""
    kept = sa.inspect(case).info.get(_DETAIL)
    if kept is None or kept[0] != case.last_seq:
        return None
    return kept[1], kept[2]


def cross_reference(actor: User, case: Case, other: Case, reason: str, **extra: Any) -> CaseLink:
    """Record on both cases that they concern one person but stay apart, with the reason;
    returns the link on `case`."""
    made = []
    for a, b in ((case, other), (other, case)):
        made.append(CaseLink(case_id=a.id, other_id=b.id, kind="related", reason=reason,
                             by_id=actor.id))
        db.session.add(made[-1])
        timeline.append(db.session, a.id, events.CASE_LINKED, {
            "other_case_id": b.id, "other_reference": b.reference, "kind": "related",
            "reason": reason, **extra}, actor.id)
    return made[0]


def reopen_on_petition(case: Case, actor: User, received_on: dt.date, summary: str) -> None:
    """A new petition on a resolved or closed case reopens it (flagged for supervision),
    and a cessation recorded before no longer holds."""
    from mediation.sessions.events import PETITIONING_RESUMED

    move_case(case, Status.REOPENED, actor,
              f"{rules.zh_date(received_on)}收到新的信访件：{summary}")
    if case.has_flag(CaseFlag.PETITIONING_CEASED):
        case.flags = sorted(set(case.flags or []) - {CaseFlag.PETITIONING_CEASED.value})
        timeline.append(db.session, case.id, PETITIONING_RESUMED,
                        {"received_on": received_on.isoformat()}, actor.id)


def link_petition(actor: User, case_id: int, petition: dict[str, Any], summary: str) -> Case:
    """Add a repeat petition to case X, reopening it when resolved or closed (in the
    caller's transaction). A case merged into another is a 409 naming the survivor."""
    case = require_case(actor, case_id, Action.CASE_EDIT)
    if case.merged_into_id is not None:
        raise Conflict("the case was merged into another; link to that one",
                       current_state={"status": case.status, "merged_into": case.merged_into_id})
    received_on = petition.get("received_on") or today()
    if received_on > today():
        raise Invalid({"petition": ["received_on cannot be in the future"]})
    if case.status in (Status.RESOLVED, Status.CLOSED):
        reopen_on_petition(case, actor, received_on, summary)
    petitions.record_petition(case, petition | {"received_on": received_on, "summary": summary},
                              actor, repeat=True)
    refresh(case, actor)
    return case


def intake_candidates(actor: User, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The cases an intake may repeat, for the officer to decide before saving."""
    if not can(actor, Action.CASE_CREATE):
        raise Forbidden("your role may not take cases in")
    return petitions.find_candidates(actor, data | {"region_code": normalize_region(data["region_code"])})


def refresh_silently(case: Case) -> list[rules.CategoryFinding]:
    """Store what follows from the case's data (its categories' mask, its next deadline);
    returns its effective categories."""
    categories = rules.effective_categories(case)
    case.category_mask = rules.category_mask(categories)
    day, clocks = today(), limits()  # one day for both (and the zone's conversion once)
    case.next_deadline_on = rules.next_deadline(
        rules.statutory_clocks(case, clocks, day) + rules.owner_duties(case, clocks, day)
    )
    return categories


@transactional
def update(actor: User, case_id: int, data: dict[str, Any]) -> Case:
    """Edit the case's fields and dossier; the event keeps each old and new value."""
    case = require_case(actor, case_id, Action.CASE_EDIT)
    needs_before = rules.effective_needs(case)
    changes: dict[str, dict[str, Any]] = {}
    for name in CASE_FIELDS:
        if name not in data:
            continue
        new = data[name]
        if name == "flags":
            new = sorted(set(new or []) | (set(case.flags or []) & SYSTEM_FLAGS))
        old = getattr(case, name)
        if old != new:
            changes[name] = {"from": _json_value(old), "to": _json_value(new)}
            setattr(case, name, new)
    if "needs" in data:
        new_needs = None if data["needs"] is None else list(dict.fromkeys(data["needs"]))
        if new_needs != case.needs_set:
            changes["needs"] = {"from": rules.effective_needs(case), "to": new_needs}
            case.needs_set = new_needs
    if not changes:
        return case
    order_errors = rules.date_order_errors(case)
    if order_errors:
        raise Invalid(order_errors)
    if "assessment" in changes:
        changes["strategy"] = {"from": rules.strategy_for(changes["assessment"]["from"]),
                               "to": rules.strategy_for(case.assessment)}
    timeline.append(db.session, case.id, events.CASE_UPDATED, {"changes": changes}, actor.id)
    refresh(case, actor)
    _needs_changed(case, needs_before, actor)
    return case


def move_case(case: Case, target: Status, actor: User | None, reason: str, **extra: Any) -> None:
    """One step along the case's state machine, in the caller's transaction: a conditional
    update that the database decides between concurrent movers, and its event. An illegal
    step, or one lost to a concurrent mover, is a 409 with the current state."""
    current = Status(case.status)
    if target not in TRANSITIONS[current]:
        raise Conflict(f"a case in {current} cannot move to {target}", current_state=current.value)
    moved = db.session.execute(
        sa.update(Case).where(Case.id == case.id, Case.status == current.value)
        .values(status=target.value, status_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise Conflict("the case changed meanwhile", current_state=db.session.execute(
            sa.select(Case.status).where(Case.id == case.id)).scalar_one())
    db.session.refresh(case, ["status", "status_changed_at"])
    if target == Status.REOPENED:
        case.flags = sorted(set(case.flags or []) | {CaseFlag.REOPENED_AFTER_RESOLUTION.value})
    timeline.append(db.session, case.id, _MOVE_EVENTS.get(target, events.CASE_STATUS_CHANGED),
                    {"from": current.value, "to": target.value, "reason": reason, **extra},
                    actor.id if actor else None)


# Moves the KPIs and the weekly list count have their own event types.
_MOVE_EVENTS = {Status.RESOLVED: events.CASE_RESOLVED, Status.CLOSED: events.CASE_CLOSED,
                Status.REOPENED: events.CASE_REOPENED}


@transactional
def transition(actor: User, case_id: int, to: str, reason: str) -> Case:
    """Move the case along its state machine; an illegal move is a 409."""
    case = require_case(actor, case_id, Action.CASE_TRANSITION)
    move_case(case, Status(to), actor, reason)
    refresh(case, actor)
    return case


@transactional
def override_category(actor: User, case_id: int, category: int, action: str, reason: str) -> Case:
    """An officer adds or removes one of the six categories, with the reason kept."""
    case = require_case(actor, case_id, Action.CASE_CLASSIFY)
    present = {f.category for f in rules.effective_categories(case)}
    if action == "add" and category in present:
        raise Conflict(f"category {category} already applies", current_state=sorted(present))
    if action == "remove" and category not in present:
        raise Conflict(f"category {category} does not apply", current_state=sorted(present))
    case.category_overrides.append(
        CategoryOverride(category=category, action=action, reason=reason, by_id=actor.id))
    db.session.flush()
    refresh(case, actor)
    return case


def listing_checked(case: Case, listed_on: dt.date | None, reason: str) -> tuple[dt.date, str]:
    """The list date (default: today, the service's day; never in the future) and the
    reason, required for a case that has no category (it counts only with one)."""
    from mediation.validation import EARLIEST

    day = listed_on or today()
    errors: dict[str, list[str]] = {}
    if day > today():
        errors["action_listed_on"] = ["cannot be in the future"]
    elif day < EARLIEST:
        errors["action_listed_on"] = [f"not before {EARLIEST.isoformat()}"]
    reason = (reason or "").strip()
    if not case.category_mask and len(reason) < 2:
        errors["action_reason"] = ["a case with no category is listed only with the officer's reason"]
    if errors:
        raise Invalid(errors)
    return day, reason


def listing_view(case: Case) -> dict[str, Any]:
    """The case's place in the special action, as the case page and the API show it."""
    from mediation.supervision.rollup import backlog_until

    listed = case.action_listed_on
    return {"listed_on": listed, "reason": case.action_reason or "",
            "segment": None if listed is None else ("increment" if listed > backlog_until() else "stock"),
            "counted": listed is not None and bool(case.category_mask or (case.action_reason or "").strip())}


def _listing_state(case: Case) -> dict[str, Any]:
    view = listing_view(case)
    return view | {"listed_on": view["listed_on"].isoformat() if view["listed_on"] else None}


def record_listing(case: Case, listed_on: dt.date, reason: str, actor: User | None, source: str) -> None:
    """Set the listing on a case not listed (its caller has decided it) and say so."""
    case.action_listed_on = listed_on
    case.action_reason = reason
    db.session.flush()
    timeline.append(db.session, case.id, events.CASE_ACTION_LISTED,
                    {"listed_on": listed_on.isoformat(), "reason": reason, "source": source},
                    actor.id if actor else None)


@transactional
def list_in_action(actor: User, case_id: int, listed_on: dt.date | None, reason: str) -> Case:
    """纳入专项行动: the officer's decision that the case counts in the action from
    `listed_on`. A case already listed is a 409 with its listing (unlist it to correct)."""
    case = require_case(actor, case_id, Action.CASE_CLASSIFY)
    day, reason = listing_checked(case, listed_on, reason)
    done = db.session.execute(
        sa.update(Case).where(Case.id == case.id, Case.action_listed_on.is_(None))
        .values(action_listed_on=day, action_reason=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(case)
    if not done:
        raise Conflict("the case is already in the action", current_state=_listing_state(case))
    timeline.append(db.session, case.id, events.CASE_ACTION_LISTED,
                    {"listed_on": day.isoformat(), "reason": reason, "source": "officer"}, actor.id)
    return case


@transactional
def unlist_from_action(actor: User, case_id: int, reason: str) -> Case:
    """移出专项行动 (a listing made in error): the case no longer counts, on any date."""
    case = require_case(actor, case_id, Action.CASE_CLASSIFY)
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise Invalid({"reason": ["say why the case leaves the action"]})
    before = case.action_listed_on
    done = db.session.execute(
        sa.update(Case).where(Case.id == case.id, Case.action_listed_on.is_not(None))
        .values(action_listed_on=None, action_reason="", updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(case)
    if not done:
        raise Conflict("the case is not in the action", current_state=_listing_state(case))
    timeline.append(db.session, case.id, events.CASE_ACTION_UNLISTED,
                    {"listed_on": before.isoformat() if before else None, "reason": reason}, actor.id)
    return case


@transactional
def assign_owner(actor: User, case_id: int, official_id: int, level: str | None,
                 assigned_on: dt.date | None) -> Case:
    """Make a lead official the case's owner (包案) at province, city or county level."""
    case = require_case(actor, case_id, Action.CASE_ASSIGN_OWNER)
    official = db.session.get(User, official_id)
    if official is None or official.role != Role.LEAD_OFFICIAL or not official.active:
        raise Invalid({"lead_official_id": ["not an active lead official"]})
    suggested, why = rules.suggested_owner_level(case, rules.effective_categories(case))
    level = level or suggested
    if not official.region or not covers(official.region, case.region_code):
        raise Invalid({"lead_official_id": [f"{official.username}'s region does not cover the case"]})
    if region_level(official.region) != level:
        raise Invalid({"level": [f"{official.username} is a {region_level(official.region)}-level "
                                 f"official, not {level}-level"]})
    previous = case.lead_official_id
    case.lead_official_id = official.id
    case.owner_level = level
    case.owner_assigned_on = assigned_on or today()
    timeline.append(db.session, case.id, events.CASE_OWNER_ASSIGNED, {
        "lead_official_id": official.id, "name": official.display_name, "level": level,
        "suggested_level": suggested, "suggested_because": why, "previous": previous,
        "assigned_on": case.owner_assigned_on.isoformat()}, actor.id)
    refresh(case, actor)
    return case


@transactional
def record_contact(actor: User, case_id: int, kind: str, held_on: dt.date, note: str) -> OwnerContact:
    """Record the owner's progress hearing or meeting with the petitioner."""
    case = require_case(actor, case_id, Action.CASE_RECORD_CONTACT)
    if case.lead_official_id is None:
        raise Conflict("the case has no lead official yet", current_state=None)
    if held_on > today():
        raise Invalid({"held_on": ["cannot be in the future"]})
    contact = OwnerContact(case_id=case.id, owner_id=case.lead_official_id, kind=kind,
                           held_on=held_on, note=note, recorded_by_id=actor.id)
    case.contacts.append(contact)
    db.session.flush()
    timeline.append(db.session, case.id, events.OWNER_CONTACT_RECORDED, {
        "contact_id": contact.id, "kind": kind, "held_on": held_on.isoformat(), "note": note,
        "owner_id": case.lead_official_id}, actor.id)
    refresh(case, actor)
    return contact


@transactional
def extend_handling(actor: User, case_id: int, days: int, approver: str, reason: str) -> Case:
    """Extend the 60-day handling clock once, by at most the configured days, with approval."""
    case = require_case(actor, case_id, Action.CASE_EXTEND_CLOCK)
    maximum = limits()["handling_extension_max"]
    if case.extension_days:
        raise Conflict("the handling clock has already been extended",
                       current_state={"extension_days": case.extension_days})
    if case.accepted_on is None:
        raise Conflict("the handling clock has not started (no acceptance date)", current_state=None)
    if case.replied_on is not None:
        raise Conflict("the matter has been handled already", current_state=None)
    if not 1 <= days <= maximum:
        raise Invalid({"days": [f"between 1 and {maximum}"]})
    case.extension_days = days
    case.extension_approver = approver
    case.extension_reason = reason
    timeline.append(db.session, case.id, events.CLOCK_EXTENDED, {
        "clock": "handling", "days": days, "approver": approver, "reason": reason}, actor.id)
    refresh(case, actor)
    return case


@transactional
def add_investigation(actor: User, case_id: int, data: dict[str, Any]) -> Investigation:
    """Add an investigation record to the dossier."""
    case = require_case(actor, case_id, Action.CASE_INVESTIGATE)
    if data["conducted_on"] > today():
        raise Invalid({"conducted_on": ["cannot be in the future"]})
    record = Investigation(case_id=case.id, recorded_by_id=actor.id, **data)
    case.investigations.append(record)
    db.session.flush()
    timeline.append(db.session, case.id, events.INVESTIGATION_ADDED, {
        "investigation_id": record.id, "method": record.method,
        "conducted_on": record.conducted_on.isoformat(), "investigators": record.investigators,
        "findings": record.findings}, actor.id)
    case.updated_at = utcnow()
    return record


@transactional
def add_petitioner(actor: User, case_id: int, data: dict[str, Any]) -> Petitioner:
    case = require_case(actor, case_id, Action.CASE_EDIT)
    needs_before = rules.effective_needs(case)
    p = _new_petitioner(data)
    case.petitioners.append(p)
    db.session.flush()
    timeline.append(db.session, case.id, events.PETITIONER_ADDED, petitioner_view(p), actor.id)
    refresh(case, actor)
    _needs_changed(case, needs_before, actor)
    return p


@transactional
def reveal_pii(actor: User, case_id: int, petitioner_id: int, fields: list[str],
               reason: str) -> dict[str, Any]:
    """Show a petitioner's full numbers to a role that needs them, and record the showing.
    A provider working the case (`Action.CASE_CONTACT_PETITIONER`) gets the phone number
    alone, to contact the petitioner: never the identity number."""
    case = require_case(actor, case_id)
    if not can(actor, Action.CASE_REVEAL_PII, case):
        if not can(actor, Action.CASE_CONTACT_PETITIONER, case):
            raise Forbidden("your role may not reveal numbers on this case")
        if set(fields) != {"phone"}:
            raise Forbidden("a provider may see the phone number only: ask for fields [\"phone\"]")
    p = db.session.get(Petitioner, petitioner_id)
    if p is None or p.case_id != case.id:
        raise NotFound("petitioner")
    c = cipher()
    shown: dict[str, Any] = {"id": p.id, "name": p.name}
    for kind in fields:
        enc = getattr(p, f"{kind}_enc")
        shown[kind] = c.decrypt(enc) if enc else None
    # The event names what was shown, to whom and why, never the values themselves.
    timeline.append(db.session, case.id, events.PII_REVEALED, {
        "petitioner_id": p.id, "fields": fields, "reason": reason, "to": actor.username},
        actor.id)
    return shown


@transactional
def find_petitioners(actor: User, kind: str, value: str, reason: str) -> list[Petitioner]:
    """Petitioners whose number matches, via the blind index, on cases where the actor may
    reveal numbers. Only roles that may reveal may search (a search confirms a guessed
    number); searches are throttled per user and each one is recorded (`mediation.audit`)."""
    from mediation.permissions import visible_cases_filter

    if not can(actor, Action.PII_SEARCH):
        raise Forbidden("your role may not search by number")
    audit.search_allowed(actor.id, kind, reason)
    indexes = cipher().blind_indexes(kind, value)
    column = Petitioner.id_number_index if kind == "id_number" else Petitioner.phone_index
    rows = db.session.execute(
        sa.select(Petitioner, Case).join(Case).where(column.in_(indexes), visible_cases_filter(actor))
        .order_by(Petitioner.id)).all()
    found = [p for p, case in rows if can(actor, Action.CASE_REVEAL_PII, case)]
    audit.record_search(actor.id, kind, reason, len(found))
    return found


def rotate_pii() -> dict[str, int]:
    """Re-encrypt every petitioner's numbers under the newest key and recompute their blind
    indexes, then every other column the areas registered as encrypted (respondents'
    phones, users' channel addresses, counselling notes, messages waiting to go, stored
    responses): records per kind, in one transaction."""
    from mediation.pii import rotate_registered

    c = cipher()
    count = 0
    for p in db.session.execute(sa.select(Petitioner)).scalars():
        for kind in ("id_number", "phone"):
            enc = getattr(p, f"{kind}_enc")
            if enc:
                setattr(p, f"{kind}_enc", c.rotate(enc))
                setattr(p, f"{kind}_index", c.blind_index(kind, c.decrypt(enc)))
        count += 1
    done = {"petitioners": count, **rotate_registered()}
    db.session.commit()
    return done

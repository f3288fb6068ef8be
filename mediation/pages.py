"""Pages for people: login, the list of one's cases, the case officer's live board, the
intake form, and the case page.

The case page is assembled from sections. `mediation` knows only its own (dossier,
categories, strategy, clocks, owner, timeline); the packages built on it (referrals,
realtime, sessions) add theirs with `register_case_section`, and the board's extra columns
and panels with `register_board_column` / `register_board_panel` — so this module never
imports them. Each section is a live part: re-rendered by the server when an event whose
type starts with one of its prefixes arrives (see `mediation/web.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import Flask, abort, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import clock, labels, regions, web
from mediation.cases import board_pages, commands, merge, rules
from mediation.cases.models import TRANSITIONS, Case, CaseLink, Group, LivelihoodField, Status
from mediation.cases.present import case_view
from mediation.cases.queries import filtered_cases, page_of, sorted_cases
from mediation.cases.rules import CATEGORY_NAMES
from mediation.extensions import db
from mediation.i18n import LANGUAGES
from mediation.login import TooManyAttempts, WrongCredentials, authenticate, end_session, start_session
from mediation.permissions import Action, can, require_case, role_may, roles_for
from mediation.regions import covers, region_level, region_prefix
from mediation.registry import registry
from mediation.schemas.cases import (
    ActionListingIn,
    ActionUnlistingIn,
    CandidatesIn,
    CaseIn,
    CasePatch,
    CategoryOverrideIn,
    ContactIn,
    ExtensionIn,
    InvestigationIn,
    MergeIn,
    OwnerIn,
    PetitionRecordIn,
    RevealIn,
    TransitionIn,
)
from mediation.sessions import followup
from mediation.sessions.schemas import CessationIn, PetitionIn, ResolutionIn
from mediation.users import Role, User

bp = web.page_blueprint("pages", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username and password."""
    error, status, headers = None, 200, {}
    if request.method == "POST":
        try:
            user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        except WrongCredentials:
            error, status = _("用户名或密码错误"), 401
        except TooManyAttempts as exc:
            retry = exc.extra["retry_after"]
            error, status = _("登录失败次数过多，请 %(n)s 分钟后再试", n=-(-retry // 60)), 429
            headers["Retry-After"] = str(retry)
        else:
            start_session(user)
            return redirect(web.safe_next(request.args.get("next"), url_for("pages.home")))
    return render_template("auth/login.html", error=error), status, headers


@bp.get("/lang/<code>")
def set_language(code: str):
    """Switch the pages' language (kept in the session) and go back where one was."""
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(web.safe_next(request.args.get("next"), url_for("pages.home")))


@bp.post("/logout")
@login_required
def logout():
    """Sign out: this session and the user's other pages sessions end."""
    end_session()
    return redirect(url_for("pages.login"))


# --- sections of the case page and the board, added by the packages built on mediation ----

@dataclass(frozen=True)
class Section:
    """A part of the case page: `templates/<area>/parts/<name>.html`, given `case` (the case_view)
    and `sec` (what `load(user, case)` returned; None hides the section from this user)."""

    name: str
    title: Any
    load: Callable[[User, Case], dict[str, Any] | None]
    on: str = ""  # event-type prefixes that change it, comma-separated
    order: int = 50
    wide: bool = False  # spans the page instead of the side column


@dataclass(frozen=True)
class BoardColumn:
    """A column of the officer's board: `load(user, case_ids)` -> {case_id: value}, shown by
    `templates/<area>/parts/<name>.html` given `value` (and `c`, the row's case)."""

    name: str
    title: Any
    load: Callable[[User, list[int]], dict[int, Any]]
    on: str = ""


@dataclass(frozen=True)
class BoardPanel:
    """A panel beside the board's table (e.g. sessions in progress): `load(user)` -> its
    context `sec`, rendered by `templates/<area>/parts/<name>.html`."""

    name: str
    title: Any
    load: Callable[[User], dict[str, Any] | None]
    on: str = ""


def register_case_section(app: Flask, section: Section) -> None:
    registry(app).case_sections.register(section.name, section)


def register_board_column(app: Flask, column: BoardColumn) -> None:
    registry(app).board_columns.register(column.name, column)


def register_board_panel(app: Flask, panel: BoardPanel) -> None:
    registry(app).board_panels.register(panel.name, panel)


def _core_section(name: str, title: Any, order: int, on: str = "case.", wide: bool = False) -> Section:
    # The dossier's own sections read only the case view the page already has.
    return Section(name, title, lambda user, case: {}, on, order, wide)


# The facts an officer records that decide the categories (上级交办, 领导批示, …), in the
# order the forms show them; 息诉罢访 is recorded with its basis (the cessation form).
CLASSIFYING_FLAGS = ("assigned_from_above", "leader_instruction", "high_attention", "cross_region",
                     "cross_department", "cross_level", "responsibility_unclear", "policy_change",
                     "historical_legacy", "typical_problem")


def flag_choices() -> list[tuple[str, str]]:
    return [(f, labels.label(f, "case_flag")) for f in CLASSIFYING_FLAGS]


def _categories_section(user: User, case: Case) -> dict[str, Any]:
    """The categories with their reasons; for an officer, the flags that decide them and the
    override of a category with its reason (by hand, on the page)."""
    present = {f.category for f in rules.effective_categories(case)}
    return {"can_flag": can(user, Action.CASE_EDIT, case),
            "can_override": can(user, Action.CASE_CLASSIFY, case),
            "action": commands.listing_view(case), "today": clock.today().isoformat(),
            "flag_choices": flag_choices(),
            "flags": [f for f in case.flags or [] if f in CLASSIFYING_FLAGS],
            "addable": [(str(n), _("第%(n)s类", n=n) + "：" + labels.label(str(n), "category"))
                        for n in sorted(CATEGORY_NAMES) if n not in present],
            "removable": [(str(n), _("第%(n)s类", n=n) + "：" + labels.label(str(n), "category")
                           + _("（现属此类）"))
                          for n in sorted(present)]}


def _set_flags(actor: User, case_id: int, data: dict[str, Any]) -> Any:
    """The classifying flags as ticked; the others (息诉罢访, the system's) stay as they are."""
    case = db.session.get(Case, case_id)
    kept = [f for f in (case.flags or []) if f not in CLASSIFYING_FLAGS] if case is not None else []
    return commands.update(actor, case_id, {"flags": sorted(set(data.get("flags") or []) | set(kept))})


TIMELINE_SHOWN = 300  # the newest events the page shows; the API pages through the rest


def _timeline_section(user: User, case: Case) -> dict[str, Any]:
    """The newest events the user may see, newest first (same audience rule as the API)."""
    from mediation.events import admits
    from mediation.timeline import Event

    events: list[Event] = []
    before = case.last_seq + 1
    while len(events) < TIMELINE_SHOWN and before > 1:
        batch = list(db.session.execute(
            sa.select(Event).where(Event.case_id == case.id, Event.seq < before)
            .order_by(Event.seq.desc()).limit(TIMELINE_SHOWN)).scalars())
        if not batch:
            break
        events += [e for e in batch if admits(user, case, e.type, e.payload)]
        before = batch[-1].seq
    events = events[:TIMELINE_SHOWN]
    return {"events": [e.envelope() for e in events], "names": user_names({e.actor_id for e in events})}


def _petitions_section(user: User, case: Case) -> dict[str, Any]:
    """The case's petitions (件次, 人次, 越级访), the cases it is linked to, and the merge."""
    ids = {link.other_id for link in db.session.execute(
        sa.select(CaseLink).where(CaseLink.case_id == case.id)).scalars()}
    if case.merged_into_id:
        ids.add(case.merged_into_id)
    refs = dict(db.session.execute(
        sa.select(Case.id, Case.reference).where(Case.id.in_(ids))).all()) if ids else {}
    return {"references": refs,
            "can_merge": case.merged_into_id is None and can(user, Action.CASE_EDIT, case)}


def user_names(ids: set[int | None]) -> dict[int, str]:
    """Display names of users by id (for "who did it" on pages)."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = db.session.execute(sa.select(User.id, User.display_name, User.username).where(User.id.in_(ids)))
    return {i: d or u for i, d, u in rows}


def init_app(app: Flask) -> None:
    """The case page's own sections and the core pages' links in the top bar."""
    app.add_template_global(owner_choices, "owner_choices")  # user pickers, by name
    app.add_template_global(party_accounts, "party_accounts")
    app.add_template_global(user_names, "user_names")  # {id: name} for "who" columns
    for section in (
        Section("case_dossier", _l("一案一档"),
                lambda user, case: {"can_edit": can(user, Action.CASE_EDIT, case)},
                "case.,petitioner.,dossier.,pii.", 10, wide=True),
        Section("case_categories", _l("案件类别（六类积案）"), _categories_section, "case.", 20),
        Section("case_strategy", _l("研判与一案一策"),
                lambda user, case: {"can_update": can(user, Action.CASE_EDIT, case)}, "case.", 30),
        _core_section("case_clocks", _l("办理时限与包案职责"), 40, "case.,clock.,owner."),
        Section("case_actions", _l("办案操作"), _actions_section, "case.,owner.", 45),
        Section("case_petitions", _l("信访件与关联案件"), _petitions_section,
                "case.,petition.", 50),
        Section("case_timeline", _l("时间线"), _timeline_section, "", 90, wide=True),
    ):
        register_case_section(app, section)
    # Evaluators see anonymised figures only, never cases, and parties only the agreements
    # they sign: no "my cases" for them.
    web.add_nav(app, "pages.home", _l("我的案件"),
                {r.value for r in Role} - {Role.EVALUATOR.value, Role.PARTY.value, Role.DEPARTMENT.value},
                order=10)
    web.add_nav(app, "pages.board", _l("案件看板"), roles_for(Action.BOARD_VIEW, app), order=5)
    web.add_nav(app, "pages.intake", _l("登记案件"), roles_for(Action.CASE_CREATE, app), order=6)


# --- home, board, intake, case ----------------------------------------------------------------

@bp.get("/")
@login_required
def home():
    """The cases the signed-in user may see (a party, who sees none: their agreements; a
    department, which sees none either: the hand-overs sent to it)."""
    if current_user.role == Role.PARTY:
        return redirect(url_for("session_pages.my_agreements"))
    if current_user.role == Role.DEPARTMENT:  # a department sees no case: its hand-overs
        return redirect(url_for("department_pages.handovers"))
    # Every case reachable: 50 a page, newest first, with counts.
    page = request.args.get("page", "1")
    rows, total, page = page_of(sorted_cases(filtered_cases(current_user, {}), "-id"),
                                int(page) if page.isdigit() and int(page) > 0 else 1, HOME_PAGE_SIZE)
    first = (page - 1) * HOME_PAGE_SIZE + 1 if rows else 0
    return render_template("cases/home.html", cases=[case_view(c, detail=False) for c in rows],
                           total=total, page=page, pages=max(1, -(-total // HOME_PAGE_SIZE)), first=first,
                           last=first + len(rows) - 1 if rows else 0,
                           page_url=lambda n: url_for("pages.home", page=n if n > 1 else None))


HOME_PAGE_SIZE = 50


def _board_regions(user: User, cases: list[Case]) -> list[str]:
    """The region boards the page follows: the user's jurisdiction, or (national users) the
    provinces of the cases shown."""
    if user.region:
        return [region_prefix(user.region)]
    return sorted({c.region_code[:2] for c in cases})


@bp.get("/board")
@login_required
def board():
    """The case officer's live board: cases with filters, paging, sorting, saved views and
    bulk actions (`mediation/cases/board_pages.py`), their referrals with countdowns,
    sessions in progress — re-rendered by the server as events arrive."""
    if not can(current_user, Action.BOARD_VIEW):
        abort(404)
    ctx, status = board_pages.board_context(current_user, request.args)
    rows = ctx.pop("rows")
    ids = [c.id for c in rows]
    columns = [(col, col.load(current_user, ids)) for col in registry().board_columns.values()]
    panels = [(p, sec) for p in registry().board_panels.values() if (sec := p.load(current_user)) is not None]
    return web.render_page(
        "cases/board.html", status, cases=[case_view(c, detail=False) for c in rows],
        columns=columns, panels=panels, regions=_board_regions(current_user, rows),
        # The filter names each category, its number first as on the case page.
        categories=[(str(n), _("第%(n)s类", n=n) + "：" + labels.label(str(n), "category"))
                    for n in sorted(CATEGORY_NAMES)],
        statuses=labels.choices("case_status"),
        on=",".join(["case.", *[c.on for c in registry().board_columns.values() if c.on]]), **ctx)


# Why a candidate matched, in words (petitions.find_candidates gives the kinds).
REPEAT_REASONS = {
    "id_number": _l("身份证号一致"), "phone": _l("联系电话一致"), "same_name": _l("同县同名"),
    "same_pinyin": _l("同县姓名同音"), "similar_name": _l("同县姓名相近"),
    "same_unit": _l("同一责任单位"), "same_field": _l("同一民生领域"),
    "summary_overlap": _l("案情摘要相近"),
}


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def intake():
    """Take a case in: the same schema and command as POST /api/cases, errors by the field."""
    if not can(current_user, Action.CASE_CREATE):
        abort(404)
    outcome, candidates = None, None
    if request.method == "POST":
        data = web.form_data(CaseIn())
        petition = web.form_data(PetitionRecordIn(), prefix="petition-")
        if petition:
            data["petition"] = petition
        if "check" in request.form:
            # 查重 before saving: the candidates beside the form, nothing written
            outcome = web.attempt(lambda: commands.intake_candidates(
                current_user, CandidatesIn().load({k: v for k, v in data.items()
                                                   if k in CandidatesIn().fields})))
            candidates = outcome.value if outcome.ok else None
            if outcome.ok:
                outcome = None
        else:
            outcome = web.attempt(lambda: commands.intake(current_user, CaseIn().load(data)))
            if outcome.ok:
                linked = data.get("repeat_of") not in (None, "")
                web.report(outcome, _("已作为重复信访件并入案件：%(ref)s", ref=outcome.value.reference)
                           if linked else _("案件已登记：%(ref)s", ref=outcome.value.reference))
                return redirect(url_for("pages.case_page", case_id=outcome.value.id))
            candidates = outcome.extra.get("candidates")
    return render_template(
        "cases/intake.html", outcome=outcome, errors=outcome.errors if outcome else {},
        values=request.form, rows=range(3), candidates=candidates,
        channels=labels.choices("petition_channel"), levels=labels.choices("petition_level"),
        reason_labels=REPEAT_REASONS,
        groups=[(g.value, labels.label(g.value, "group")) for g in Group],
        fields=[(f.value, labels.label(f.value, "livelihood")) for f in LivelihoodField],
        flag_choices=flag_choices(),
        default_region=current_user.region or ""), outcome.status if outcome else 200


@bp.get("/cases/<int:case_id>")
@login_required
def case_page(case_id: int):
    """One case: the dossier's sections and those the packages add, each live."""
    case = require_case(current_user, case_id)
    view = case_view(case)
    part = request.args.get("part")
    all_sections = registry().case_sections
    shown = [s for s in sorted(all_sections.values(), key=lambda s: s.order) if part in (None, s.name)]
    sections = {}
    for s in shown:
        sec = s.load(current_user, case)
        if sec is not None:
            sections[s.name] = sec
    if part == "case_head":
        return web.render_page("cases/case.html", case=view)
    if part is not None:
        if part not in sections:
            abort(404)
        return web.render_page("cases/case.html", case=view, sec=sections[part], section=all_sections[part],
                               official=role_may(current_user, Action.CASE_INTERNAL))
    return web.render_page("cases/case.html", case=view, sections=sections,
                           order=[s for s in shown if s.name in sections],
                           official=role_may(current_user, Action.CASE_INTERNAL))


@bp.post("/cases/<int:case_id>/assessment")
@login_required
def assess(case_id: int):
    """Record the assessment (研判) and the strategy note: the needs follow from it."""
    outcome = web.attempt(lambda: commands.update(current_user, case_id, _assessment_form()))
    web.report(outcome, _("研判已保存"))
    return redirect(url_for("pages.case_page", case_id=case_id))


def _assessment_form() -> dict[str, Any]:
    data = CasePatch().load(web.form_data(CasePatch(only=("assessment", "strategy_note"))))
    data.setdefault("assessment", None)  # an emptied choice clears the assessment
    return data


# The case file's texts an officer keeps up to date from the case page (一案一档).
DOSSIER_FIELDS = ("title", "summary", "departments", "background", "demand_basis", "focal_conflict")

# The officer's small forms on the case page: each the API's schema and command.
_ACTIONS: dict[str, tuple[Callable[[], ma.Schema], Callable[[User, int, dict], Any], Any]] = {
    "status": (TransitionIn, lambda u, cid, d: commands.transition(u, cid, d["status"], d["reason"]),
               _l("状态已更新")),
    "owner": (OwnerIn, lambda u, cid, d: commands.assign_owner(
        u, cid, d["lead_official_id"], d.get("level"), d.get("assigned_on")), _l("包案领导已确定")),
    "contact": (ContactIn, lambda u, cid, d: commands.record_contact(
        u, cid, d["kind"], d["held_on"], d["note"]), _l("履职记录已保存")),
    "investigation": (InvestigationIn, lambda u, cid, d: commands.add_investigation(u, cid, d),
                      _l("调查核实记录已保存")),
    "extension": (ExtensionIn, lambda u, cid, d: commands.extend_handling(u, cid, **d), _l("办理期限已延长")),
    "flags": (lambda: CasePatch(only=("flags",)), _set_flags, _l("归类事项已更新")),
    "category": (CategoryOverrideIn, lambda u, cid, d: commands.override_category(
        u, cid, d["category"], d["action"], d["reason"]), _l("案件类别已调整")),
    "listing": (ActionListingIn, lambda u, cid, d: commands.list_in_action(
        u, cid, d.get("listed_on"), d["reason"]), _l("已纳入专项行动")),
    "unlisting": (ActionUnlistingIn, lambda u, cid, d: commands.unlist_from_action(u, cid, d["reason"]),
                  _l("已移出专项行动")),
    "dossier": (lambda: CasePatch(only=DOSSIER_FIELDS), lambda u, cid, d: commands.update(u, cid, d),
                _l("一案一档已更新")),
    # Follow-up (mediation.sessions.followup): resolution, cessation, a new petition.
    "resolution": (ResolutionIn, lambda u, cid, d: followup.resolve(u, cid, d["basis"], d["decision"],
                                                                    d["reason"]), _l("案件已化解")),
    "cessation": (CessationIn, lambda u, cid, d: followup.record_cessation(
        u, cid, d["basis"], d["signed_on"], d["note"]), _l("已记录息诉罢访")),
    "petition": (PetitionIn, lambda u, cid, d: followup.new_petition(u, cid, d["received_on"], d["summary"]),
                 _l("已登记再次信访，案件重新办理")),
    # The absorbed case is this one; the page goes on showing it, now closed as merged.
    "merge": (MergeIn, lambda u, cid, d: merge.merge(u, cid, d["into"], d["reason"]),
              _l("案件已并入另一案件")),
}


@bp.post("/cases/<int:case_id>/do/<action>")
@login_required
def case_action(case_id: int, action: str):
    """Run one of the officer's case actions; the outcome is said at the top of the case page."""
    if action not in _ACTIONS:
        abort(404)
    schema, command, success = _ACTIONS[action]
    outcome = web.submit(schema(), lambda data: command(current_user, case_id, data))
    web.report(outcome, str(success))
    return redirect(url_for("pages.case_page", case_id=case_id) + "#h-case_actions")


@bp.post("/cases/<int:case_id>/petitioners/<int:petitioner_id>/reveal")
@login_required
def reveal(case_id: int, petitioner_id: int):
    """Show a petitioner's full numbers once, on this response only (never in the session
    cookie or a URL); the disclosure, with its reason, goes on the timeline."""
    def run() -> dict[str, Any]:
        data = RevealIn().load(web.form_data(RevealIn()))
        return commands.reveal_pii(current_user, case_id, petitioner_id, data["fields"], data["reason"])

    outcome = web.attempt(run)
    if not outcome.ok:
        web.report(outcome)
        return redirect(url_for("pages.case_page", case_id=case_id))
    return render_template("cases/reveal.html", case_id=case_id, p=outcome.value), 200, {
        "Cache-Control": "no-store"}


def _lead_officials(case: Case) -> list[tuple[str, str]]:
    """Active lead officials whose region covers the case, for the owner picker."""
    rows = db.session.execute(sa.select(User).where(
        User.role == Role.LEAD_OFFICIAL.value, User.active.is_(True))
        .order_by(User.region, User.id)).scalars()
    def level(u: User) -> str:
        return labels.label(region_level(u.region), "owner_level")

    return [(str(u.id), f"{u.display_name or u.username}（{level(u)}）")
            for u in rows if u.region and covers(u.region, case.region_code)]


def owner_choices() -> list[tuple[str, str]]:
    """Lead officials the signed-in user's board may filter by (by name, never an id field):
    those within the user's jurisdiction and those above it."""
    me = current_user
    rows = db.session.execute(sa.select(User).where(
        User.role == Role.LEAD_OFFICIAL.value, User.active.is_(True))
        .order_by(User.region, User.display_name, User.id)).scalars()
    return [(str(u.id), f"{u.display_name or u.username}（{regions.region_words(u.region)}）")
            for u in rows if u.region and (me.region is None or covers(me.region, u.region)
                                           or covers(u.region, me.region))]


def party_accounts() -> list[tuple[str, str]]:
    """The active accounts of parties (role `party`), by name: who may sign an agreement
    through their own account."""
    rows = db.session.execute(sa.select(User).where(
        User.role == Role.PARTY.value, User.active.is_(True)).order_by(User.display_name, User.id)).scalars()
    return [(str(u.id), f"{u.display_name or u.username}（{u.username}）") for u in rows]


def _actions_section(user: User, case: Case) -> dict[str, Any] | None:
    if not can(user, Action.CASE_EDIT, case):
        return None if not can(user, Action.CASE_RECORD_CONTACT, case) else {"contact_only": True}
    return {"contact_only": False, "officials": _lead_officials(case),
            # Only the states the case may move to now: offering others invites a refusal.
            "statuses": [(c, w) for c, w in labels.choices("case_status")
                         if c in TRANSITIONS.get(Status(case.status), ())],
            "can_reveal": can(user, Action.CASE_REVEAL_PII, case)}



"""The officer's board as an office works from it, and the search box of every page.

- **Paging with counts**: 50 rows a page ("第 51–100 件，共 2005 件"), first/previous/next/
  last; a page past the end shows the last one.
- **Sorting by any column**, on the server (`queries.sorted_cases`: stable, empty values
  last, the columns an office sorts by indexed).
- **Filters in the URL**, so a link or a bookmark is the view; a user **saves a view**
  under a name ("我的超期案件"): the board's query string, stored per user
  (`SavedView`), listed above the table, deleted by its owner only (someone else's view
  is 404). Saving under a name already used replaces that view's filters.
- **Filters the areas add** (`BoardFilter`, registered into `board_filters`): the referrals
  add 转介 triage (needs sent back to the officer, needs nobody is free to take — "无人可接",
  not the same as a provider's refusal).
- **Bulk actions** on the rows ticked: make a lead official the owner (a picker of the
  officials whose region overlaps the user's; each case through the same command as the
  case page, each with its own outcome), export the rows to xlsx (the one spreadsheet
  writer, `mediation/supervision/excel.py`), print a list.
- **Search** (`/search`, the header's box on every page): the cases the user may see whose
  reference, title, summary, respondent unit or a petitioner's name contains every word
  typed (`queries.search_condition`). Names are stored in clear (the numbers are the
  encrypted PII), so a name is matched as text; an identity or phone number is looked up
  through the blind index only for the roles allowed to search by number (audited,
  throttled), and for everyone else matches as text only — the search answers from the
  visible cases alone and is never an oracle for what a role is refused. A reference typed
  in full opens that case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
import sqlalchemy as sa
from flask import Flask, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import clock, labels, web
from mediation.cases import commands
from mediation.cases.models import Case, SavedView
from mediation.cases.present import case_view
from mediation.cases.queries import filtered_cases, page_of, sorted_cases
from mediation.errors import NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, role_may
from mediation.regions import region_level, region_prefix, region_words
from mediation.registry import registry
from mediation.schemas.cases import CaseListArgs
from mediation.users import Role, User

bp = web.page_blueprint("board_pages", __name__)

PAGE_SIZE = 50
DEFAULT_SORT = "deadline"
VIEWS_MAX = 30  # saved views per user
BULK_MAX = 500  # rows one bulk action takes
SEARCH_SHOWN = 50
# What a saved view keeps of the board's query string (never the page, nor the language).
VIEW_KEYS = ("category", "status", "region", "owner", "overdue", "q", "sort", "page_size")
# The board's columns the header sorts by: (sort key, words).
SORTABLE = {"reference": _l("编号"), "title": _l("标题"), "status": _l("状态"),
            "category": _l("类别"), "owner": _l("包案领导"), "deadline": _l("最近期限")}


@dataclass(frozen=True)
class BoardFilter:
    """A filter an area adds to the board: a <select> named `name` with `choices()`
    ((value, words) pairs); `where(value)` is the SQL condition on `Case` it applies."""

    name: str
    title: Any
    choices: Callable[[], list[tuple[str, str]]]
    where: Callable[[str], Any]


def register_board_filter(app: Flask, f: BoardFilter) -> None:
    registry(app).board_filters.register(f.name, f)


class BoardArgs(CaseListArgs):
    class Meta:
        unknown = ma.EXCLUDE  # a page's query string may carry `part`, the language, area filters

    page_size = ma.fields.Integer(load_default=PAGE_SIZE, validate=ma.validate.Range(min=1, max=200))


def _load_args(raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    values = {k: v for k, v in raw.items() if v != ""}
    try:
        return BoardArgs().load(values), {}
    except ma.ValidationError as exc:
        return BoardArgs().load({}), web.flatten_errors(exc.messages)


def _area_filters(raw: Mapping[str, str]) -> list[tuple[BoardFilter, str]]:
    """The areas' filters asked for, with a value among their choices (others are ignored)."""
    chosen = []
    for f in registry().board_filters.values():
        value = raw.get(f.name, "")
        if value and value in {v for v, _w in f.choices()}:
            chosen.append((f, value))
    return chosen


def board_query(user: User, args: dict[str, Any], raw: Mapping[str, str]) -> sa.Select:
    query = filtered_cases(user, args)
    for f, value in _area_filters(raw):
        query = query.where(f.where(value))
    return sorted_cases(query, args.get("sort") or DEFAULT_SORT)


def _url(raw: Mapping[str, str], **changes: Any) -> str:
    """The board's URL with the current filters and `changes` (None drops a key)."""
    params = {k: v for k, v in raw.items() if k not in ("part", "page") and v != ""}
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = str(v)
    return url_for("pages.board") + ("?" + urlencode(params) if params else "")


def lead_officials(user: User) -> list[tuple[str, str]]:
    """Active lead officials whose region overlaps the user's jurisdiction, by name, with
    their level and region: the owner picker of the filters and of the bulk action."""
    query = sa.select(User).where(User.role == Role.LEAD_OFFICIAL.value, User.active.is_(True))
    if user.region:
        mine = region_prefix(user.region)
        query = query.where(User.region.is_not(None))
        rows = [u for u in db.session.execute(query.order_by(User.region, User.id)).scalars()
                if u.region.startswith(mine) or mine.startswith(region_prefix(u.region))]
    else:
        rows = list(db.session.execute(query.order_by(User.region, User.id)).scalars())
    def words(u: User) -> str:
        level = labels.label(region_level(u.region), "owner_level")
        return f"{u.display_name or u.username}（{level} · {region_words(u.region)}）"

    return [(str(u.id), words(u)) for u in rows if u.region]


def board_context(user: User, raw: Mapping[str, str]) -> tuple[dict[str, Any], int]:
    """Everything the board page (and its live parts) shows."""
    args, errors = _load_args(raw)
    size = args["page_size"]
    rows, total, page = page_of(board_query(user, args, raw), args["page"], size)
    pages = max(1, -(-total // size))
    sort = args.get("sort") or DEFAULT_SORT
    first = (page - 1) * size + 1 if rows else 0
    views = list(db.session.execute(sa.select(SavedView).where(SavedView.user_id == user.id)
                                    .order_by(SavedView.name)).scalars())
    current_query = urlencode([(k, raw[k]) for k in VIEW_KEYS + tuple(registry().board_filters)
                               if raw.get(k)])
    sort_links = {}
    for key in SORTABLE:
        if sort == key:
            sort_links[key] = (_url(raw, sort=f"-{key}"), "ascending")
        elif sort == f"-{key}":
            sort_links[key] = (_url(raw, sort=key), "descending")
        else:
            sort_links[key] = (_url(raw, sort=key), None)
    context = {
        "rows": rows, "total": total, "page": page, "pages": pages, "first": first,
        "last": first + len(rows) - 1 if rows else 0, "sort": sort, "sort_links": sort_links,
        "sortable": SORTABLE, "args": args, "errors": errors, "values": raw,
        "page_url": lambda n: _url(raw, page=n if n > 1 else None),
        "views": views, "current_query": current_query,
        "view_active": next((v.id for v in views if v.query == current_query), None),
        "area_filters": [(f, f.choices()) for f in registry().board_filters.values()],
        "officials": lead_officials(user), "can_assign": role_may(user, Action.CASE_ASSIGN_OWNER),
    }
    return context, 422 if errors else 200


# --- saved views -------------------------------------------------------------------------------

def _views_back(query: str = "") -> Response:
    return redirect(url_for("pages.board") + ("?" + query if query else ""))


def _clean_query(text: str) -> str:
    """The saved part of a board query string: the known keys, in a fixed order."""
    from urllib.parse import parse_qsl

    pairs = dict(parse_qsl(text.lstrip("?"), keep_blank_values=False))
    keys = VIEW_KEYS + tuple(registry().board_filters)
    return urlencode([(k, pairs[k][:200]) for k in keys if pairs.get(k)])


@bp.post("/board/views")
@login_required
def save_view():
    """Save the board's current filters and order under a name the user gives."""
    if not can(current_user, Action.BOARD_VIEW):
        abort(404)
    name = " ".join(request.form.get("name", "").split())[:40]
    query = _clean_query(request.form.get("query", ""))
    if not name:
        web.report(web.Outcome(status=422, message=_("请给视图起一个名字")))
        return _views_back(query)
    existing = db.session.execute(sa.select(SavedView).where(
        SavedView.user_id == current_user.id, SavedView.name == name)).scalar_one_or_none()
    if existing is not None:
        existing.query = query
        db.session.commit()
        web.report(web.Outcome(), _("视图“%(name)s”已更新", name=name))
        return _views_back(query)
    count = db.session.execute(sa.select(sa.func.count()).select_from(SavedView).where(
        SavedView.user_id == current_user.id)).scalar_one()
    if count >= VIEWS_MAX:
        web.report(web.Outcome(status=409, message=_("最多保存 %(n)s 个视图，请先删除不用的", n=VIEWS_MAX)))
        return _views_back(query)
    db.session.add(SavedView(user_id=current_user.id, name=name, query=query))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # the same name saved at the same moment from another tab
        db.session.rollback()
    web.report(web.Outcome(), _("视图“%(name)s”已保存", name=name))
    return _views_back(query)


@bp.post("/board/views/<int:view_id>/delete")
@login_required
def delete_view(view_id: int):
    """Delete one of one's own saved views (another user's is not found)."""
    deleted = db.session.execute(sa.delete(SavedView).where(
        SavedView.id == view_id, SavedView.user_id == current_user.id)).rowcount
    db.session.commit()
    if not deleted:
        raise NotFound("saved view")
    web.report(web.Outcome(), _("视图已删除"))
    return _views_back()


# --- bulk actions ----------------------------------------------------------------------------

EXPORT_COLUMNS = (_l("编号"), _l("标题"), _l("行政区划"), _l("状态"), _l("类别"), _l("包案领导"),
                  _l("最近期限"), _l("登记日期"), _l("责任单位"), _l("案情摘要"))


def _selected(user: User) -> list[Case]:
    """The ticked cases the user may see, in the order of the board (others are skipped)."""
    ids: list[int] = []
    for raw in request.form.getlist("case")[:BULK_MAX]:
        if raw.isdigit() and int(raw) not in ids:
            ids.append(int(raw))
    if not ids:
        return []
    found = {c.id: c for c in db.session.execute(
        filtered_cases(user, {}).where(Case.id.in_(ids))).scalars()}
    return [found[i] for i in ids if i in found]


def _export_rows(cases: list[Case]) -> list[list[Any]]:
    rows: list[list[Any]] = [[str(c) for c in EXPORT_COLUMNS]]
    for case in cases:
        view = case_view(case, detail=False)
        rows.append([view["reference"], view["title"], region_words(view["region_code"]),
                     labels.label(view["status"], "case_status"),
                     "、".join(str(k["category"]) for k in view["categories"]),
                     view["owner"]["name"] or "",
                     view["next_deadline_on"].isoformat() if view["next_deadline_on"] else "",
                     view["received_on"].isoformat() if view["received_on"] else "",
                     "、".join(view["departments"]), view["summary"]])
    return rows


@bp.post("/board/bulk")
@login_required
def bulk():
    """One action on the ticked rows: `do` = owner (with `lead_official_id`), export, print."""
    if not can(current_user, Action.BOARD_VIEW):
        abort(404)
    back = web.safe_next(request.form.get("next"), url_for("pages.board"))
    cases = _selected(current_user)
    action = request.form.get("do", "")
    if action not in ("owner", "export", "print"):
        abort(404)
    if not cases:
        web.report(web.Outcome(status=422, message=_("请先勾选案件")))
        return redirect(back)
    if action == "export":
        from mediation.supervision.excel import workbook_bytes

        data = workbook_bytes({str(_l("案件")): _export_rows(cases)})
        name = f"cases-{clock.today().strftime('%Y%m%d')}.xlsx"
        return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})
    if action == "print":
        return render_template("cases/board_print.html", cases=[case_view(c, detail=False) for c in cases],
                               printed_on=clock.today(), back=back)
    return _bulk_owner(cases, back)


def _bulk_owner(cases: list[Case], back: str) -> Response:
    raw = request.form.get("lead_official_id", "")
    official = db.session.get(User, int(raw)) if raw.isdigit() else None
    if official is None or official.role != Role.LEAD_OFFICIAL or not official.region:
        web.report(web.Outcome(status=422, message=_("请选择包案领导")))
        return redirect(back)
    level = region_level(official.region)
    done, refused = [], []
    for case in cases:
        case_id, reference = case.id, case.reference
        outcome = web.attempt(commands.assign_owner, current_user, case_id, official.id, level, None)
        if outcome.ok:
            done.append(reference)
        else:
            why = "；".join(web.message(m) for ms in outcome.errors.values() for m in ms)
            why = why or outcome.message or ""
            refused.append(f"{reference}（{why}）")
    name = official.display_name or official.username
    if done:
        web.report(web.Outcome(), _("已为 %(n)s 件案件确定包案领导：%(name)s", n=len(done), name=name))
    if refused:
        web.report(web.Outcome(status=409, message=_("以下案件未能确定：%(list)s", list="、".join(refused))))
    return redirect(back)


# --- search ------------------------------------------------------------------------------------

def may_search(user: User) -> bool:
    """Who has the header's search box: everyone who sees cases (evaluators see figures
    only, parties their agreements)."""
    return user.is_authenticated and user.role not in (Role.EVALUATOR, Role.PARTY)


@bp.get("/search")
@login_required
def search():
    """The cases the user may see matching every word typed; a full reference opens the case."""
    if not may_search(current_user):
        abort(404)
    q = " ".join(request.args.get("q", "").split())[:100]
    total, rows = 0, []
    if q:
        exact = db.session.execute(filtered_cases(current_user, {}).where(
            sa.func.upper(Case.reference) == q.upper())).scalar_one_or_none()
        if exact is not None:
            return redirect(url_for("pages.case_page", case_id=exact.id))
        rows, total, _page = page_of(
            sorted_cases(filtered_cases(current_user, {"q": q}), "-updated"), 1, SEARCH_SHOWN)
    return render_template("cases/search.html", q=q, total=total,
                           cases=[case_view(c, detail=False) for c in rows],
                           board=can(current_user, Action.BOARD_VIEW),
                           officials=role_may(current_user, Action.CASE_INTERNAL))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(may_search, "may_search")

"""The provider directory on pages: admins and supervisors list, search, add, change and
deactivate providers and decide capacity requests (官员 who read the directory see the
list); a provider's members set their own availability, leave (away until), specialities
and ask for another capacity ("我的服务设置").

Every form is loaded with the API's own schema (`ProviderIn`, `ProviderPatch`; the members'
form with `ProviderPatch` limited to `directory.SELF_SERVICE`) and runs the API's command
(`directory.create_provider`, `directory.update_provider`), so the validation is the API's:
a refused form comes back with each message beside its field, in the page's language
(`_localise`). A page a role has no business with is a 404, like a provider one may not see.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Flask, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from mediation import labels, web
from mediation.cases.models import LivelihoodField
from mediation.errors import NotFound
from mediation.extensions import db
from mediation.permissions import Action, can, roles_for
from mediation.users import PROVIDER_ROLES, User
from referrals import directory
from referrals import schemas as s
from referrals.models import MediationType, Provider, ProviderKind, ProviderMember

bp = web.page_blueprint("directory_pages", __name__)

PAGE_SIZE = 50
# Fields that a blank input clears on the edit forms (a blank input is otherwise "unchanged").
NULLABLE = {"away_until": None, "mediation_type": None, "requested_capacity": None,
            "capacity_request_note": None, "note": ""}


def init_app(app: Flask) -> None:
    """Register the pages and their links in the top bar."""
    app.register_blueprint(bp)
    web.add_nav(app, "directory_pages.providers", _l("服务力量名录"),
                roles_for(Action.PROVIDERS_EDIT, app), 60)
    web.add_nav(app, "directory_pages.my_provider", _l("我的服务设置"),
                roles_for(Action.REFERRALS_RESPOND, app), 22)


def _me() -> User:
    return current_user._get_current_object()


# --- the commands' English, in the page's language -----------------------------------------------

_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"^one of "), lambda m: _("请选择列表中的一项")),
    (re.compile(r"^a mediator needs one of "), lambda m: _("调解员须选择调解类型")),
    (re.compile(r"^only mediators have a mediation type$"), lambda m: _("只有调解员有调解类型")),
    (re.compile(r"^unknown field '(.*)'$"), lambda m: _("未知的专长领域：%(f)s", f=m[1])),
    (re.compile(r"^between 0 and 1000$"), lambda m: _("应在 0 到 1000 之间")),
    (re.compile(r"^at least one region served$"), lambda m: _("至少填写一个服务区域")),
    (re.compile(r"^(\w+): outside your jurisdiction (\w+)$"),
     lambda m: _("%(code)s：超出您的辖区（%(region)s）", code=m[1], region=m[2])),
    (re.compile(r"^(\d+): not a provider's user account$"),
     lambda m: _("%(id)s：不是服务力量的用户账号", id=m[1])),
    (re.compile(r"^(\d+): a (\w+) cannot act for a (\w+)$"),
     lambda m: _("%(id)s：%(role)s账号不能代表%(kind)s", id=m[1], role=labels.label(m[2], "role"),
                 kind=labels.label(m[3], "provider_kind"))),
    (re.compile(r"^(\d+): already acts for provider (\d+)$"),
     lambda m: _("%(id)s：已代表另一服务力量（编号 %(p)s）", id=m[1], p=m[2])),
    # A region code the table refuses ("5199: ..."): the code and the general words.
    (re.compile(r"^(\w+): .+$"), lambda m: _("%(code)s：行政区划代码不正确", code=m[1])),
]
_REFUSALS = {
    "the provider serves regions outside your jurisdiction": _l("该服务力量的服务区域超出您的辖区，不能修改"),
    "only admins and supervisors manage the directory": _l("只有管理员和督查人员可以管理名录"),
}


def _words(message: str) -> str:
    for pattern, words in _PATTERNS:
        m = pattern.match(message)
        if m:
            return str(words(m))
    return message


def _localise(outcome: web.Outcome) -> web.Outcome:
    """The messages in the page's language, a list item's (`specialities-1`) under its list."""
    errors: dict[str, list[str]] = {}
    for name, msgs in outcome.errors.items():
        errors.setdefault(re.sub(r"-\d+$", "", name), []).extend(_words(m) for m in msgs)
    outcome.errors = errors
    if outcome.status == 403:
        outcome.message = str(_REFUSALS.get(outcome.message or "", _("您无权进行此操作")))
    return outcome


# --- forms ---------------------------------------------------------------------------------------

def _form_in(schema: Any) -> dict[str, Any]:
    """The posted form as the API's body: blank inputs of nullable fields clear them."""
    data = web.form_data(schema)
    for name, blank in NULLABLE.items():
        if name in schema.fields and name in request.form and not request.form[name].strip():
            data[name] = blank
    return schema.load(data)


def _options() -> dict[str, Any]:
    members = dict(db.session.execute(sa.select(ProviderMember.user_id, ProviderMember.provider_id)).all())
    users = db.session.execute(sa.select(User).where(
        User.role.in_([r.value for r in PROVIDER_ROLES]), User.active.is_(True))
        .order_by(User.role, User.id)).scalars().all()
    return {
        "kinds": [(k.value, labels.label(k.value, "provider_kind")) for k in ProviderKind],
        "mediation_types": [(t.value, labels.label(t.value, "mediation_type")) for t in MediationType],
        "fields": [(f.value, labels.label(f.value, "livelihood")) for f in LivelihoodField],
        "users": [(str(u.id), f"{u.display_name or u.username}（{labels.label(u.role, 'role')}）",
                   members.get(u.id)) for u in users],
    }


def _provider_values(p: Provider) -> dict[str, Any]:
    """A provider as the form's initial values."""
    return {"name": p.name, "kind": p.kind, "mediation_type": p.mediation_type or "",
            "regions": ", ".join(p.region_codes), "capacity": p.capacity,
            "away_until": p.away_until.isoformat() if p.away_until else "",
            "conflicts": "\n".join(p.conflicts or []), "note": p.note or "",
            "requested_capacity": p.requested_capacity if p.requested_capacity is not None else "",
            "capacity_request_note": p.capacity_request_note or ""}


def _editor() -> User:
    user = _me()
    if not can(user, Action.PROVIDERS_EDIT):
        raise NotFound("page")
    return user


# --- the directory (admins and supervisors; officials read it) --------------------------------------

@bp.get("/providers")
@login_required
def providers():
    """The directory: search by name, filter by kind, region, availability and state."""
    user = _me()
    if not can(user, Action.PROVIDERS_READ_ALL):
        raise NotFound("page")
    raw = {k: v for k, v in request.args.items() if v.strip() and k in s.ProviderListArgs().fields}
    outcome = web.attempt(s.ProviderListArgs().load, raw)
    args = outcome.value if outcome.ok else {"page": 1, "page_size": PAGE_SIZE}
    args.setdefault("page_size", PAGE_SIZE)
    items, total = directory.list_providers(user, args)
    pending = db.session.execute(sa.select(sa.func.count()).select_from(Provider).where(
        Provider.requested_capacity.is_not(None))).scalar_one()
    return web.render_page("referrals/directory.html", status=outcome.status if not outcome.ok else 200,
                           items=items, total=total, page=args.get("page", 1), page_size=args["page_size"],
                           args=request.args, errors=_localise(outcome).errors, pending=pending,
                           can_edit=can(user, Action.PROVIDERS_EDIT), **_options())


@bp.route("/providers/new", methods=["GET", "POST"])
@login_required
def new_provider():
    """Add a provider (the API's `ProviderIn` and `create_provider`)."""
    user = _editor()
    outcome = None
    if request.method == "POST":
        outcome = _localise(web.attempt(lambda: directory.create_provider(user, _form_in(s.ProviderIn()))))
        if outcome.ok:
            web.report(outcome, _("已添加到名录"))
            return redirect(url_for("directory_pages.edit_provider", provider_id=outcome.value.id))
    return web.render_page("referrals/provider_form.html", status=outcome.status if outcome else 200,
                           provider=None, outcome=outcome, errors=outcome.errors if outcome else {},
                           values=request.form if outcome else {"capacity": 5}, chosen_fields=[],
                           chosen_users=[], available=True, **_options())


@bp.route("/providers/<int:provider_id>/edit", methods=["GET", "POST"])
@login_required
def edit_provider(provider_id: int):
    """Change a provider (the API's `ProviderPatch` and `update_provider`)."""
    user = _editor()
    provider = directory.get_provider(user, provider_id)
    outcome = None
    if request.method == "POST":
        def run() -> Provider:
            data = _form_in(s.ProviderPatch())
            if data.get("capacity") == provider.capacity:  # unchanged: a pending request stays
                del data["capacity"]
            return directory.update_provider(user, provider.id, data)

        outcome = _localise(web.attempt(run))
        if outcome.ok:
            web.report(outcome, _("已保存"))
            return redirect(url_for("directory_pages.edit_provider", provider_id=provider.id))
        db.session.rollback()
        provider = directory.get_provider(user, provider_id)
    return web.render_page("referrals/provider_form.html", status=outcome.status if outcome else 200,
                           provider=provider, outcome=outcome, errors=outcome.errors if outcome else {},
                           values=request.form if outcome else _provider_values(provider),
                           chosen_fields=provider.specialities or [],
                           chosen_users=[str(m.user_id) for m in provider.members],
                           available=provider.available, **_options())


@bp.post("/providers/<int:provider_id>/active")
@login_required
def set_active(provider_id: int):
    """Deactivate a provider (no new offers; its live referrals stay) or take it back."""
    user = _editor()
    active = request.form.get("active") == "1"
    outcome = _localise(web.attempt(directory.update_provider, user, provider_id, {"active": active}))
    web.report(outcome, _("已恢复，可再接收转介") if active else _("已停用，不再接收新的转介"))
    return redirect(url_for("directory_pages.edit_provider", provider_id=provider_id))


@bp.post("/providers/<int:provider_id>/capacity-request")
@login_required
def decide_capacity(provider_id: int):
    """Grant a member's capacity request (the capacity becomes the number asked for) or refuse it."""
    user = _editor()
    provider = directory.get_provider(user, provider_id)
    if provider.requested_capacity is None:
        web.report(web.Outcome(status=409, message=_("没有待处理的承接量申请")))
        return redirect(url_for("directory_pages.edit_provider", provider_id=provider_id))
    grant = request.form.get("decision") == "grant"
    body = {"capacity": provider.requested_capacity} if grant else {"requested_capacity": None}
    outcome = _localise(web.attempt(directory.update_provider, user, provider_id, body))
    web.report(outcome, _("已同意，承接量已调整") if grant else _("已不同意该申请"))
    return redirect(url_for("directory_pages.edit_provider", provider_id=provider_id))


# --- the members' own settings ----------------------------------------------------------------------

@bp.route("/my-provider", methods=["GET", "POST"])
@login_required
def my_provider():
    """A provider's member sets availability, leave, specialities, and asks for a capacity."""
    user = _me()
    if not can(user, Action.REFERRALS_RESPOND):
        raise NotFound("page")
    member = db.session.get(ProviderMember, user.id)
    provider = directory.get_provider(user, member.provider_id) if member else None
    outcome = None
    if request.method == "POST":
        if provider is None:
            raise NotFound("provider")
        schema = s.ProviderPatch(only=sorted(directory.SELF_SERVICE))
        outcome = _localise(web.attempt(
            lambda: directory.update_provider(user, provider.id, _form_in(schema))))
        if outcome.ok:
            web.report(outcome, _("已保存"))
            return redirect(url_for("directory_pages.my_provider"))
        db.session.rollback()
        provider = directory.get_provider(user, member.provider_id)
    return web.render_page("referrals/my_provider.html", status=outcome.status if outcome else 200,
                           provider=provider, outcome=outcome, errors=outcome.errors if outcome else {},
                           values=request.form if outcome else (
                               _provider_values(provider) if provider else {}),
                           chosen_fields=provider.specialities if provider else [],
                           available=provider.available if provider else True, **_options())

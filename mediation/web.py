"""What every page shares: forms run through the API's own schemas and commands, errors shown
next to their fields, and live parts of a page re-rendered by the server.

A page's form posts to the page (CSRF-checked by Flask-WTF); the view loads the form with
the same marshmallow schema the API uses and calls the same command, so a rule is written
once. `submit` returns an `Outcome`: on success the view redirects (post/redirect/get); on
failure it renders the page again with the values typed and each field's message beside
the field (422), or a message at the top for a refused state change (409, naming the
current state) or a refused action (403). Unknown or invisible things are 404 pages, raised
as `NotFound` anywhere in a page view (the blueprints from `page_blueprint` handle it).

Templates live in one folder per area (`templates/cases/`, `templates/sessions/`, …); the
layout (`base.html`), the shared macros and the error page stay at the top.

Live parts: a page includes `templates/<area>/parts/<name>.html` inside `{{ live_part(...) }}`;
`/static/js/pages.js` fetches `<the page's URL>?part=<name>` when an event of the named
cases and types arrives and swaps the part in. `render_page` serves both: the whole page,
or just the asked-for part with the same context, so the two can never disagree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import Blueprint, Flask, current_app, flash, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from mediation import clock
from mediation.about import template_folder
from mediation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from mediation.refusals import refusal_words, state_words

TEMPLATES = template_folder()
_PART_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

# marshmallow's and the commands' commonest messages, in the pages' languages; anything else
# is shown as the command wrote it.
_MESSAGES = {
    "Missing data for required field.": _l("必填项"),
    "Field may not be null.": _l("必填项"),
    "Not a valid date.": _l("日期格式不正确（年-月-日）"),
    "Not a valid datetime.": _l("时间格式不正确"),
    "Not a valid integer.": _l("请输入整数"),
    "Not a valid number.": _l("请输入数字"),
    "Not a valid string.": _l("请输入文字"),
    "Unknown field.": _l("未知字段"),
    "Not a valid list.": _l("格式不正确"),
    "cannot be in the future": _l("不能晚于今天"),
    "a case with no category is listed only with the officer's reason":
        _l("未归入六类积案的案件，须填写纳入理由"),
    "say why the case leaves the action": _l("请填写移出专项行动的理由"),
    "the case is already in the action": _l("本案已纳入专项行动"),
    "the case is not in the action": _l("本案未纳入专项行动"),
    "an 18-character resident identity number": _l("请填写18位居民身份证号码"),
    "a mobile (11 digits) or landline number": _l("请填写11位手机号码或固定电话号码"),
    "a GB/T 2260 code: 2, 4 or 6 digits, e.g. 51, 5101, 510104": _l("请填写2、4或6位行政区划代码，如510104"),
}


def message(text: Any) -> str:
    """One error message in the page's language where we know it."""
    text = str(text)
    if text in _MESSAGES:
        return str(_MESSAGES[text])
    if text.startswith("Must be one of"):
        return _("请选择列表中的一项")
    if text.startswith("Length must be between") or text.startswith("Shorter than"):
        return _("长度不符合要求") + f"（{text}）"
    return text


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested errors -> {"petitioners-0-phone": [...], "title": [...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = f"{prefix}-{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "_form"
            if isinstance(value, dict):
                flat.update(flatten_errors(value, name))
            else:
                msgs = value if isinstance(value, list) else [value]
                flat.setdefault(name, []).extend(message(m) for m in msgs if not isinstance(m, dict))
                for m in msgs:
                    if isinstance(m, dict):
                        flat.update(flatten_errors(m, name))
    elif errors:
        flat.setdefault(prefix or "_form", []).append(message(errors))
    return flat


def form_data(schema: ma.Schema, form: MultiDict | None = None, prefix: str = "") -> dict[str, Any]:
    """A submitted form as the dict the API schema loads.

    List fields come from repeated inputs (checkboxes, multi-selects) or one comma/newline
    separated text; a list of nested objects from inputs named `<field>-<i>-<name>` (rows of
    a table); blank inputs are left out, so optional fields keep their defaults.
    """
    form = request.form if form is None else form
    data: dict[str, Any] = {}
    for name, fld in schema.fields.items():
        if fld.dump_only:
            continue
        key = f"{prefix}{fld.data_key or name}"
        if isinstance(fld, ma.fields.List) and isinstance(fld.inner, ma.fields.Nested):
            rows = []
            for i in range(50):
                row_prefix = f"{key}-{i}-"
                if not any(k.startswith(row_prefix) for k in form):
                    break
                row = form_data(fld.inner.schema, form, row_prefix)
                if any(v not in ([], "", None) for v in row.values()):  # a blank row is no row
                    rows.append(row)
            if rows:
                data[fld.data_key or name] = rows
        elif isinstance(fld, ma.fields.List):
            values = [v.strip() for v in form.getlist(key) if v.strip()]
            if len(values) == 1 and not isinstance(fld.inner, ma.fields.Integer):
                values = [v.strip() for v in re.split(r"[\n,，、]", values[0]) if v.strip()]
            if values or f"{key}-present" in form:  # an emptied checkbox group clears the list
                data[fld.data_key or name] = values
        elif isinstance(fld, ma.fields.Boolean):
            if key in form:
                data[fld.data_key or name] = form.get(key) not in ("", "0", "false", "off")
        else:
            value = form.get(key, "")
            if value.strip():
                data[fld.data_key or name] = value.strip()
    return data


@dataclass
class Outcome:
    """What a page's action came to: the command's result, or what to show instead."""

    value: Any = None
    status: int = 200
    errors: dict[str, list[str]] = field(default_factory=dict)
    message: str | None = None
    current_state: Any = None
    # What else a refusal carried (e.g. the candidates of a possible repeat petition).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Run a command; turn what it refuses into an Outcome (NotFound goes on, to be a 404)."""
    try:
        return Outcome(fn(*args, **kwargs))
    except ma.ValidationError as exc:
        return Outcome(status=422, errors=flatten_errors(exc.messages), message=_("请检查标红的项目"))
    except Invalid as exc:
        return Outcome(status=422, errors=flatten_errors(exc.extra.get("errors") or {}),
                       message=_("请检查标红的项目"))
    except Conflict as exc:
        return Outcome(status=409, message=refusal_words(exc.message),
                       current_state=exc.extra.get("current_state"),
                       extra={k: v for k, v in exc.extra.items() if k != "current_state"})
    except Forbidden as exc:
        return Outcome(status=403, message=refusal_words(exc.message))
    except NotFound:
        raise
    except DomainError as exc:  # e.g. 429 too many messages or changes
        if exc.status == 429:
            return Outcome(status=429, message=_("操作过于频繁，请稍后再试"))
        return Outcome(status=exc.status, message=refusal_words(exc.message))


def submit(schema: ma.Schema, command: Callable[..., Any], *args: Any) -> Outcome:
    """Load the posted form with the API's schema and call the command with it last."""
    return attempt(lambda: command(*args, schema.load(form_data(schema))))


def report(outcome: Outcome, success: str | None = None) -> None:
    """Say how an action went at the top of the next page (flash)."""
    if outcome.ok:
        if success:
            flash(success, "ok")
        return
    text = outcome.message or _("操作未完成")
    if outcome.current_state:
        text += "（" + _("当前状态") + f"：{state_words(outcome.current_state)}）"
    for name, msgs in outcome.errors.items():
        text += f" {name}: {'；'.join(msgs)}"
    flash(text, "error")


@cache
def _parts() -> dict[str, str]:
    """Every live part's template by the part's name: `templates/<area>/parts/<name>.html`.

    A part's name is its identity on the page (its element's id, `?part=<name>`, a case
    section's or board column's name), so the name alone finds the file and two areas may
    not both bring a part of the same name.
    """
    found: dict[str, str] = {}
    for path in sorted(TEMPLATES.glob("*/parts/*.html")):
        rel = path.relative_to(TEMPLATES).as_posix()
        if path.stem in found:
            raise RuntimeError(f"two live parts named {path.stem!r}: {found[path.stem]} and {rel}")
        found[path.stem] = rel
    return found


def part_template(name: str) -> str:
    """The template of the live part `name`, e.g. "sessions/parts/case_sessions.html"."""
    template = _parts().get(name) if _PART_NAME.match(name) else None
    if template is None:
        raise NotFound("part")
    return template


def render_page(template: str, status: int = 200, **context: Any):
    """The whole page, or with `?part=<name>` only that live part (same context)."""
    part = request.args.get("part")
    if part is not None:
        response = render_template(part_template(part), **context)
        return response, status, {"Cache-Control": "no-store"}
    return render_template(template, **context), status


def live_part(name: str, cases: Any = "*", on: str = "", tag: str = "div", **attrs: Any) -> Markup:
    """The opening tag of a live part: `{{ live_part("referrals", case.id, "referral.") }}`.

    `cases`: a case id, a list of ids, or "*" for any event this page receives; `on`: the
    event-type prefixes (comma-separated) that change it, empty for every event.
    """
    ids = "*" if cases == "*" else ",".join(str(c) for c in (cases if isinstance(cases, list | tuple | set)
                                                             else [cases]))
    extra = "".join(f' {escape(k.replace("_", "-"))}="{escape(v)}"' for k, v in attrs.items())
    return Markup(f'<{tag} id="part-{escape(name)}" data-part="{escape(name)}" data-cases="{escape(ids)}"'
                  f' data-on="{escape(on)}" aria-live="polite"{extra}>')


def page_blueprint(name: str, import_name: str, **kwargs: Any) -> Blueprint:
    """A blueprint whose views answer domain errors with pages, not JSON."""
    bp = Blueprint(name, import_name, **kwargs)

    @bp.errorhandler(DomainError)
    def domain_error(err: DomainError):
        return render_template("error.html", error=err), err.status

    return bp


@dataclass(frozen=True)
class NavLink:
    """A link in the navigation bar, shown to users of `roles`, by `order`."""

    endpoint: str
    words: Any
    roles: frozenset[str]
    order: int = 50


def add_nav(app: Flask, endpoint: str, words: Any, roles: set[str] | frozenset[str], order: int = 50) -> None:
    """Show a link to `endpoint` in the bar for users of these roles (each area its pages)."""
    from mediation.registry import registry

    registry(app).nav_links.register(endpoint, NavLink(endpoint, words, frozenset(roles), order))


def nav_for(user: Any) -> list[tuple[str, str]]:
    """(endpoint, words) of the links the user's role sees, in order."""
    from mediation.registry import registry

    if not getattr(user, "is_authenticated", False):
        return []
    views = current_app.view_functions
    links = sorted(registry().nav_links.values(), key=lambda n: n.order)
    return [(n.endpoint, str(n.words)) for n in links if user.role in n.roles and n.endpoint in views]


# The bar shows the first links (by their order); the rest go under "更多" (a <details>
# menu), so that the header stays one line at 1280 px for every role in Chinese (English
# takes two: its site title alone is some 420 px)
# (tests/test_browser_header.py measures it). Even a fourth link alone goes
# under "更多": the mediator's four links do not fit beside the search box otherwise.
NAV_SHOWN = 3


def nav_groups(user: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The user's links split into (shown in the bar, under "更多"), in order."""
    links = nav_for(user)
    return links[:NAV_SHOWN], links[NAV_SHOWN:]


def china_time(moment: dt.datetime | str | None, fmt: str = "%Y-%m-%d %H:%M", blank: str = "—") -> str:
    """A moment (datetime or ISO text; naive means UTC) in the service's time zone
    (MEDIATION_TIMEZONE, Beijing time by default), to the minute; the data keeps UTC."""
    if moment is None or moment == "":
        return blank
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return clock.local(moment).strftime(fmt)


# C0 controls and DEL: browsers drop tabs and newlines inside URLs, so "/\t/evil" would
# reach them as "//evil".
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(target: str | None, default: str) -> str:
    r"""Where to go after a form (`?next=`): a path on this site, else `default`.

    Control characters are removed first; then anything with a scheme or a host is refused,
    including the forms browsers read as another host (`//evil`, `\\evil`, `/\evil`).
    An open redirect would let a phishing link borrow our login page."""
    if not target:
        return default
    cleaned = _CONTROL.sub("", target).strip().replace("\\", "/")  # browsers read \ as /
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or not cleaned.startswith("/") or cleaned.startswith("//"):
        return default
    return cleaned


def init_app(app: Flask) -> None:
    app.add_template_filter(china_time, "china_time")
    app.add_template_global(live_part, "live_part")
    app.add_template_global(part_template, "part_template")
    app.add_template_global(nav_for, "nav_for")
    app.add_template_global(nav_groups, "nav_groups")

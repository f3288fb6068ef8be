"""Security headers and the content security policy, on every response (flask-talisman).

Everything the pages load comes from the app itself: scripts, styles, images, fonts and
connections are 'self' only, nothing inline, no CDN. HTTPS is not forced and the session
cookie is not marked Secure, because the demo runs on plain HTTP; put TLS in front (and
set SESSION_COOKIE_SECURE) in production.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import re
from types import SimpleNamespace
from typing import Any

from flask import Flask, Request, Response, current_app, request
from flask_talisman import Talisman
from werkzeug.datastructures import Headers

from mediation.about import template_folder


class FixedPolicyTalisman(Talisman):
    """Talisman writing each policy's header text once. The policies here are fixed dicts
    and no nonce is made (`content_security_policy_nonce_in` is unset), so the text of a
    policy never changes; Talisman itself would build it again on every response."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._policy_texts: dict[int, tuple[Any, str]] = {}
        super().__init__(*args, **kwargs)

    def _parse_policy(self, policy: Any) -> str:
        if not isinstance(policy, dict) or getattr(request, "csp_nonce", None):
            return super()._parse_policy(policy)
        known = self._policy_texts.get(id(policy))
        if known is None or known[0] is not policy:
            known = self._policy_texts[id(policy)] = (policy, super()._parse_policy(policy))
        return known[1]

    # What Talisman works out per request from the view and its own settings (the options it
    # merges, the headers it writes) is the same for every request to a view: it is kept on
    # the view function, with the view's own options it came from (a change of them is seen).
    # Not when a nonce is made or HSTS is on: those depend on the request.

    def _view_record(self) -> list[Any] | None:
        view = current_app.view_functions.get(request.endpoint)  # type: ignore[arg-type]
        if view is None:
            return None
        record = getattr(view, "_mediation_talisman", None)
        source = getattr(view, "talisman_view_options", None)
        if record is None or record[0] is not source:
            record = [source, super()._get_local_options(), None]
            with contextlib.suppress(AttributeError):  # a callable without attributes: not kept
                view._mediation_talisman = record
        return record

    def _get_local_options(self) -> dict[str, Any]:
        record = self._view_record()
        return record[1] if record is not None else super()._get_local_options()

    def _force_https(self) -> Any:
        # Talisman redirects only where force_https is on (it is off here); what else it
        # does then is to mark the session cookie Secure when asked to.
        if self.session_cookie_secure or self._get_local_options()["force_https"]:
            return super()._force_https()
        return None

    def _set_response_headers(self, response: Response) -> Response:
        record = self._view_record()
        if (record is None or self.strict_transport_security or record[1]["content_security_policy_nonce_in"]
                or getattr(request, "csp_nonce", None)):
            return super()._set_response_headers(response)
        if record[2] is None:
            scratch = SimpleNamespace(headers=Headers())
            super()._set_response_headers(scratch)  # type: ignore[arg-type]
            record[2] = list(scratch.headers.items())
        headers = response.headers
        for name, value in record[2]:  # in Talisman's order, set as it sets them
            headers[name] = value
        return response


talisman = FixedPolicyTalisman()

SELF = "'self'"
CSP = {
    "default-src": SELF,
    "script-src": SELF,
    "style-src": SELF,
    "img-src": SELF,
    "font-src": SELF,
    # 'self' covers ws:/wss: on the same host and port in CSP Level 3 browsers, which is
    # what the Socket.IO client uses.
    "connect-src": SELF,
    "object-src": "'none'",
    "base-uri": SELF,
    "form-action": SELF,
    "frame-ancestors": SELF,
}

# The Swagger UI at /api/docs comes from flask-swagger-ui, whose page starts itself with an
# inline <script> (its config is written into it per request, so no fixed hash fits) and
# whose bundle sets inline styles and uses data: images for its icons. A nonce would mean
# forking the package's template; instead that one route is exempted: it may run inline
# script and styles and show data: images, but still loads and connects only to the app
# itself. It renders no user data (the spec it fetches is the same for everyone), so the
# inline allowance opens no injection path that the strict policy elsewhere closes.
DOCS_CSP = {**CSP,
            "script-src": f"{SELF} 'unsafe-inline'",
            "style-src": f"{SELF} 'unsafe-inline'",
            "img-src": f"{SELF} data:"}


def _style_hashes(template: str) -> str:
    """'sha256-…' sources for the inline <style> blocks of a static template."""
    text = (template_folder() / template).read_text(encoding="utf-8")
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"
        for css in re.findall(r"<style>(.*?)</style>", text, flags=re.S))


def _route_policy(app: Flask, endpoint: str, policy: dict[str, str]) -> None:
    view = app.view_functions.get(endpoint)
    if view is not None:
        view.talisman_view_options = {"content_security_policy": policy}


# Headers for the Socket.IO endpoint, which python-socketio answers below Flask (so neither
# Talisman nor any after_request hook sees it): nothing there is a page to frame or sniff.
SOCKET_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Cache-Control", "no-store"),
]


class SocketHeaders:
    """WSGI middleware: the security headers on every /socket.io/ response."""

    def __init__(self, wsgi_app: Any, path: str = "/socket.io") -> None:
        self.wsgi_app = wsgi_app
        self.path = path

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith(self.path):
            return self.wsgi_app(environ, start_response)

        def with_headers(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers = headers + [(n, v) for n, v in SOCKET_HEADERS if n.lower() not in present]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.wsgi_app(environ, with_headers)


class MemoryUploadsRequest(Request):
    """Uploaded files stay in memory (the body is capped at MAX_CONTENT_LENGTH, 1 MB):
    werkzeug would spool a larger one to a temporary file, and a ledger holds identity
    numbers in clear."""

    def _upload_view(self) -> Any:
        """The view class when it streams its uploads to disk itself (documents): it
        names `upload_stream()` (a file for each upload) and `upload_request_limit()`."""
        from flask import current_app

        view = current_app.view_functions.get(self.endpoint or "") if current_app else None
        view = getattr(view, "view_class", view)
        return view if hasattr(view, "upload_stream") else None

    @property
    def max_content_length(self) -> int | None:
        view = self._upload_view() if self.url_rule is not None else None
        return view.upload_request_limit() if view is not None else super().max_content_length

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> Any:
        view = self._upload_view() if self.url_rule is not None else None
        return view.upload_stream() if view is not None else io.BytesIO()


def _no_store(response: Response) -> Response:
    """Pages and API answers may hold personal data: no browser or proxy keeps a copy.
    Only the static files (the same for everyone) may be cached."""
    endpoint = request.endpoint or ""
    if endpoint != "static" and not endpoint.endswith(".static"):
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
    return response


# Survey links carry their one-time token in the path; the access logs (werkzeug's in
# `mediation serve`, gunicorn's, the app's own access line) must not keep it.
_SURVEY_TOKEN = re.compile(r"(/(?:api/)?surveys?/)[^/?#\s\"]+")


class RedactSurveyTokens(logging.Filter):
    """Replace survey tokens in a log line by [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/survey" in message:
            record.msg, record.args = _SURVEY_TOKEN.sub(r"\1[redacted]", message), None
        return True


def install_log_redaction() -> None:
    for name in ("werkzeug", "gunicorn.access", "mediation.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSurveyTokens) for f in logger.filters):
            logger.addFilter(RedactSurveyTokens())


def init_app(app: Flask) -> None:
    """After the blueprints: the per-route policies attach to their view functions."""
    talisman.init_app(
        app,
        force_https=False,
        strict_transport_security=False,
        session_cookie_secure=False,
        content_security_policy=CSP,
        frame_options="SAMEORIGIN",
        referrer_policy="strict-origin-when-cross-origin",
    )
    _route_policy(app, "swagger_ui.show", DOCS_CSP)
    app.request_class = MemoryUploadsRequest
    app.after_request(_no_store)
    # Outside the Socket.IO middleware (the plugins installed it before this runs).
    app.wsgi_app = SocketHeaders(app.wsgi_app)  # type: ignore[method-assign]
    install_log_redaction()
    # The printable agreement carries its A4 layout in an inline <style>: allow exactly
    # that block by its hash, nothing else inline.
    hashes = _style_hashes("sessions/agreement_print.html")
    if hashes:
        _route_policy(app, "agreement_pages.print_agreement",
                      {**CSP, "style-src": f"{SELF} {hashes}"})

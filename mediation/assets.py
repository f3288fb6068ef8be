"""Static files sent small and kept long: fingerprinted URLs, gzip, and the favicon.

Decisions:
- Every `url_for('static', filename=…)` carries `v=<the first 12 hex digits of the file's
  SHA-256>`. A request naming the file's current fingerprint is answered with
  `Cache-Control: public, max-age=31536000, immutable`: the browser never asks again, and a
  changed file has a new URL. A request without it (an ES module's relative `import`, an old
  page) gets `no-cache` with the ETag Flask sets, so it is revalidated and never stale.
- Text assets (CSS, JavaScript, SVG, JSON) are sent gzip-compressed when the browser
  accepts gzip, compressed once per file version and kept in memory (they are few and
  small). Brotli would need a compiled package for a few percent more; gzip is the
  standard library's. A reverse proxy that compresses too leaves these alone (it sees the
  Content-Encoding).
- `/favicon.ico`, which browsers ask for on pages that name no icon, is the SVG icon.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from typing import Any

from flask import Flask, Response, redirect, request, url_for

YEAR = 31_536_000
COMPRESSIBLE = {"text/css", "text/javascript", "application/javascript", "image/svg+xml",
                "application/json", "text/plain"}
MIN_SIZE = 512  # smaller files gain nothing from compression


@lru_cache(maxsize=512)
def _fingerprint(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


@lru_cache(maxsize=256)
def _gzipped(path: str, mtime_ns: int, size: int) -> bytes:
    with open(path, "rb") as f:
        return gzip.compress(f.read(), compresslevel=9, mtime=0)


def _file(app: Flask, filename: str) -> tuple[str, int, int] | None:
    folder = app.static_folder
    if not folder or not filename:
        return None
    path = os.path.realpath(os.path.join(folder, filename))
    if not path.startswith(os.path.realpath(folder) + os.sep):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return path, st.st_mtime_ns, st.st_size


def fingerprint(app: Flask, filename: str) -> str | None:
    """The current fingerprint of a static file, or None if there is no such file."""
    found = _file(app, filename)
    return _fingerprint(*found) if found else None


def init_app(app: Flask) -> None:
    @app.url_defaults
    def _versioned(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            v = fingerprint(app, values["filename"])
            if v:
                values["v"] = v

    @app.after_request
    def _static_caching(response: Response) -> Response:
        if request.endpoint != "static":
            return response
        filename = (request.view_args or {}).get("filename", "")
        found = _file(app, filename)
        if found is None or response.status_code not in (200, 304):
            return response
        if request.args.get("v") == _fingerprint(*found):
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        response.vary.add("Accept-Encoding")
        if (response.status_code == 200 and response.mimetype in COMPRESSIBLE
                and found[2] >= MIN_SIZE and "Content-Range" not in response.headers
                and "Content-Encoding" not in response.headers
                and "gzip" in request.accept_encodings):
            etag, _weak = response.get_etag()
            gz_etag = f"{etag}-gz" if etag else None
            if gz_etag and request.if_none_match.contains(gz_etag):
                response.status_code = 304
                response.set_data(b"")
                response.headers.pop("Content-Length", None)
                response.set_etag(gz_etag)
                return response
            response.direct_passthrough = False
            response.set_data(_gzipped(*found))
            response.headers["Content-Encoding"] = "gzip"
            if gz_etag:
                response.set_etag(gz_etag)
        return response

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return redirect(url_for("static", filename="favicon.svg"), 301)  # type: ignore[return-value]

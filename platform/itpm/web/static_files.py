"""Static files: every URL the app builds for one carries the file's version (`?v=`), and a versioned
file is kept by the browser for a year, so a page asks for none of its two dozen scripts, stylesheets,
fonts and images again. A changed file has a new version, hence a new URL.

Without this a browser revalidated each of them on every page (24 conditional requests a page, each a
request to a web worker). A file named from inside a stylesheet (a font, an icon sheet) has no version
in its URL: it is kept for an hour, then revalidated.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

from flask import Flask, Response, request
from werkzeug.security import safe_join

#: How long a browser keeps a file whose URL carries its version: a year (RFC 9111's customary most).
VERSIONED_MAX_AGE = 365 * 24 * 3600
#: How long it keeps one without (named from a stylesheet): an hour.
UNVERSIONED_MAX_AGE = 3600


def install(app: Flask) -> None:
    @app.url_defaults
    def _versioned(endpoint: str | None, values: dict[str, Any]) -> None:
        if not _is_static(endpoint) or "v" in values or not values.get("filename"):
            return
        folder = (
            app.static_folder
            if endpoint == "static"
            else app.blueprints[endpoint.removesuffix(".static")].static_folder
        )
        version = file_version(folder, values["filename"]) if folder else None
        if version:
            values["v"] = version

    @app.after_request
    def _kept(response: Response) -> Response:
        if _is_static(request.endpoint) and response.status_code in (200, 304):
            control = response.cache_control
            control.no_cache = None
            control.public = True
            control.max_age = VERSIONED_MAX_AGE if request.args.get("v") else UNVERSIONED_MAX_AGE
            control.immutable = bool(request.args.get("v"))
        return response


def _is_static(endpoint: str | None) -> bool:
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))


def file_version(folder: str, filename: str) -> str | None:
    """The first 12 hex digits of the file's SHA-256, or None when there is no such file."""
    path = safe_join(folder, filename)
    try:
        found = os.stat(path) if path else None
    except OSError:
        return None
    return _digest(path, found.st_mtime_ns, found.st_size) if found else None


@lru_cache(maxsize=4096)
def _digest(path: str, _mtime_ns: int, _size: int) -> str:
    """Read once per version of the file (its modification time and size are part of the key)."""
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:12]

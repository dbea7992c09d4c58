"""Text with a NUL character (U+0000) is refused at the API's door, naming where it is.

PostgreSQL's text and JSONB cannot hold U+0000, so such a value reached the
database and came back as a 500; SQLite would store it. An address that holds
one names nothing (404), a query parameter is a 400, a JSON body a 422 with the
JSON path of the first value or key that does, on either database: nothing is written.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from itpm.definitions.problems import pointer
from itpm.records.values import nul_path


def install(app: Flask) -> None:
    app.before_request(_refuse_nul)


def _refuse_nul() -> Any:
    if not request.path.startswith("/api/"):
        return None
    if any(isinstance(v, str) and "\x00" in v for v in (request.view_args or {}).values()):
        return jsonify(message="There is no such resource: its address holds a NUL character (U+0000)."), 404
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            message = f"The query parameter {name.replace(chr(0), '?')!r} holds a NUL character (U+0000)."
            return jsonify(message=message), 400
    if request.is_json:
        path = nul_path(request.get_json(silent=True), [])
        if path is not None:
            return jsonify(
                message="Text may not hold the NUL character (U+0000).",
                errors=[{"path": pointer(path), "message": "must not hold the NUL character (U+0000)"}],
            ), 422
    return None

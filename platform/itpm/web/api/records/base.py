"""What every API endpoint of a record type stands on: its type, its permissions, its errors
and its JSON body. The endpoints are mixins over this base, one module per concern,
combined into one API class per record type by `itpm.web.api.records`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, request
from flask_appbuilder.api import BaseApi

from itpm.permissions import RECORD_PERMISSIONS
from itpm.records.fields import RecordTypeSpec
from itpm.records.service import RecordError
from itpm.web.context import current_catalog

#: The largest JSON body a record request may have.
MAX_BODY_BYTES = 1024 * 1024


class RecordApiBase(BaseApi):
    """What the endpoints of one record type share; `RecordApi` puts them together."""

    type_name = ""
    base_permissions = list(RECORD_PERMISSIONS)
    method_permission_name = {
        "get_list": "list",
        "get": "show",
        "history": "show",
        "comments": "show",
        "add_comment": "show",
        "post": "add",
        "put": "edit",
        "delete": "delete",
        "export": "export",
        "export_xlsx": "export",
        "transitions": "show",
        "take_transition": "show",
        "forecast": "show",
    }
    allow_browser_login = True

    def _spec(self) -> RecordTypeSpec:
        return current_catalog().record_types[self.type_name]

    def _error(self, error: RecordError) -> Response:
        return self.response(error.status, **error.as_json())

    def _body(self, keys: Iterable[str] | None = None) -> dict[str, Any] | Response:
        """The request's JSON object, or the error response: too large, not an object, or (given the
        `keys` it may have) with keys it may not have."""
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return self.response(413, message=f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response(
                422,
                message="The request body must be a JSON object.",
                errors=[{"path": "/", "message": "must be a JSON object"}],
            )
        unknown = [k for k in payload if keys is not None and k not in keys]
        if unknown:
            return self.response(
                422,
                message="The request has unknown keys.",
                errors=[{"path": f"/{k}", "message": "is not a known key"} for k in unknown],
            )
        return payload

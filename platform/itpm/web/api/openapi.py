"""The OpenAPI document at /api/v1/_openapi: Flask-AppBuilder's, saying only what this installation does.

Flask-AppBuilder marks every protected operation as open to `jwt` or `api_key`,
and describes the `api_key` scheme, whether or not API keys are enabled
(FAB_API_KEY_ENABLED); a client that believed it would send keys that are
refused. Here the scheme and its mentions go unless keys are enabled. The record
types' own parts of the document are `itpm.web.api.records.openapi`.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.api.manager import OpenApi as FabOpenApi


class OpenApi(FabOpenApi):
    """Flask-AppBuilder's view of the document (same name, route and permission), checked on the way out."""

    @expose("/<version>/_openapi")
    @protect()
    @safe
    def get(self, version: str) -> Response:
        """The OpenAPI document of one API version
        ---
        get:
          description: >-
            Get the OpenAPI spec for a specific API version
          parameters:
          - in: path
            schema:
              type: string
            name: version
            required: true
          responses:
            200:
              description: The OpenAPI spec
              content:
                application/json:
                  schema:
                    type: object
            404:
              $ref: '#/components/responses/404'
        """
        api_spec = self._create_api_spec(version)
        apis = [
            v for v in current_app.appbuilder.baseviews if isinstance(v, BaseApi) and v.version == version
        ]
        if not apis:
            return self.response_404()
        for api in apis:
            api.add_api_spec(api_spec)
        document = api_spec.to_dict()
        if not current_app.config.get("FAB_API_KEY_ENABLED", False):
            without_api_keys(document)
        return self.response(200, **document)


def without_api_keys(document: dict[str, Any]) -> None:
    """Take the `api_key` security scheme, and every operation's mention of it, out of `document`."""
    document.get("components", {}).get("securitySchemes", {}).pop("api_key", None)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and isinstance(operation.get("security"), list):
                operation["security"] = [s for s in operation["security"] if "api_key" not in s]

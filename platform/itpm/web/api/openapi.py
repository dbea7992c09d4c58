"""The OpenAPI document at /api/v1/_openapi: Flask-AppBuilder's, saying only what this installation does.

Flask-AppBuilder marks every protected operation as open to `jwt` or `api_key`,
and describes the `api_key` scheme, whether or not API keys are enabled
(FAB_API_KEY_ENABLED); a client that believed it would send keys that are
refused. Here `api_key` is an integration token, offered where one is taken
(the records API and the hooks), and gone unless keys are enabled; the
menu's separators and the problems of a refused body are described as what they are. The record
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
        else:
            with_integration_tokens(document)
        with_menu_separators(document)
        with_field_problems(document)
        return self.response(200, **document)


def without_api_keys(document: dict[str, Any]) -> None:
    """Take the `api_key` security scheme, and every operation's mention of it, out of `document`."""
    document.get("components", {}).get("securitySchemes", {}).pop("api_key", None)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and isinstance(operation.get("security"), list):
                operation["security"] = [s for s in operation["security"] if "api_key" not in s]


#: Where an integration token is taken (`itpm.web.security.check_integration_token`).
TOKEN_PATHS = ("/api/v1/records/", "/api/v1/hooks/")


def with_integration_tokens(document: dict[str, Any]) -> None:
    """The `api_key` scheme is an integration token, taken by the records API and the hooks only."""
    scheme = document.get("components", {}).get("securitySchemes", {}).get("api_key")
    if scheme is not None:
        scheme["bearerFormat"] = "itpm_..."
        scheme["description"] = (
            "An integration token (Authorization: Bearer itpm_...), made on the Integrations page or with "
            "`itpm integrations token NAME`: it acts as its service person, within its scope of record "
            "types and actions, on the records API and its integration's hooks."
        )
    for path, operations in document.get("paths", {}).items():
        if path.startswith(TOKEN_PATHS):
            continue
        for operation in operations.values():
            if isinstance(operation, dict) and isinstance(operation.get("security"), list):
                operation["security"] = [s for s in operation["security"] if "api_key" not in s]


def with_menu_separators(document: dict[str, Any]) -> None:
    """Flask-AppBuilder's menu API lists a separator between entries as "-", where its document
    says every entry is an object."""
    try:
        listing = document["paths"]["/api/v1/menu/"]["get"]["responses"]["200"]["content"]["application/json"]
        entry = listing["schema"]["properties"]["result"]["items"]["properties"]["childs"]
    except KeyError:
        return
    entry["items"] = {"oneOf": [entry["items"], {"type": "string", "enum": ["-"]}]}


def with_field_problems(document: dict[str, Any]) -> None:
    """Flask-AppBuilder answers a body its schema refuses (its sign-in, say) with 400 or 422 whose message
    is the problems by field name, where its document says the message is a sentence."""
    for status in ("400", "422"):
        response = document.get("components", {}).get("responses", {}).get(status, {})
        body = response.get("content", {}).get("application/json", {}).get("schema", {})
        if "message" in body.get("properties", {}):
            body["properties"]["message"] = {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                ],
                "description": "What is wrong: a sentence, or the problems of each field by its name",
            }

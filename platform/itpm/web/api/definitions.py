"""REST API of the definitions registry: /api/v1/definitions/.

The same registry service as the admin screens and the command line; errors
are 422 with every problem as {"path", "message"}.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_appbuilder.api import BaseApi, expose, rison, safe
from flask_appbuilder.security.decorators import protect

from itpm.definitions.documents import Document
from itpm.definitions.problems import DefinitionError, Problem
from itpm.definitions.registry import NotFound
from itpm.models import Definition, DefinitionVersion
from itpm.records.publishing import publish_preview, purge_kept_data
from itpm.web.context import actor_name, current_runtime
from itpm.web.views.definitions import PERMISSIONS

LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "filters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "col": {"enum": ["kind", "name", "state"]},
                    "opr": {"enum": ["eq"]},
                    "value": {"type": "string"},
                },
                "required": ["col", "value"],
            },
        },
        "page": {"type": "integer", "minimum": 0},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100},
    },
    "additionalProperties": False,
}


def _summary(definition: Definition) -> dict[str, Any]:
    return {
        "kind": definition.kind,
        "name": definition.name,
        "title": definition.titles,
        "state": definition.state,
        #: "starter pack" (or "pack") when the draft is a pack's update waiting beside a changed version.
        "update_from": definition.pack_update,
        "published_version": definition.published_version,
        "updated_at": definition.updated_at.isoformat(),
    }


def _version(version: DefinitionVersion, body: bool = False) -> dict[str, Any]:
    data = {
        "version": version.version,
        "revision": version.revision_id,
        "author": version.author,
        "created_at": version.created_at.isoformat(),
        "comment": version.comment,
        "restored_from": version.restored_from,
    }
    if body:
        data["body"] = version.body
    return data


class DefinitionsApi(BaseApi):
    resource_name = "definitions"
    openapi_spec_tag = "Definitions"
    # The API and the admin screens share one set of permissions.
    class_permission_name = "DefinitionView"
    base_permissions = PERMISSIONS
    method_permission_name = {
        "get_list": "list",
        "get": "show",
        "versions": "show",
        "get_version": "show",
        "diff": "show",
        "validate": "show",
        "put": "edit",
        "publish": "edit",
        "preview": "show",
        "purge": "edit",
        "restore": "edit",
        "discard": "edit",
    }
    allow_browser_login = True

    def _options(self) -> dict[str, Any] | Response:
        """The request's JSON object (`{}` without a body), or the 422 for a body that is not one."""
        if not request.get_data(cache=True):
            return {}
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self._problems([Problem("", "/", "the request body must be a JSON object")])
        return body

    def _problems(self, problems: list[Problem]) -> Response:
        return self.response(
            422, message="The definition has problems", errors=[p.as_json() for p in problems]
        )

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @rison(LIST_SCHEMA)
    def get_list(self, **kwargs: Any) -> Response:
        """List definitions.
        ---
        get:
          summary: Definitions, by kind and name
          parameters:
          - in: query
            name: q
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    filters: {type: array, items: {type: object}}
                    page: {type: integer}
                    page_size: {type: integer}
          responses:
            200:
              description: The definitions and their count
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      count: {type: integer}
                      result: {type: array, items: {type: object}}
            400:
              $ref: '#/components/responses/400'
        """
        args = kwargs["rison"]
        definitions = current_runtime().registry().list()
        for rule in args.get("filters", []):
            definitions = [d for d in definitions if getattr(d, rule["col"]) == rule["value"]]
        page, size = args.get("page", 0), args.get("page_size", 25)
        chosen = definitions[page * size : (page + 1) * size]
        return self.response(200, count=len(definitions), result=[_summary(d) for d in chosen])

    @expose("/<kind>/<name>", methods=["GET"])
    @protect()
    @safe
    def get(self, kind: str, name: str) -> Response:
        """One definition: its draft and its live version.
        ---
        get:
          summary: A definition with its draft and live body
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          responses:
            200: {description: The definition}
            404: {$ref: '#/components/responses/404'}
        """
        registry = current_runtime().registry()
        try:
            definition = registry.get(kind, name)
        except NotFound:
            return self.response_404()
        return self.response(
            200,
            **_summary(definition),
            draft=definition.draft,
            published=registry.published_body(definition),
            revision=registry.current_revision(),
        )

    @expose("/<kind>/<name>", methods=["PUT"])
    @protect()
    @safe
    def put(self, kind: str, name: str) -> Response:
        """Create or update the draft of a definition.
        ---
        put:
          summary: Save a draft (validated beside the other definitions)
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object}
          responses:
            200: {description: The draft was saved}
            422: {description: 'Problems, each with a JSON path and a message'}
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self._problems([Problem("", "/", "the request body must be a JSON object")])
        mismatch = [
            Problem("", f"/{key}", f"must be {expected!r}, as in the URL")
            for key, expected in (("kind", kind), ("name", name))
            if body.get(key) != expected
        ]
        if mismatch:
            return self._problems(mismatch)
        try:
            definition = current_runtime().registry().save_draft(body, actor_name())
        except DefinitionError as error:
            return self._problems(error.problems)
        return self.response(200, **_summary(definition))

    @expose("/validate", methods=["POST"])
    @protect()
    @safe
    def validate(self) -> Response:
        """Validate definitions without saving them.
        ---
        post:
          summary: Validate one definition, or several together
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  oneOf:
                  - {type: object}
                  - {type: object, properties: {documents: {type: array, items: {type: object}}}}
          responses:
            200:
              description: The problems found (none when valid)
        """
        payload = request.get_json(silent=True)
        if isinstance(payload, dict) and isinstance(payload.get("documents"), list):
            bodies = payload["documents"]
        else:
            bodies = [payload]
        problems = [
            Problem(f"documents/{i}" if len(bodies) > 1 else "", "/", "must be a JSON object")
            for i, body in enumerate(bodies)
            if not isinstance(body, dict)
        ]
        documents = [
            Document(f"documents/{i}" if len(bodies) > 1 else "", body)
            for i, body in enumerate(bodies)
            if isinstance(body, dict)
        ]
        problems += current_runtime().registry().problems(documents)
        return self.response(200, valid=not problems, errors=[p.as_json() for p in problems])

    @expose("/<kind>/<name>/publish", methods=["POST"])
    @protect()
    @safe
    def publish(self, kind: str, name: str) -> Response:
        """Publish the draft of a definition.
        ---
        post:
          summary: Publish a draft as a new version (one new revision)
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {comment: {type: string}}}
          responses:
            200: {description: The new version and revision}
            404: {$ref: '#/components/responses/404'}
            422: {description: 'Problems, each with a JSON path and a message'}
        """
        options = self._options()
        if isinstance(options, Response):
            return options
        comment = str(options.get("comment", ""))
        registry = current_runtime().registry()
        try:
            revision = registry.publish([(kind, name)], actor_name(), comment)
        except NotFound:
            return self.response_404()
        except DefinitionError as error:
            return self._problems(error.problems)
        definition = registry.get(kind, name)
        return self.response(
            200,
            version=definition.published_version,
            revision=revision.id if revision else None,
            changed=revision is not None,
        )

    @expose("/<kind>/<name>/preview", methods=["GET"])
    @protect()
    @safe
    def preview(self, kind: str, name: str) -> Response:
        """What publishing the draft would do.
        ---
        get:
          summary: Preview a publish - problems, table changes, and existing records that would break new rules
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          responses:
            200: {description: The preview; nothing is written}
            404: {$ref: '#/components/responses/404'}
        """
        registry = current_runtime().registry()
        try:
            definition = registry.get(kind, name)
        except NotFound:
            return self.response_404()
        if definition.draft is None:
            return self._problems([Problem("", "/", "has no draft to publish")])
        _before, _after, problems, plans = publish_preview(registry, [(kind, name)])
        return self.response(
            200, errors=[p.as_json() for p in problems], record_types=[plan.as_json() for plan in plans]
        )

    @expose("/record_type/<name>/purge", methods=["POST"])
    @protect()
    @safe
    def purge(self, name: str) -> Response:
        """Delete the data a record type kept from removed fields.
        ---
        post:
          summary: Purge kept columns of a record type
          parameters:
          - {in: path, name: name, required: true, schema: {type: string}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object, properties: {columns: {type: array, items: {type: string}}}, required: [columns]}
          responses:
            200: {description: The purged columns}
            404: {$ref: '#/components/responses/404'}
            422: {description: A column that holds no kept data}
        """
        options = self._options()
        if isinstance(options, Response):
            return options
        columns = options.get("columns")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            return self._problems([Problem("", "/columns", "must be a list of column names")])
        try:
            purged = purge_kept_data(current_runtime().registry(), name, columns, actor_name())
        except NotFound:
            return self.response_404()
        except DefinitionError as error:
            return self._problems(error.problems)
        return self.response(200, purged=purged)

    @expose("/<kind>/<name>/draft", methods=["DELETE"])
    @protect()
    @safe
    def discard(self, kind: str, name: str) -> Response:
        """Discard the draft of a definition.
        ---
        delete:
          summary: Discard a draft (a never published definition is removed)
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          responses:
            200: {description: Discarded}
            404: {$ref: '#/components/responses/404'}
        """
        try:
            current_runtime().registry().discard_draft(kind, name, actor_name())
        except NotFound:
            return self.response_404()
        return self.response(200, message="discarded")

    @expose("/<kind>/<name>/versions", methods=["GET"])
    @protect()
    @safe
    def versions(self, kind: str, name: str) -> Response:
        """The published versions of a definition.
        ---
        get:
          summary: Versions, newest first
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          responses:
            200: {description: The versions}
            404: {$ref: '#/components/responses/404'}
        """
        try:
            definition = current_runtime().registry().get(kind, name)
        except NotFound:
            return self.response_404()
        versions = list(reversed(definition.versions))
        return self.response(200, count=len(versions), result=[_version(v) for v in versions])

    @expose("/<kind>/<name>/versions/<int:version>", methods=["GET"])
    @protect()
    @safe
    def get_version(self, kind: str, name: str, version: int) -> Response:
        """One published version with its body.
        ---
        get:
          summary: A version
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          - {in: path, name: version, required: true, schema: {type: integer}}
          responses:
            200: {description: The version}
            404: {$ref: '#/components/responses/404'}
        """
        try:
            found = current_runtime().registry().version(kind, name, version)
        except NotFound:
            return self.response_404()
        return self.response(200, **_version(found, body=True))

    @expose("/<kind>/<name>/versions/<int:version>/restore", methods=["POST"])
    @protect()
    @safe
    def restore(self, kind: str, name: str, version: int) -> Response:
        """Publish an older version again, as a new version.
        ---
        post:
          summary: Restore a version
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          - {in: path, name: version, required: true, schema: {type: integer}}
          responses:
            200: {description: The new version}
            404: {$ref: '#/components/responses/404'}
            422: {description: The old version no longer fits the configuration}
        """
        options = self._options()
        if isinstance(options, Response):
            return options
        comment = str(options.get("comment", ""))
        try:
            restored = current_runtime().registry().restore(kind, name, version, actor_name(), comment)
        except NotFound:
            return self.response_404()
        except DefinitionError as error:
            return self._problems(error.problems)
        return self.response(200, **_version(restored))

    @expose("/<kind>/<name>/diff", methods=["GET"])
    @protect()
    @safe
    def diff(self, kind: str, name: str) -> Response:
        """A unified diff between two versions.
        ---
        get:
          summary: Diff two versions (numbers, or "draft"); by default the latest change
          parameters:
          - {in: path, name: kind, required: true, schema: {type: string}}
          - {in: path, name: name, required: true, schema: {type: string}}
          - {in: query, name: from, schema: {type: string}}
          - {in: query, name: to, schema: {type: string}}
          responses:
            200: {description: The diff as text}
            404: {$ref: '#/components/responses/404'}
        """
        old, new = request.args.get("from"), request.args.get("to")
        for value in (old, new):
            if value not in (None, "draft") and not value.isdigit():
                return self.response_400(message=f"{value!r} is not a version number or 'draft'")
        try:
            text = current_runtime().registry().diff(kind, name, old, new)
        except NotFound:
            return self.response_404()
        return self.response(200, diff=text)

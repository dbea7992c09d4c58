"""REST API of every published record type: /api/v1/records/<type>/.

A record is {"id", "type", "number", "state", "version", "data": {...}, and the
other system fields}. Lists take rison `q` (filters, order, page, page_size,
search) and answer {"count", "result"}. Errors: 400 for a bad query naming
the field, 404 for a record the caller may not see, 403 for a forbidden
action or field, 409 for a stale version, 413 for an oversized body, 422
with every problem by JSON path. The same records service as the screens.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

from apispec import APISpec
from flask import Response, request
from flask_appbuilder import AppBuilder
from flask_appbuilder.api import BaseApi, expose, rison, safe
from flask_appbuilder.security.decorators import protect
from sqlalchemy import not_

from itpm.catalog import Catalog
from itpm.records.fields import (
    BOOLEAN,
    DATE,
    DATETIME,
    EDITABLE_SYSTEM,
    ENUM,
    INTEGER,
    NUMBER,
    REF,
    RICHTEXT,
    TEXT,
    USER,
    RecordTypeSpec,
)
from itpm.records.service import Conflict, RecordError
from itpm.records.values import parse_datetime
from itpm.web.api.approvals import approval_json
from itpm.web.record_display import person_zone
from itpm.web.record_export import EXPORT_LIMIT, export_csv, export_relations
from itpm.web.views.records import PERMISSIONS, records_service, view_name
from itpm.workflows.engine import Workflows

#: The largest JSON body a record request may have.
MAX_BODY_BYTES = 1024 * 1024
#: System fields the list can filter and order on, with their kind.
SYSTEM_FILTERS = {
    "id": INTEGER, "number": TEXT, "state": TEXT, "assignee": USER, "owner": USER, "client": REF,
    "department": REF, "created_by": USER, "created_at": DATETIME, "updated_by": USER, "updated_at": DATETIME,
    "sla_due": DATETIME, "sla_status": TEXT, "sla_breached": BOOLEAN,
}  # fmt: skip
#: The SLA of a record whose type has a policy: each clock's target, time used and left, in business minutes.
SLA_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {
        "status": {"type": "string", "enum": ["on_track", "at_risk", "paused", "breached", "met"]},
        "due": {"type": "string", "format": "date-time", "nullable": True},
        "breached": {"type": "boolean"},
        "clocks": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "target_minutes": {"type": "integer"},
                    "elapsed_minutes": {"type": "integer"},
                    "paused_minutes": {"type": "integer"},
                    "due": {"type": "string", "format": "date-time", "nullable": True},
                    "minutes_left": {"type": "integer", "nullable": True},
                    "overdue": {"type": "boolean"},
                    "status": {"type": "string"},
                },
            },
        },
    },
}
OPERATORS = {"eq", "neq", "gt", "gte", "lt", "lte", "in", "ct", "sw", "empty"}
SCALAR_KINDS = {TEXT, RICHTEXT, ENUM, INTEGER, NUMBER, BOOLEAN, DATE, DATETIME, REF, USER, "file"}

LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "filters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"col": {"type": "string"}, "opr": {"type": "string"}, "value": {}},
                "required": ["col", "opr"],
                "additionalProperties": False,
            },
        },
        "order_column": {"type": "string"},
        "order_direction": {"enum": ["asc", "desc"]},
        "page": {"type": "integer", "minimum": 0},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100},
        "search": {"type": "string", "maxLength": 200},
    },
    "additionalProperties": False,
}


class BadQuery(ValueError):
    pass


class RecordApi(BaseApi):
    """The API of one record type; a subclass per type sets `type_name` and the routes."""

    type_name = ""
    base_permissions = PERMISSIONS
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
        "transitions": "show",
        "take_transition": "show",
    }
    allow_browser_login = True

    def _spec(self) -> RecordTypeSpec:
        from itpm.web.views.records import current_catalog

        return current_catalog().record_types[self.type_name]

    def _error(self, error: RecordError) -> Response:
        body: dict[str, Any] = {"message": str(error.message)}
        if error.problems:
            body["errors"] = [p.as_json() for p in error.problems]
        if isinstance(error, Conflict):
            body["current"] = error.current
        return self.response(error.status, **body)

    def _body(self) -> dict[str, Any] | Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return self.response(413, message=f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return self.response(
                422,
                message="The request body must be a JSON object.",
                errors=[{"path": "/", "message": "must be a JSON object"}],
            )
        return payload

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @rison(LIST_SCHEMA)
    def get_list(self, **kwargs: Any) -> Response:
        """Records of this type.
        ---
        get:
          summary: A page of records, filtered and ordered, with the total count
          parameters:
          - in: query
            name: q
            description: "rison: (filters:!((col:priority,opr:eq,value:P1)),order_column:due_date,order_direction:asc,page:0,page_size:25,search:'words')"
            content:
              application/json:
                schema: {type: object}
          responses:
            200:
              description: The records and their count
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      count: {type: integer}
                      result: {type: array, items: {$ref: '#/components/schemas/RecordTemplate'}}
            400: {$ref: '#/components/responses/400'}
        """
        args = kwargs["rison"]
        records = records_service()
        spec = self._spec()
        model = records.model(self.type_name)
        try:
            where = [self._filter(spec, model, f) for f in args.get("filters", [])]
            order = self._order(spec, model, args.get("order_column"), args.get("order_direction", "asc"))
        except BadQuery as error:
            return self.response_400(message=str(error))
        if args.get("search"):
            where.append(records.search_condition(self.type_name, args["search"]))
        try:
            count, rows = records.page(
                self.type_name, where, order, args.get("page", 0), args.get("page_size", 25)
            )
        except RecordError as error:
            return self._error(error)
        return self.response(200, count=count, result=[records.as_json(r) for r in rows])

    def _column(self, spec: RecordTypeSpec, model: Any, name: str) -> tuple[Any, str]:
        if name in SYSTEM_FILTERS:
            column = "id" if name == "id" else (f"{name}_id" if SYSTEM_FILTERS[name] in (REF, USER) else name)
            return getattr(model, column), SYSTEM_FILTERS[name]
        if (
            name in spec.fields
            and name in {*spec.filters, *spec.columns}
            and spec.fields[name].kind in SCALAR_KINDS
        ):
            field = spec.fields[name]
            return getattr(model, field.column), field.kind
        allowed = sorted(
            {
                *SYSTEM_FILTERS,
                *[
                    n
                    for n in {*spec.filters, *spec.columns}
                    if n in spec.fields and spec.fields[n].kind in SCALAR_KINDS
                ],
            }
        )
        raise BadQuery(
            f"{name!r} is not a field this list can filter or order on; these are: {', '.join(allowed)}"
        )

    def _filter(self, spec: RecordTypeSpec, model: Any, rule: dict[str, Any]) -> Any:
        column, kind = self._column(spec, model, rule["col"])
        operator = rule["opr"]
        if operator not in OPERATORS:
            raise BadQuery(
                f"{operator!r} is not a filter operator; these are: {', '.join(sorted(OPERATORS))}"
            )
        if operator == "empty":
            return column.is_(None) if rule.get("value", True) else column.is_not(None)
        if "value" not in rule:
            raise BadQuery(f"the filter on {rule['col']!r} needs a value")
        if operator == "in":
            if not isinstance(rule["value"], list):
                raise BadQuery(f"the 'in' filter on {rule['col']!r} needs a list of values")
            return column.in_([_value(kind, v, rule["col"]) for v in rule["value"]])
        value = _value(kind, rule["value"], rule["col"])
        if operator in ("ct", "sw"):
            if kind not in (TEXT, RICHTEXT, ENUM):
                raise BadQuery(f"{operator!r} works on text; {rule['col']!r} is not text")
            escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return column.ilike(f"%{escaped}%" if operator == "ct" else f"{escaped}%", escape="\\")
        return {
            "eq": lambda: column == value,
            "neq": lambda: not_(column == value) | column.is_(None),
            "gt": lambda: column > value,
            "gte": lambda: column >= value,
            "lt": lambda: column < value,
            "lte": lambda: column <= value,
        }[operator]()

    def _order(self, spec: RecordTypeSpec, model: Any, name: str | None, direction: str) -> list[Any]:
        if not name:
            field, direction = spec.order
            name = field
        column, _kind = self._column(spec, model, name)
        return [column.desc() if direction == "desc" else column.asc()]

    @expose("/export.csv", methods=["GET"])
    @protect()
    @safe
    @rison(LIST_SCHEMA)
    def export(self, **kwargs: Any) -> Response:
        """Records of this type as CSV.
        ---
        get:
          summary: The records one may export, filtered and ordered like the list, as a CSV file
          parameters:
          - in: query
            name: q
            content:
              application/json:
                schema: {type: object}
          responses:
            200:
              description: CSV (UTF-8 with a byte order mark), hidden fields left out
              content:
                text/csv: {}
            400: {$ref: '#/components/responses/400'}
        """
        args = kwargs["rison"]
        records = records_service()
        spec = self._spec()
        model = records.model(self.type_name)
        try:
            where = [self._filter(spec, model, f) for f in args.get("filters", [])]
            order = self._order(spec, model, args.get("order_column"), args.get("order_direction", "asc"))
        except BadQuery as error:
            return self.response_400(message=str(error))
        if args.get("search"):
            where.append(records.search_condition(self.type_name, args["search"]))
        try:
            _count, rows = records.page(
                self.type_name,
                where,
                order,
                0,
                EXPORT_LIMIT,
                load=export_relations(records, spec),
                action="export",
            )
        except RecordError as error:
            return self._error(error)
        return export_csv(records, spec, rows, person_zone(), f"{self.type_name}.csv")

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    def get(self, pk: int) -> Response:
        """One record.
        ---
        get:
          summary: A record, with its defined fields under data
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200:
              description: The record
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/RecordTemplate'}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        try:
            return self.response(200, **records.as_json(records.get(self.type_name, pk)))
        except RecordError as error:
            return self._error(error)

    @expose("/", methods=["POST"])
    @protect()
    @safe
    def post(self) -> Response:
        """Create a record.
        ---
        post:
          summary: Create a record; system fields it may set sit beside data
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/RecordTemplateCreate'}
          responses:
            201:
              description: The new record
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/RecordTemplate'}
            403: {$ref: '#/components/responses/403'}
            413: {description: The body is too large}
            422: {description: Problems, each with its JSON path}
        """
        payload = self._body()
        if isinstance(payload, Response):
            return payload
        unknown = [k for k in payload if k not in ("data", *EDITABLE_SYSTEM)]
        if unknown:
            return self.response(
                422,
                message="The request has unknown keys.",
                errors=[{"path": f"/{k}", "message": "is not a known key"} for k in unknown],
            )
        records = records_service()
        try:
            record = records.create(
                self.type_name,
                payload.get("data", {}),
                {k: payload[k] for k in EDITABLE_SYSTEM if k in payload},
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(201, **records.as_json(record))

    @expose("/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    def put(self, pk: int) -> Response:
        """Change a record.
        ---
        put:
          summary: Change the fields given (null clears one), based on the version last read
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/RecordTemplateUpdate'}
          responses:
            200:
              description: The changed record
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/RecordTemplate'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: The record changed since that version; the current record is returned}
            422: {description: Problems, each with its JSON path}
        """
        payload = self._body()
        if isinstance(payload, Response):
            return payload
        unknown = [k for k in payload if k not in ("data", "version", *EDITABLE_SYSTEM)]
        if unknown:
            return self.response(
                422,
                message="The request has unknown keys.",
                errors=[{"path": f"/{k}", "message": "is not a known key"} for k in unknown],
            )
        version = payload.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            return self.response(
                422,
                message="version must be an integer.",
                errors=[{"path": "/version", "message": "must be an integer"}],
            )
        records = records_service()
        try:
            record = records.update(
                self.type_name,
                pk,
                payload.get("data", {}),
                version,
                {k: payload[k] for k in EDITABLE_SYSTEM if k in payload},
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(200, **records.as_json(record))

    @expose("/<int:pk>", methods=["DELETE"])
    @protect()
    @safe
    def delete(self, pk: int) -> Response:
        """Delete a record.
        ---
        delete:
          summary: Delete a record (refused while other records refer to it)
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - {in: query, name: version, schema: {type: integer}}
          responses:
            200: {description: Deleted}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: Changed since that version, or referred to by other records}
        """
        records = records_service()
        try:
            records.delete(self.type_name, pk, request.args.get("version", type=int))
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(200, message="deleted")

    @expose("/<int:pk>/transitions", methods=["GET"])
    @protect()
    @safe
    def transitions(self, pk: int) -> Response:
        """The transitions one may take on a record now.
        ---
        get:
          summary: Transitions available to the caller from the record's state
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: The transitions}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        workflows = Workflows(records)
        try:
            record = records.get(self.type_name, pk)
        except RecordError as error:
            return self._error(error)
        result = [
            {
                "name": t.name,
                "title": t.title,
                "to": t.target,
                "requires": list(t.requires),
                "approval": t.approval is not None,
            }
            for t in workflows.available(record)
        ]
        pending = workflows.pending(record)
        return self.response(
            200, state=record.state, result=result, pending_approval=pending.id if pending else None
        )

    @expose("/<int:pk>/transitions/<name>", methods=["POST"])
    @protect()
    @safe
    def take_transition(self, pk: int, name: str) -> Response:
        """Take a transition.
        ---
        post:
          summary: Take a transition (it completes, or waits for its approval chain)
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - {in: path, name: name, required: true, schema: {type: string}}
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    version: {type: integer}
                    data: {type: object, description: values of the fields the transition requires}
                    comment: {type: string}
          responses:
            200: {description: The transition is done; the record}
            202: {description: The transition waits for approval; the record and the approval}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: The record is in another state, changed, or waits for an approval}
            422: {description: Required fields missing, or the condition does not hold}
        """
        payload = self._body()
        if isinstance(payload, Response):
            return payload
        unknown = [k for k in payload if k not in ("data", "version", "comment")]
        if unknown:
            return self.response(
                422,
                message="The request has unknown keys.",
                errors=[{"path": f"/{k}", "message": "is not a known key"} for k in unknown],
            )
        if not isinstance(payload.get("data", {}), dict):
            return self.response(
                422,
                message="data must be an object.",
                errors=[{"path": "/data", "message": "must be an object"}],
            )
        records = records_service()
        try:
            outcome = Workflows(records).take(
                self.type_name,
                pk,
                name,
                payload.get("data", {}),
                str(payload.get("comment", "")),
                payload.get("version"),
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        body = records.as_json(outcome.record)
        if outcome.completed:
            return self.response(200, **body)
        return self.response(202, **body, approval=approval_json(outcome.approval))

    @expose("/<int:pk>/history", methods=["GET"])
    @protect()
    @safe
    def history(self, pk: int) -> Response:
        """A record's history.
        ---
        get:
          summary: Who changed what and when, newest first
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: The history}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        try:
            events = records.history(self.type_name, pk)
        except RecordError as error:
            return self._error(error)
        return self.response(200, count=len(events), result=events)

    @expose("/<int:pk>/comments", methods=["GET"])
    @protect()
    @safe
    def comments(self, pk: int) -> Response:
        """A record's comments.
        ---
        get:
          summary: Comments, oldest first
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: The comments}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        try:
            found = records.comments(self.type_name, pk)
        except RecordError as error:
            return self._error(error)
        result = [
            {"id": c.id, "author": c.author, "body": c.body, "created_at": c.created_at.isoformat()}
            for c in found
        ]
        return self.response(200, count=len(result), result=result)

    @expose("/<int:pk>/comments", methods=["POST"])
    @protect()
    @safe
    def add_comment(self, pk: int) -> Response:
        """Comment on a record.
        ---
        post:
          summary: Add a comment
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object, properties: {body: {type: string}}, required: [body]}
          responses:
            201: {description: The comment}
            404: {$ref: '#/components/responses/404'}
            422: {description: An empty or oversized comment}
        """
        payload = self._body()
        if isinstance(payload, Response):
            return payload
        records = records_service()
        try:
            comment = records.add_comment(self.type_name, pk, str(payload.get("body", "")))
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(201, id=comment.id, author=comment.author, body=comment.body)

    def add_api_spec(self, api_spec: APISpec) -> None:
        """The OpenAPI paths of this type, with the schemas of its own fields."""
        super().add_api_spec(api_spec)
        name = _component(self.type_name)
        for path, operations in api_spec._paths.items():
            if path.startswith(self.route_base):
                api_spec._paths[path] = json.loads(json.dumps(operations).replace("RecordTemplate", name))

    def add_apispec_components(self, api_spec: APISpec) -> None:
        super().add_apispec_components(api_spec)
        from itpm.web.views.records import current_catalog

        spec = current_catalog().record_types[self.type_name]
        name = _component(self.type_name)
        data = openapi_schema(spec.schema)
        system = {k: {"type": "integer", "nullable": True} for k in EDITABLE_SYSTEM}
        api_spec.components.schema(f"{name}Data", component=data)
        api_spec.components.schema(
            name,
            component={
                "type": "object",
                "description": spec.title["en"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"type": "string", "enum": [spec.name]},
                    "number": {"type": "string"},
                    "state": {"type": "string"},
                    "version": {"type": "integer"},
                    **system,
                    "created_by": {"type": "integer", "nullable": True},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_by": {"type": "integer", "nullable": True},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "flags": {"type": "array", "items": {"type": "object"}},
                    "data": {"$ref": f"#/components/schemas/{name}Data"},
                    **({"sla": SLA_SCHEMA} if spec.name in current_catalog().sla_policies else {}),
                },
            },
        )
        api_spec.components.schema(
            f"{name}Create",
            component={
                "type": "object",
                "properties": {"data": {"$ref": f"#/components/schemas/{name}Data"}, **system},
                "required": ["data"],
            },
        )
        api_spec.components.schema(
            f"{name}Update",
            component={
                "type": "object",
                "properties": {
                    "version": {"type": "integer"},
                    "data": {"$ref": f"#/components/schemas/{name}Data"},
                    **system,
                },
                "required": ["version"],
            },
        )


def _component(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_")) + "Record"


def openapi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A record type's JSON Schema as an OpenAPI 3.0 schema object (x- keys are allowed there)."""
    result = copy.deepcopy(schema)

    def convert(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("$schema", None)
            node.pop("contentMediaType", None)
            if "const" in node:
                node["enum"] = [node.pop("const")]
            for value in node.values():
                convert(value)
        elif isinstance(node, list):
            for value in node:
                convert(value)

    convert(result)
    return result


def _value(kind: str, value: Any, column: str) -> Any:
    """A filter value as the column compares it; a value of the wrong kind is a bad query."""
    try:
        if value is None:
            return None
        if kind == DATE:
            return dt.date.fromisoformat(str(value))
        if kind == DATETIME:
            return (
                parse_datetime(str(value))
                if "T" in str(value)
                else dt.datetime.combine(dt.date.fromisoformat(str(value)), dt.time(), dt.UTC)
            )
        if kind in (INTEGER, REF, USER, "file"):
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError
            return int(value)
        if kind == NUMBER:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError
            return value
        return str(value)
    except ValueError as error:
        raise BadQuery(f"{value!r} is not a valid value for {column!r} ({kind})") from error


def add_record_apis(appbuilder: AppBuilder, catalog: Catalog) -> None:
    for spec in catalog.record_types.values():
        api = type(
            f"{view_name(spec.name)}_api",
            (RecordApi,),
            {
                "type_name": spec.name,
                "route_base": f"/api/v1/records/{spec.name}",
                "resource_name": f"records/{spec.name}",
                "class_permission_name": view_name(spec.name),
                "openapi_spec_tag": f"Records: {spec.title['en']}",
            },
        )
        appbuilder.add_api(api)

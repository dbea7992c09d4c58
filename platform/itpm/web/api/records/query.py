"""A record type's list in the API: rison queries (filters, order, page, search) checked
against the fields the list may filter on, the page of records, and the same as CSV.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response
from flask_appbuilder.api import expose, rison, safe
from flask_appbuilder.security.decorators import protect
from sqlalchemy import not_

from itpm.records.fields import (
    BOOLEAN,
    BOUNDS,
    DATE,
    DATETIME,
    ENUM,
    INTEGER,
    NUMBER,
    REF,
    RICHTEXT,
    TEXT,
    USER,
    RecordTypeSpec,
)
from itpm.records.list_fields import MAX_PAGE, MAX_PAGE_SIZE, SYSTEM_FILTERS, ListFields
from itpm.records.service import RecordError, Records
from itpm.records.values import parse_datetime
from itpm.web.api.records.base import RecordApiBase
from itpm.web.context import records_service
from itpm.web.record_display import person_zone
from itpm.web.record_export import EXPORT_LIMIT, export_csv, export_relations, export_xlsx

OPERATORS = {"eq", "neq", "gt", "gte", "lt", "lte", "in", "ct", "sw", "empty"}

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
        "page": {"type": "integer", "minimum": 0, "maximum": MAX_PAGE},  # an offset any database can take
        "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        "search": {"type": "string", "maxLength": 200},
    },
    "additionalProperties": False,
}


class BadQuery(ValueError):
    pass


class RecordListApi(RecordApiBase):
    """The list of a record type, and its export."""

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
        try:
            where, order = self._where_and_order(records, spec, args)
        except BadQuery as error:
            return self.response_400(message=str(error))
        try:
            count, rows = records.page(
                self.type_name, where, order, args.get("page", 0), args.get("page_size", 25)
            )
        except RecordError as error:
            return self._error(error)
        return self.response(200, count=count, result=[records.as_json(r) for r in rows])

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
        return self._export(kwargs["rison"], export_csv, "csv")

    @expose("/export.xlsx", methods=["GET"])
    @protect()
    @safe
    @rison(LIST_SCHEMA)
    def export_xlsx(self, **kwargs: Any) -> Response:
        """Records of this type as an Excel workbook.
        ---
        get:
          summary: The records one may export, filtered and ordered like the list, as an XLSX workbook
          parameters:
          - in: query
            name: q
            content:
              application/json:
                schema: {type: object}
          responses:
            200:
              description: XLSX, labels in the reader's language, hidden fields left out
              content:
                application/vnd.openxmlformats-officedocument.spreadsheetml.sheet: {}
            400: {$ref: '#/components/responses/400'}
        """
        return self._export(kwargs["rison"], export_xlsx, "xlsx")

    def _export(self, args: dict[str, Any], write: Any, suffix: str) -> Response:
        records = records_service()
        spec = self._spec()
        try:
            where, order = self._where_and_order(records, spec, args)
        except BadQuery as error:
            return self.response_400(message=str(error))
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
        return write(records, spec, rows, person_zone(), f"{self.type_name}.{suffix}")

    def _where_and_order(
        self, records: Records, spec: RecordTypeSpec, args: dict[str, Any]
    ) -> tuple[list[Any], list[Any]]:
        """The conditions and order of a list query (rison `q`) on the fields the caller may read;
        BadQuery names what is wrong (a hidden field as much as one that does not exist)."""
        model = records.model(self.type_name)
        sight = records.list_fields(self.type_name)
        where = [query_filter(sight, spec, model, f) for f in args.get("filters", [])]
        order = query_order(sight, spec, model, args.get("order_column"), args.get("order_direction", "asc"))
        if args.get("search"):
            where.append(records.search_condition(self.type_name, args["search"]))
        return where, order


def _column(spec: RecordTypeSpec, model: Any, name: str) -> Any:
    """The table column of a defined or system field."""
    if name in spec.fields:
        return getattr(model, spec.fields[name].column)
    return getattr(model, f"{name}_id" if SYSTEM_FILTERS.get(name) in (REF, USER) else name)


def query_column(sight: ListFields, spec: RecordTypeSpec, model: Any, name: str) -> tuple[Any, str]:
    if name in sight.queryable:
        return _column(spec, model, name), sight.queryable[name]
    raise BadQuery(
        f"{name!r} is not a field this list can filter or order on; these are: {', '.join(sorted(sight.queryable))}"
    )


def query_filter(sight: ListFields, spec: RecordTypeSpec, model: Any, rule: dict[str, Any]) -> Any:
    column, kind = query_column(sight, spec, model, rule["col"])
    operator = rule["opr"]
    if operator not in OPERATORS:
        raise BadQuery(f"{operator!r} is not a filter operator; these are: {', '.join(sorted(OPERATORS))}")
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


def query_order(
    sight: ListFields, spec: RecordTypeSpec, model: Any, name: str | None, direction: str
) -> list[Any]:
    if name:
        column, _kind = query_column(sight, spec, model, name)
    else:
        name, direction = sight.default_order
        column = _column(spec, model, name)
    return [column.desc() if direction == "desc" else column.asc()]


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
            low, high = BOUNDS[REF if column == "id" or kind == "file" else kind]
            if not low <= int(value) <= high:  # beyond what its column holds
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

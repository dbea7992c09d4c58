"""A record type's list: FAB's list over the rows the records service lets the person see,
its filters' pickers, the CSV export of the same rows, and the type-ahead of its records.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, jsonify, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args
from flask_appbuilder.widgets import ListWidget
from markupsafe import Markup
from wtforms import StringField

from itpm.catalog import Catalog
from itpm.permissions import record_view_name
from itpm.records.fields import RecordTypeSpec
from itpm.web.context import records_service
from itpm.web.i18n import lazy_text
from itpm.web.record_display import person_zone
from itpm.web.record_export import EXPORT_LIMIT, export_csv, export_relations
from itpm.web.views.records.base import RecordViewBase


class RecordInterface(SQLAInterface):
    """FAB's data interface, reading only the rows the records service lets the person see."""

    def __init__(self, model: type, type_name: str, shown: Iterable[str] = (), action: str = "read") -> None:
        super().__init__(model)
        self.type_name = type_name
        #: The action whose rows this interface reads: read for the list, export for an export.
        self.action = action
        #: The relations the list shows, loaded with each page (none else: no query per row, none wasted).
        self.shown = list(shown)

    def get_related_interface(self, col_name: str) -> SQLAInterface:
        """Related records are read through the service too (a filter's choices never leak rows)."""
        model = self.get_related_model(col_name)
        type_name = getattr(model, "__record_type__", None)
        return RecordInterface(model, type_name) if type_name else SQLAInterface(model)

    def _scoped(self) -> Any:
        records = records_service()
        query = self.session.query(self.obj).filter(records.scope(self.type_name, self.action))
        words = request.args.get("q", "").strip() if request else ""
        if words:
            query = query.filter(records.search_condition(self.type_name, words))
        return query, records

    def query(
        self,
        filters: Any = None,
        order_column: str = "",
        order_direction: str = "",
        page: int | None = None,
        page_size: int | None = None,
        select_columns: list[str] | None = None,
        outer_default_load: bool = False,
    ) -> tuple[int, list[Any]]:
        query, records = self._scoped()
        count = self.query_count(query, filters, select_columns)
        query = self.apply_all(
            query, filters, order_column, order_direction, page, page_size, select_columns, outer_default_load
        )
        return count, query.options(*records.load_options(self.type_name, self.shown)).all()

    def get(
        self, id: Any, filters: Any = None, select_columns: Any = None, outer_default_load: bool = False
    ) -> Any:
        query, records = self._scoped()
        return query.filter(self.obj.id == id).one_or_none()

    def add(self, item: Any, commit: bool = True) -> None:  # pragma: no cover - writes go through the service
        raise NotImplementedError("records are created through itpm.records.service")

    def edit(self, item: Any, commit: bool = True) -> None:  # pragma: no cover
        raise NotImplementedError("records are changed through itpm.records.service")

    def delete(self, item: Any, commit: bool = True) -> None:  # pragma: no cover
        raise NotImplementedError("records are deleted through itpm.records.service")


class RecordListWidget(ListWidget):
    template = "itpm/records/list_widget.html"


class RecordList(RecordViewBase):
    """The list's own endpoints beside FAB's list: the export and the type-ahead."""

    list_widget = RecordListWidget

    @expose("/export/", methods=["GET"])
    @has_access
    def export(self) -> Response:
        """The list as a CSV file, with the list's filters, search and order; the rows one may export."""
        records = records_service()
        exporting = RecordInterface(
            self.datamodel.obj, self.type_name, export_relations(records, self.spec), "export"
        )
        filters = exporting.get_filters(self.search_columns)
        get_filter_args(filters)
        order_column, order_direction = self.base_order
        _count, rows = exporting.query(
            filters.get_joined_filters(self._base_filters), order_column, order_direction, 0, EXPORT_LIMIT
        )
        return export_csv(records, self.spec, rows, person_zone(), f"{self.type_name}.csv")

    @expose("/lookup/", methods=["GET"])
    @has_access
    def lookup(self) -> Response:
        """Type-ahead for reference pickers (Select2's format): visible records matching the words, or by ids."""
        records = records_service()
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip().isdigit()][:100]
        if ids:
            found = records.lookup_ids(self.type_name, ids)
        else:
            found = records.lookup(self.type_name, request.args.get("q", "")[:100])
        return jsonify({"results": [{"id": i, "text": label} for i, label in found]})


class FilterPicker:
    """The value box of a list filter on a reference: type-ahead instead of every record in a list."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        return Markup(
            '<select class="form-control itpm-filter-picker" name="{}" data-lookup="{}"></select>'
        ).format(field.name, url_for(self.endpoint))


def filter_pickers(spec: RecordTypeSpec, catalog: Catalog, searchable: list[str]) -> dict[str, Any]:
    """Search-form fields for the reference and people filters of a list."""
    pickers = {}
    for name in searchable:
        field = spec.fields.get(name)
        if name in ("assignee", "owner", "created_by", "updated_by") or (
            field is not None and field.kind == "user"
        ):
            endpoint = "PeopleLookup.lookup"
        elif name == "client" and "customer" in catalog.record_types:
            endpoint = f"{record_view_name('customer')}.lookup"
        elif field is not None and field.kind == "ref" and field.target in catalog.record_types:
            endpoint = f"{record_view_name(field.target)}.lookup"
        else:
            continue
        pickers[name] = StringField(lazy_text(spec.title_of(name)), widget=FilterPicker(endpoint))
    return pickers

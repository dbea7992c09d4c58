"""A record type's list: FAB's list over the rows the records service lets the person see,
its filters' pickers, the CSV export of the same rows, and the type-ahead of its records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Response, jsonify, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext
from markupsafe import Markup
from wtforms import StringField

from itpm.catalog import Catalog
from itpm.my_work import due_field, priority_choices
from itpm.permissions import record_view_name
from itpm.records.counts import list_count
from itpm.records.fields import RecordTypeSpec
from itpm.records.list_fields import MAX_PAGE, MAX_PAGE_SIZE, ListFields
from itpm.web.context import current_catalog, records_service
from itpm.web.i18n import lazy_text
from itpm.web.record_display import person_zone, see_ahead
from itpm.web.record_export import EXPORT_LIMIT, export_csv, export_relations, export_xlsx
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

    def is_float(self, col_name: str) -> bool:
        """Number fields (stored as NUMERIC) too: FAB's filters then compare them with numbers, not text
        (which PostgreSQL refuses)."""
        return super().is_float(col_name) or self.is_numeric(col_name)

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

    def query_count(self, query: Any, filters: Any = None, select_columns: Any = None) -> int:
        """Exact up to `itpm.records.counts.EXACT_UP_TO` rows, estimated past it ("about N")."""
        filtered = self._apply_inner_all(query, filters, select_columns=select_columns, aliases_mapping={})
        return list_count(self.session, filtered.statement)

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


class BadListQuery(ValueError):
    """A list address asking for what the list does not offer (a filter, sort or page); the message says which."""


class RecordList(RecordViewBase):
    """FAB's list on the fields the person may read, its export and the type-ahead.

    FAB builds a view's columns, filters and sort keys once per class; a record type's
    list takes them from the person's own fields (`Records.list_fields`) on each request,
    and refuses (400, naming it) a filter or sort key that is not among them, hidden or unknown.
    """

    list_widget = RecordListWidget

    @expose("/list/")
    @has_access
    def list(self) -> Any:
        self.update_redirect()
        try:
            widgets = self._list()
        except BadListQuery as error:
            return self.render_template(
                "itpm/error.html",
                code=400,
                icon="fa-filter",
                heading=gettext("This list cannot be shown so"),
                explanation=str(error),
            ), 400
        return self.render_template(self.list_template, title=self.list_title, widgets=widgets)

    def _list(self, **kwargs: Any) -> dict[str, Any]:
        sight = records_service().list_fields(self.type_name)
        name = self.__class__.__name__
        order_column, order_direction = get_order_args().get(name, ("", ""))
        if order_column and order_column not in sight.order:
            raise BadListQuery(
                gettext(
                    "The list cannot be sorted by %(field)s; it can be by: %(fields)s.",
                    field=order_column,
                    fields=", ".join(sight.order),
                )
            )
        if order_column in self.spec.fields:
            order_column = self.spec.fields[order_column].column
        filters = self._request_filters(sight)
        widgets = self._get_list_widget(
            filters=filters,
            order_column=order_column,
            order_direction=order_direction,
            page=_whole_number(f"page_{name}", 0, MAX_PAGE),
            page_size=min(_whole_number(f"psize_{name}", 1) or self.page_size, MAX_PAGE_SIZE),
            sight=sight,
            **kwargs,
        )
        widgets["search"] = self.search_widget(
            route_base=self.route_base,
            form=self.search_form.refresh(),
            include_cols=list(sight.filters),
            exclude_cols=[],
            filters=filters,
        )
        return widgets

    def _request_filters(self, sight: ListFields, interface: SQLAInterface | None = None) -> Any:
        """The list's filters from the address (`_flt_<n>_<field>`), only on fields the person may filter on."""
        filters = (interface or self.datamodel).get_filters(list(sight.filters))
        for arg in request.args:
            match = re.fullmatch(r"_flt_(\d+)_(.*)", arg)
            if match and match.group(2) not in sight.filters:
                raise BadListQuery(
                    gettext(
                        "The list cannot be filtered by %(field)s; it can be by: %(fields)s.",
                        field=match.group(2),
                        fields=", ".join(sight.filters),
                    )
                )
            if match and int(match.group(1)) >= len(filters.get_search_filters()[match.group(2)]):
                raise BadListQuery(gettext("%(arg)s is not a filter of this list.", arg=arg))
        get_filter_args(filters)
        return filters

    def _get_list_widget(
        self,
        filters: Any,
        actions: Any = None,
        order_column: str = "",
        order_direction: str = "",
        page: int | None = None,
        page_size: int | None = None,
        widgets: dict[str, Any] | None = None,
        sight: ListFields | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """FAB's list widget, with the person's columns and sort keys."""
        sight = sight or records_service().list_fields(self.type_name)
        widgets = widgets or {}
        page_size = page_size or self.page_size
        if not order_column:
            order_column, order_direction = self._default_order(sight)
        count, rows = self.datamodel.query(
            filters.get_joined_filters(self._base_filters), order_column, order_direction, page, page_size
        )
        columns = list(sight.columns)
        see_ahead(records_service(), rows, self.datamodel.shown)
        card = self._card_columns()
        widgets["list"] = self.list_widget(
            card=card,
            card_values=self.datamodel.get_values(rows, [c for c in card.values() if c]),
            label_columns=self.label_columns,
            include_columns=columns,
            value_columns=self.datamodel.get_values(rows, columns),
            order_columns=list(sight.order),
            formatters_columns=self.formatters_columns,
            page=page,
            page_size=page_size,
            count=count,
            pks=self.datamodel.get_keys(rows),
            rows=rows,  # for formatters that read the whole record (`takes_record`)
            actions=actions or self.actions,
            filters=filters,
            modelview_name=self.__class__.__name__,
            **kwargs,
        )
        return widgets

    def _card_columns(self) -> dict[str, str | None]:
        """What a record's card shows on a phone: its number, title, state, priority and when it is due
        (its SLA, else its due field), each only if the person may read it."""
        spec = self.spec
        hidden = records_service().access.hidden_fields(records_service().actor, spec)
        title = next((n for n in ("title", "name", "subject") if n in spec.fields), None)
        priority = priority_choices(spec)[0] or ("priority" if "priority" in spec.fields else None)
        due = "sla_due" if self.type_name in current_catalog().sla_policies else due_field(spec)
        due = due or spec.planning.get("due")
        return {
            "number": "number",
            "title": title if title not in hidden else None,
            "state": "state",
            "priority": priority if priority not in hidden else None,
            "due": due if due not in hidden else None,
        }

    def _default_order(self, sight: ListFields) -> tuple[str, str]:
        field, direction = sight.default_order
        return (self.spec.fields[field].column if field in self.spec.fields else field), direction

    @expose("/export/", methods=["GET"])
    @has_access
    def export(self) -> Response:
        """The list as a CSV file, with the list's filters, search and order; the rows one may export."""
        return self._export(export_csv, "csv")

    @expose("/export.xlsx", methods=["GET"])
    @has_access
    def export_xlsx(self) -> Response:
        """The list as an Excel workbook: the same rows, columns and rules as the CSV file."""
        return self._export(export_xlsx, "xlsx")

    def _export(self, write: Any, suffix: str) -> Response:
        records = records_service()
        sight = records.list_fields(self.type_name)
        exporting = RecordInterface(
            self.datamodel.obj, self.type_name, export_relations(records, self.spec), "export"
        )
        try:
            filters = self._request_filters(sight, exporting)
        except BadListQuery as error:
            return Response(str(error), status=400, mimetype="text/plain")
        order_column, order_direction = self._default_order(sight)
        _count, rows = exporting.query(
            filters.get_joined_filters(self._base_filters), order_column, order_direction, 0, EXPORT_LIMIT
        )
        return write(records, self.spec, rows, person_zone(), f"{self.type_name}.{suffix}")

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


def _whole_number(arg: str, least: int, most: int | None = None) -> int | None:
    """A page or page size from the address; None when not given, BadListQuery when not a whole number
    of at least `least` (and at most `most`)."""
    value = request.args.get(arg)
    if value is None:
        return None
    if not value.isdigit() or int(value) < least:
        raise BadListQuery(
            gettext("%(arg)s must be a whole number of at least %(least)s.", arg=arg, least=least)
        )
    if most is not None and int(value) > most:
        raise BadListQuery(gettext("%(arg)s must be a whole number of at most %(most)s.", arg=arg, most=most))
    return int(value)


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

"""The screens of every published record type, generated for each revision.

Each record type gets a Flask-AppBuilder ModelView: FAB's list (filters,
ordering, pagination, counts) over a data interface that asks the records
service for the rows the person may see; and itpm's own detail page and forms,
built from the type's schema and form definition, writing through the service.
One module per concern (list, form, files, workflow, page, history); here the
view class of each type is put together and registered.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, g
from flask_appbuilder import AppBuilder
from flask_jwt_extended import current_user as current_user_jwt
from flask_jwt_extended import verify_jwt_in_request

from itpm.access import Actor
from itpm.catalog import Catalog
from itpm.permissions import record_view_name
from itpm.records.fields import RecordTypeSpec
from itpm.records.list_fields import list_fields
from itpm.web.context import current_catalog, current_runtime
from itpm.web.i18n import lazy_text
from itpm.web.record_display import list_formatters, sla_formatters, state_formatter
from itpm.web.views.records.files import RecordFiles
from itpm.web.views.records.forms import RecordForms
from itpm.web.views.records.listing import RecordInterface, RecordList, filter_pickers
from itpm.web.views.records.lookups import PeopleLookup
from itpm.web.views.records.page import RecordPage
from itpm.web.views.records.transitions import RecordTransitions


class RecordView(RecordPage, RecordForms, RecordFiles, RecordTransitions, RecordList):
    """The screens of one record type; a subclass per type sets `type_name` and the columns."""


def record_view_class(spec: RecordTypeSpec, catalog: Catalog, zone: ZoneInfo) -> type[RecordView]:
    model = catalog.models.models[spec.name]
    form = catalog.forms[spec.name]
    widgets = {e.field: e.widget for e in form.entries}
    every = list_fields(spec)  # each request narrows these to the fields its person may read
    columns, searchable = list(every.columns), list(every.filters)
    attributes = {
        "type_name": spec.name,
        "route_base": f"/records/{spec.name}",
        "datamodel": RecordInterface(model, spec.name, columns),
        "list_title": lazy_text(spec.title),
        "list_columns": columns,
        "search_columns": searchable,
        "order_columns": list(every.order),
        "label_columns": {n: lazy_text(spec.title_of(n)) for n in {*columns, *searchable, *spec.fields}},
        "formatters_columns": {
            **list_formatters(spec, widgets, zone),
            "state": state_formatter(catalog.workflows.get(spec.name)),
            **sla_formatters(catalog.sla_policies.get(spec.name)),
        },
        "search_form_extra_fields": filter_pickers(spec, catalog, searchable),
    }
    return type(record_view_name(spec.name), (RecordView,), attributes)


def hide_pilot(spec: RecordTypeSpec) -> Any:
    """A request hook: a pilot's screens and API answer 404 outside its departments, as if absent."""

    def gate() -> None:
        user = getattr(g, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            try:
                verify_jwt_in_request(optional=True)
            except Exception:  # an invalid token is refused by the API itself
                return
            user = (
                current_user_jwt
                if current_user_jwt and getattr(current_user_jwt, "is_active", False)
                else None
            )
        if user is not None and not current_catalog().access.enabled(Actor.of(user), spec):
            abort(404)

    return gate


def add_record_views(appbuilder: AppBuilder, catalog: Catalog) -> None:
    """A menu entry and screens for every published record type, under its category."""
    zone = ZoneInfo(current_runtime().settings.timezone)
    appbuilder.add_view_no_menu(PeopleLookup)
    for spec in sorted(catalog.record_types.values(), key=lambda s: (s.category["en"], s.name)):
        view = record_view_class(spec, catalog, zone)
        if spec.departments is not None:
            for blueprint in (record_view_name(spec.name), f"{record_view_name(spec.name)}_api"):
                current_app.before_request_funcs.setdefault(blueprint, []).append(hide_pilot(spec))
        appbuilder.add_view(
            view,
            spec.name,
            label=lazy_text(spec.title),
            icon=f"fa {spec.icon}",
            category=spec.category["en"],
            category_label=lazy_text(spec.category),
        )

"""REST API of every published record type: /api/v1/records/<type>/.

A record is {"id", "type", "number", "state", "version", "data": {...}, and the
other system fields}. Lists take rison `q` (filters, order, page, page_size,
search) and answer {"count", "result"}. Errors: 400 for a bad query naming
the field, 404 for a record the caller may not see, 403 for a forbidden
action or field, 409 for a stale version, 413 for an oversized body, 422
with every problem by JSON path. The same records service as the screens.
One module per concern (list and query, one record, transitions, the OpenAPI
document); here the API class of each type is put together and registered.
"""

from __future__ import annotations

from flask_appbuilder import AppBuilder

from itpm.catalog import Catalog
from itpm.permissions import record_view_name
from itpm.web.api.records.forecast import RecordForecastApi
from itpm.web.api.records.item import RecordItemApi
from itpm.web.api.records.openapi import RecordApiDocs
from itpm.web.api.records.query import RecordListApi
from itpm.web.api.records.transitions import RecordTransitionsApi


class RecordApi(RecordListApi, RecordItemApi, RecordTransitionsApi, RecordForecastApi, RecordApiDocs):
    """The API of one record type; a subclass per type sets `type_name` and the routes."""


def add_record_apis(appbuilder: AppBuilder, catalog: Catalog) -> None:
    for spec in catalog.record_types.values():
        api = type(
            f"{record_view_name(spec.name)}_api",
            (RecordApi,),
            {
                "type_name": spec.name,
                "route_base": f"/api/v1/records/{spec.name}",
                "resource_name": f"records/{spec.name}",
                "class_permission_name": record_view_name(spec.name),
                "openapi_spec_tag": f"Records: {spec.title['en']}",
            },
        )
        appbuilder.add_api(api)

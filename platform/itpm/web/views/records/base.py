"""What every screen of a record type stands on: its type, its permissions, and reading one record.

The screens themselves are mixins over this base, one module per concern,
combined into one view class per record type by `itpm.web.views.records`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import abort, request
from flask_appbuilder import ModelView

from itpm.permissions import RECORD_PERMISSIONS
from itpm.records.fields import RecordTypeSpec
from itpm.records.service import RecordError, Records
from itpm.web.context import current_catalog


class RecordViewBase(ModelView):
    """The screens of one record type; a subclass per type sets `type_name` and the columns."""

    type_name = ""
    list_template = "itpm/records/list.html"
    page_size = 25
    base_permissions = list(RECORD_PERMISSIONS)
    # Transitions and decisions are the workflow's to allow (by its roles and approvers), on records one sees.
    method_permission_name = {
        "comment": "show",
        "download": "show",
        "lookup": "list",
        "upload": "add",
        "export": "export",
        "export_xlsx": "export",
        "transition": "show",
        "decide": "show",
        "withdraw": "show",
    }

    @property
    def spec(self) -> RecordTypeSpec:
        return current_catalog().record_types[self.type_name]

    def render_template(self, template: str, **kwargs: Any) -> Any:
        kwargs.setdefault("record_type", self.spec)
        kwargs.setdefault("search_words", request.args.get("q", ""))
        kwargs.setdefault("view_permission", self.class_permission_name)
        return super().render_template(template, **kwargs)

    def _get(self, records: Records, pk: int, action: str = "read", load: Iterable[str] = ()) -> Any:
        try:
            return records.get(self.type_name, pk, action, load)
        except RecordError as error:
            abort(error.status)

"""The fields of a record type one person may use in a list: columns, filters, sort keys,
words searched, and export columns. A field hidden from the person is none of these: for
them it does not exist, and naming it is the same mistake as naming a field that does not.

Pure: derived from the type's definition and the fields `Access` hides from the person.
The screens, the API, exports, type-ahead and related lists all ask here
(`Records.list_fields`), so that no path can sort, filter or search on what another hides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from itpm.records.fields import (
    BOOLEAN,
    DATE,
    DATETIME,
    ENUM,
    FILE,
    FILE_LIST,
    INTEGER,
    JSON,
    NUMBER,
    REF,
    RICHTEXT,
    TEXT,
    USER,
    RecordTypeSpec,
)

#: The most records one page of a list holds, on the screens and in the API.
MAX_PAGE_SIZE = 100
#: The last page number a list accepts: an offset any database can take.
MAX_PAGE = 10**7

#: System fields a list can filter and order on (the API's rison queries), with their kind.
SYSTEM_FILTERS = {
    "id": INTEGER, "number": TEXT, "state": TEXT, "assignee": USER, "owner": USER, "client": REF,
    "department": REF, "created_by": USER, "created_at": DATETIME, "updated_by": USER, "updated_at": DATETIME,
    "sla_due": DATETIME, "sla_status": TEXT, "sla_breached": BOOLEAN,
}  # fmt: skip
#: Kinds of defined field the API can filter and order on.
SCALAR_KINDS = {TEXT, RICHTEXT, ENUM, INTEGER, NUMBER, BOOLEAN, DATE, DATETIME, REF, USER, FILE}
#: System fields a screen's list can filter on, when the type's `filters` name them.
SCREEN_SYSTEM_FILTERS = (
    "state", "assignee", "owner", "client", "department", "created_at", "updated_at",
    "sla_due", "sla_status", "sla_breached",
)  # fmt: skip
#: References a screen's list shows by name but cannot sort by (the name is not the stored id).
PEOPLE_AND_PLACES = ("client", "department", "assignee", "owner", "created_by", "updated_by")
#: The system fields an export holds, before the defined ones.
EXPORTED_SYSTEM = ("number", "state", "assignee", "owner", "client", "department", "created_at", "updated_at")
#: Kinds a CSV file does not hold (files are downloaded, nested values have no one cell).
NOT_IN_CSV = (FILE, FILE_LIST, JSON)


@dataclass(frozen=True)
class ListFields:
    """What one person's list of one record type may show and be asked about."""

    #: The screen's columns, in the definition's order.
    columns: tuple[str, ...]
    #: The screen's filters.
    filters: tuple[str, ...]
    #: The screen's sort keys.
    order: tuple[str, ...]
    #: The API's filter and sort keys, each with its kind.
    queryable: Mapping[str, str]
    #: The defined fields searched by words (beside the number).
    search: tuple[str, ...]
    #: The order of a list that asks for none: the definition's, unless it sorts by a field one cannot see.
    default_order: tuple[str, str]
    #: The system fields an export holds, then the defined fields, and those it leaves out though
    #: the person may read them.
    export_system: tuple[str, ...]
    export: tuple[str, ...]
    not_exported: tuple[str, ...]


def list_fields(spec: RecordTypeSpec, hidden: Iterable[str] = ()) -> ListFields:
    """The list fields of `spec` for a person from whom the fields `hidden` are hidden."""
    hidden = frozenset(hidden)
    fields = {n: f for n, f in spec.fields.items() if n not in hidden}
    columns = tuple(c for c in spec.columns if c != "id" and c not in hidden)
    filters = tuple(
        c
        for c in spec.filters
        if c not in hidden and (c in SCREEN_SYSTEM_FILTERS or (c in fields and not fields[c].is_list))
    )
    order = tuple(
        c
        for c in columns
        if c not in PEOPLE_AND_PLACES
        and not (c in fields and (fields[c].kind in (REF, USER) or fields[c].is_list))
    )
    queryable = {n: kind for n, kind in SYSTEM_FILTERS.items() if n not in hidden}
    queryable.update(
        {
            n: fields[n].kind
            for n in (*spec.filters, *spec.columns)
            if n in fields and fields[n].kind in SCALAR_KINDS
        }
    )
    field, direction = spec.order
    visible = field in fields or (field in SYSTEM_FILTERS and field not in hidden)
    default_order = (field, direction) if visible else ("created_at", "desc")
    return ListFields(
        columns=columns,
        filters=filters,
        order=order,
        queryable=queryable,
        search=tuple(n for n in spec.search if n in fields),
        default_order=default_order,
        export_system=tuple(n for n in EXPORTED_SYSTEM if n not in hidden),
        export=tuple(n for n, f in fields.items() if f.kind not in NOT_IN_CSV),
        not_exported=tuple(n for n, f in fields.items() if f.kind in NOT_IN_CSV),
    )

"""Records as a CSV file a person opens in a spreadsheet: the columns they may see, as they read them.

Headers are field titles in the person's language, values are what the pages
show (choice labels, names, local times), hidden fields are left out, and the
rows are those the person's roles let them export. UTF-8 with a byte order
mark, so that spreadsheet programs read Chinese correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response
from markupsafe import Markup

from itpm.records.fields import EDITABLE_SYSTEM, RecordTypeSpec
from itpm.records.service import Records
from itpm.web.i18n import text
from itpm.web.record_display import display, person_name, visible_link

#: The most rows one export holds.
EXPORT_LIMIT = 50_000


def _plain(value: Any) -> str:
    """Text without markup: links keep their text, rich text its words."""
    if isinstance(value, Markup):
        return value.striptags()
    return "" if value is None else str(value)


def export_csv(
    records: Records, spec: RecordTypeSpec, rows: Iterable[Any], zone: ZoneInfo, filename: str
) -> Response:
    hidden = records.access.hidden_fields(records.actor, spec)
    fields = [
        f
        for name, f in spec.fields.items()
        if name not in hidden and f.kind not in ("file", "file_list", "json")
    ]
    system = ["number", "state", *EDITABLE_SYSTEM, "created_at", "updated_at"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([text(spec.title_of(n)) for n in system] + [text(f.title) for f in fields])
    for record in rows:
        line = [
            record.number,
            record.state,
            person_name(record.assignee),
            person_name(record.owner),
            _plain(visible_link(getattr(record, "client", None))),
            text(record.department.titles) if record.department else "",
            record.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            record.updated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        ]
        for field in fields:
            raw = (
                getattr(record, field.name)
                if field.kind in ("ref", "user")
                else getattr(record, field.column)
            )
            line.append(_plain(display(field, raw, zone)))
        writer.writerow(line)
    return Response(
        "\ufeff" + buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def export_relations(records: Records, spec: RecordTypeSpec) -> list[str]:
    """The relations an export reads for each row (loaded with the page, not row by row)."""
    names = ["assignee", "owner", "client", "department"]
    names += [f.name for f in spec.fields.values() if f.kind in ("ref", "user")]
    return [n for n in names if n in records.relations(spec.name)]

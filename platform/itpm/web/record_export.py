"""Records as a CSV file a person opens in a spreadsheet: the columns they may see, as they read them.

Headers are field titles in the person's language, values are what the pages
show (state and choice labels, names, local times; numbers as plain numbers),
hidden fields are left out, and the rows are those the person's roles let them
export. UTF-8 with a byte order mark, so that spreadsheet programs read Chinese
correctly.

No cell runs as a formula (OWASP's advice on CSV injection): every cell is quoted,
and text starting with a character that starts a formula (= + - @, a tab or a
carriage return, or their full-width forms) gets a leading single quote, which the
spreadsheet shows as text. Numbers that are genuinely numbers (-5, 1,234.5) stay numbers.

What the file leaves out is said in it, below the records after one empty row:
spreadsheets treat the rows up to the first empty one as the table (sorting,
filters, pivot tables), so the note stays out of the data and the header stays row 1.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response
from flask_babel import gettext
from markupsafe import Markup

from itpm.audit import note_read
from itpm.people import names_of
from itpm.records.fields import (
    INTEGER,
    NUMBER,
    REF_LIST,
    RICHTEXT,
    TEXT,
    USER_LIST,
    FieldSpec,
    RecordTypeSpec,
)
from itpm.records.service import Records
from itpm.records.values import rich_text_words
from itpm.web.i18n import text
from itpm.web.record_display import display, person_name, visible_link

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The most rows one export holds.
EXPORT_LIMIT = 50_000

#: What makes a spreadsheet read a cell as a formula, and the full-width forms Chinese input methods type.
FORMULA_STARTS = frozenset("=+-@＝＋－＠")
#: A number as the pages write it: an optional sign, digits (maybe in thousands), maybe decimals.
GENUINE_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def _plain(value: Any) -> str:
    """Text without markup: links keep their text, rich text its words."""
    if isinstance(value, Markup):
        return value.striptags()
    return "" if value is None else str(value)


def cell(value: Any) -> str:
    """A value as a cell no spreadsheet runs as a formula."""
    content = _plain(value)
    if GENUINE_NUMBER.fullmatch(content):
        return content
    if content[:1] in ("\t", "\r", "\n") or content.lstrip()[:1] in FORMULA_STARTS:
        return "'" + content
    return content


def _number(value: Any) -> str:
    """A number as a spreadsheet reads one: no thousands separators, no currency sign."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def export_table(
    records: Records, spec: RecordTypeSpec, rows: Iterable[Any], zone: ZoneInfo
) -> tuple[list[str], Iterator[list[Any]], list[str]]:
    """The header, the rows (cells as the pages show them, numbers as numbers) and the notes of an export."""
    sight = records.list_fields(spec.name)
    fields = [spec.fields[n] for n in sight.export]
    system = list(sight.export_system)
    workflow = records.catalog.workflows.get(spec.name)
    states = {name: text(state.title) for name, state in workflow.states.items()} if workflow else {}
    system_values = {
        "number": lambda r: r.number,
        "state": lambda r: states.get(r.state, r.state),
        "assignee": lambda r: person_name(r.assignee),
        "owner": lambda r: person_name(r.owner),
        "client": lambda r: _plain(visible_link(getattr(r, "client", None))),
        "department": lambda r: text(r.department.titles) if r.department else "",
        "created_at": lambda r: r.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "updated_at": lambda r: r.updated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
    }
    header = [text(spec.title_of(n)) for n in system] + [text(f.title) for f in fields]
    lists = _ListNames(records, [f for f in fields if f.kind in (REF_LIST, USER_LIST)])

    def lines() -> Iterator[list[Any]]:
        records_left = iter(rows)
        while batch := list(islice(records_left, 500)):
            lists.learn(batch)
            for record in batch:
                line: list[Any] = [system_values[n](record) for n in system]
                for field in fields:
                    raw = (
                        getattr(record, field.name)
                        if field.kind in ("ref", "user")
                        else getattr(record, field.column)
                    )
                    if field.kind in (INTEGER, NUMBER) and not field.choices:
                        line.append(_numeric(raw))
                    elif (
                        field.kind == TEXT
                    ):  # as written, line breaks and all (a page's markup would fold them)
                        line.append(raw)
                    elif field.kind == RICHTEXT:
                        line.append(rich_text_words(raw) if raw else "")
                    elif field.kind in (REF_LIST, USER_LIST):
                        line.append(lists.cell(field, raw))
                    else:
                        line.append(display(field, raw, zone))
                yield line

    notes = []
    if sight.not_exported:
        notes.append(
            gettext(
                "Not in this file: %(columns)s (files and nested values have no cell; open the records to see them).",
                columns=", ".join(text(spec.title_of(n)) for n in sight.not_exported),
            )
        )
    if records.access.hidden_fields(records.actor, spec):
        notes.append(gettext("Fields your roles do not let you read are not in this file."))
    return header, lines(), notes


class _ListNames:
    """The records and people a list field names, as the reader may know them: a record by its label (its
    number first, so that an import finds it again) or "a record you cannot see", a person by their name
    or "a user of another organisation". Looked up once per batch of rows, not row by row."""

    def __init__(self, records: Records, fields: list[FieldSpec]) -> None:
        self.records = records
        self.fields = fields
        self.known: dict[str | None, dict[int, str]] = {}  # by target type (None: people), by id

    def learn(self, batch: list[Any]) -> None:
        wanted: dict[str | None, set[int]] = {}
        for field in self.fields:
            target = None if field.kind == USER_LIST else field.target
            known = self.known.setdefault(target, {})
            for record in batch:
                ids = getattr(record, field.column) or []
                wanted.setdefault(target, set()).update(i for i in ids if i not in known)
        for target, ids in wanted.items():
            if not ids:
                continue
            known = self.known[target]
            if target is None:
                names = names_of(self.records.session, self.records.actor, ids)
                known.update({i: names.get(i) or gettext("a user of another organisation") for i in ids})
            else:
                labels = dict(self.records.lookup_ids(target, ids))
                known.update({i: labels.get(i) or gettext("a record you cannot see") for i in ids})

    def cell(self, field: FieldSpec, ids: list[int] | None) -> str:
        known = self.known[None if field.kind == USER_LIST else field.target]
        return "、".join(known[i] for i in ids or [])


def _numeric(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def export_csv(
    records: Records, spec: RecordTypeSpec, rows: Iterable[Any], zone: ZoneInfo, filename: str
) -> Response:
    header, lines, notes = export_table(records, spec, rows, zone)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow([cell(h) for h in header])
    for line in lines:
        writer.writerow([cell(_number(v)) if isinstance(v, int | float) else cell(v) for v in line])
    if notes:
        writer.writerow([])
        for note in notes:
            writer.writerow([cell(note)])
    note_read(records.session, "records.export", spec.name, {"file": filename, "format": "csv"})
    return Response(
        "\ufeff" + buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def export_xlsx(
    records: Records, spec: RecordTypeSpec, rows: Iterable[Any], zone: ZoneInfo, filename: str
) -> Response:
    """The same table as an Excel workbook: numbers as numbers, text as text (no cell is a formula), the
    notes on a second sheet so the first holds the table alone."""
    import openpyxl  # only for XLSX exports

    header, lines, notes = export_table(records, spec, rows, zone)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title=text(spec.title)[:31] or spec.name)
    sheet.append([cell(h) for h in header])
    for line in lines:
        sheet.append([v if isinstance(v, int | float) and not isinstance(v, bool) else cell(v) for v in line])
    if notes:
        about = book.create_sheet(title=gettext("Notes")[:31])
        for note in notes:
            about.append([cell(note)])
    buffer = io.BytesIO()
    book.save(buffer)
    note_read(records.session, "records.export", spec.name, {"file": filename, "format": "xlsx"})
    return Response(
        buffer.getvalue(),
        mimetype=XLSX,
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

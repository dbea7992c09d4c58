"""Rendering a report for a person, and keeping the PDF on the record it is about.

`render_report` is the one way to make a report, whoever asks: the web view,
the command line, and (later) a worker job of the automations. It reads the
data through the records service as the person asking, renders in a child
process within limits, and writes nothing; `store_report` keeps the PDF as a
new version of that report on its record (or its department), with who asked.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select

from itpm.db import utcnow
from itpm.files import store_file
from itpm.models import AuditEntry, StoredFile
from itpm.records.service import NotFound, Records
from itpm.reports.definition import ReportDefinition, report_definition
from itpm.reports.isolation import DEFAULT_LIMITS, Limits, run_isolated
from itpm.reports.sources import read_data
from itpm.reports.templates import render_html

LANGUAGES = ("zh", "en")
#: Stored reports are files of their record whose `field` is this prefix and the report's name.
FIELD_PREFIX = "report:"
#: Where a report about a department (not a record) is kept.
DEPARTMENT = "department"


@dataclass(frozen=True)
class Subject:
    """What a report is about, and where its PDF is kept: a record, or a department."""

    record_type: str
    record_id: int


@dataclass(frozen=True)
class RenderedReport:
    name: str
    lang: str
    arguments: dict[str, Any]
    subject: Subject | None
    pdf: bytes
    seconds: float
    peak_mb: float

    @property
    def filename(self) -> str:
        return f"{self.name}-{'-'.join(str(v) for v in self.arguments.values())}-{self.lang}.pdf"


def report_context(
    records: Records,
    definition: ReportDefinition,
    given: Mapping[str, Any],
    lang: str,
    now: dt.datetime | None = None,
) -> tuple[dict[str, Any], dict[str, Any], Subject | None]:
    """What the template gets, the parameters' values, and what the report is about.

    NotFound when the person may not see the record it is about, Forbidden when
    they see it but their roles do not let them report on it.
    """
    if lang not in LANGUAGES:
        raise NotFound(_("Reports are written in zh or en, not %(lang)s.", lang=lang))
    now = (now or utcnow()).astimezone(records.zone)
    arguments = definition.arguments(given, now.date())
    subject = _subject(records, definition, arguments)
    data, shown = read_data(records, definition, arguments, lang)
    context = {
        **data,
        "report": {
            "name": definition.name,
            "title": definition.title[lang],
            "generated_at": now.strftime("%Y-%m-%d %H:%M"),
            "generated_by": records.actor.username,
        },
        "lang": lang,
        "texts": definition.texts(lang),
        "params": arguments,
        "param_labels": shown,
        "today": now.date(),
        "now": now,
    }
    return context, arguments, subject


def _subject(records: Records, definition: ReportDefinition, arguments: Mapping[str, Any]) -> Subject | None:
    if definition.attach_to and arguments.get(definition.attach_to) is not None:
        parameter = definition.parameters[definition.attach_to]
        assert parameter.ref is not None  # the checks hold attach_to to a record reference
        record = records.get(parameter.ref, arguments[definition.attach_to], "report")
        return Subject(parameter.ref, record.id)
    department = next((n for n, p in definition.parameters.items() if p.ref == DEPARTMENT), None)
    if department and arguments.get(department) is not None:
        return Subject(DEPARTMENT, arguments[department])
    return None


def render_report(
    records: Records,
    name: str,
    given: Mapping[str, Any],
    lang: str,
    limits: Limits = DEFAULT_LIMITS,
    now: dt.datetime | None = None,
) -> RenderedReport:
    """The PDF of report `name` for the person of `records`, rendered in a child process within `limits`.

    NotFound (no such report, or a record the person may not see), Invalid (bad
    parameters), RenderError (the template or the rendering failed: nothing is made).
    """
    from itpm.reports.pdf import render_report_pdf  # WeasyPrint only where reports are rendered

    definition = report_definition(records.catalog, name)
    context, arguments, subject = report_context(records, definition, given, lang, now)
    outcome = run_isolated(render_report_pdf, (definition.templates, definition.files, context), limits)
    return RenderedReport(name, lang, arguments, subject, outcome.value, outcome.seconds, outcome.peak_mb)


def preview_report(
    records: Records, name: str, given: Mapping[str, Any], lang: str, limits: Limits = DEFAULT_LIMITS
) -> str:
    """The report's HTML, for a preview in the browser (in a child process too: it runs the template)."""
    definition = report_definition(records.catalog, name)
    context = report_context(records, definition, given, lang)[0]
    return run_isolated(render_html, (definition.templates, context), limits).value


def store_report(records: Records, rendered: RenderedReport, root: Path) -> StoredFile:
    """Keep a rendered PDF as the next version of its report on its record (or department), with who asked."""
    if rendered.subject is None:
        raise NotFound(_("This report is about no record, so it cannot be kept."))
    field = FIELD_PREFIX + rendered.name
    version = 1 + (
        records.session.scalar(
            select(func.count()).where(
                StoredFile.record_type == rendered.subject.record_type,
                StoredFile.record_id == rendered.subject.record_id,
                StoredFile.field == field,
            )
        )
        or 0
    )
    stem = rendered.filename.removesuffix(".pdf")
    stored = store_file(
        records.session,
        root,
        io.BytesIO(rendered.pdf),
        f"{stem}-v{version}.pdf",
        "application/pdf",
        records.actor,
        rendered.subject.record_type,
        field,
    )
    stored.record_id = rendered.subject.record_id
    records.session.add(
        AuditEntry(
            actor=records.actor.username,
            action="report.render",
            target=f"{rendered.subject.record_type}/{rendered.subject.record_id}",
            detail={
                "report": rendered.name,
                "version": version,
                "lang": rendered.lang,
                "file": stored.id,
                "parameters": rendered.arguments,
            },
        )
    )
    records.session.flush()
    return stored


def stored_reports(records: Records, subject: Subject) -> list[StoredFile]:
    """The PDFs kept on a record (or department) the person may see, newest first."""
    if subject.record_type == DEPARTMENT:
        rows = records.session.scalars(
            select(StoredFile).where(
                StoredFile.record_type == DEPARTMENT,
                StoredFile.record_id == subject.record_id,
                StoredFile.field.startswith(FIELD_PREFIX),
                StoredFile.deleted.is_(False),
            )
        )
        files = [f for f in rows if _may_read_department_report(records, f)]
    else:
        files = [
            f
            for f in records.files(subject.record_type, subject.record_id)
            if (f.field or "").startswith(FIELD_PREFIX)
        ]
    return sorted(files, key=lambda f: -f.id)


def stored_report(records: Records, file_id: int) -> StoredFile:
    """One kept report PDF, if the person may read it (they may see its record); else NotFound."""
    stored = records.session.get(StoredFile, file_id)
    missing = NotFound(_("There is no report file %(id)s.", id=file_id))
    if (
        stored is None
        or stored.deleted
        or not (stored.field or "").startswith(FIELD_PREFIX)
        or stored.record_id is None
    ):
        raise missing
    if stored.record_type == DEPARTMENT:
        if not _may_read_department_report(records, stored):
            raise missing
        return stored
    if stored.id not in {f.id for f in records.files(stored.record_type, stored.record_id)}:
        raise missing
    return stored


def _may_read_department_report(records: Records, stored: StoredFile) -> bool:
    """A department's report: for who asked for it, and for who manages that department."""
    actor = records.actor
    if actor.is_system or (actor.id is not None and stored.uploaded_by_id == actor.id):
        return True
    return actor.department_id == stored.record_id and "manage_department" in records.access.abilities(actor)

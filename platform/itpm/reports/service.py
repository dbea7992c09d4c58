"""Rendering a report for a person, and keeping the PDF on the record it is about.

`render_report` is the one way to make a report, whoever asks: the jobs that
render what people request in the web (`itpm.reports.requests`), the command
line, and the automations. It reads the data through the records service as
the person asking, renders in a child process within limits, and writes
nothing; `store_report` keeps the PDF as a new version of that report on its
record (or its department; a report about neither, with the person who asked),
with who asked.
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

from itpm.access import Actor
from itpm.db import utcnow
from itpm.files import file_path, store_file
from itpm.forecast.report import report_forecast
from itpm.kpis.reports import report_kpis
from itpm.models import AuditEntry, Person, StoredFile
from itpm.notifications import Attachment
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
#: Where a report about no record or department is kept: with the person who asked, for them alone.
PERSONAL = "personal"
#: A kept PDF up to this size goes with its e-mail; a bigger one is only linked.
ATTACHMENT_LIMIT = 5 * 1024 * 1024


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
    now = (now or utcnow()).astimezone(records.zone)
    arguments, subject = checked_parameters(records, definition, given, lang, now.date())
    data, shown = read_data(records, definition, arguments, lang)
    context = {
        **data,
        "kpis": report_kpis(records, definition.body, arguments, now, lang),
        "forecast": report_forecast(records, definition.body, arguments, now.date()),
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


def checked_parameters(
    records: Records, definition: ReportDefinition, given: Mapping[str, Any], lang: str, today: dt.date
) -> tuple[dict[str, Any], Subject | None]:
    """The parameters' values and what the report is about, when the person may have it rendered.

    Invalid names every bad parameter; NotFound (or Forbidden) when the record
    it is about is out of the person's reach. What a request is checked with
    before it is queued, and the rendering again when it runs.
    """
    if lang not in LANGUAGES:
        raise NotFound(_("Reports are written in zh or en, not %(lang)s.", lang=lang))
    arguments = definition.arguments(given, today)
    return arguments, _subject(records, definition, arguments)


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


@dataclass(frozen=True)
class PreparedReport:
    """A report's data read for a person: all its rendering needs, without the database."""

    definition: ReportDefinition
    lang: str
    arguments: dict[str, Any]
    subject: Subject | None
    context: dict[str, Any]


def prepare_report(
    records: Records, name: str, given: Mapping[str, Any], lang: str, now: dt.datetime | None = None
) -> PreparedReport:
    """The data of report `name` read as the person of `records` (the part of a rendering that reads).

    NotFound (no such report, or a record the person may not see), Invalid (bad parameters).
    """
    definition = report_definition(records.catalog, name)
    context, arguments, subject = report_context(records, definition, given, lang, now)
    return PreparedReport(definition, lang, arguments, subject, context)


def render_prepared(prepared: PreparedReport, limits: Limits = DEFAULT_LIMITS) -> RenderedReport:
    """The PDF of a prepared report, in a child process within `limits`; RenderError when it fails."""
    from itpm.reports.pdf import render_report_pdf  # WeasyPrint only where reports are rendered

    definition = prepared.definition
    outcome = run_isolated(
        render_report_pdf, (definition.templates, definition.files, prepared.context), limits
    )
    return RenderedReport(
        definition.name,
        prepared.lang,
        prepared.arguments,
        prepared.subject,
        outcome.value,
        outcome.seconds,
        outcome.peak_mb,
    )


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
    return render_prepared(prepare_report(records, name, given, lang, now), limits)


def preview_report(
    records: Records, name: str, given: Mapping[str, Any], lang: str, limits: Limits = DEFAULT_LIMITS
) -> str:
    """The report's HTML, for a preview in the browser (in a child process too: it runs the template)."""
    definition = report_definition(records.catalog, name)
    context = report_context(records, definition, given, lang)[0]
    return run_isolated(render_html, (definition.templates, context), limits).value


def store_report(records: Records, rendered: RenderedReport, root: Path) -> StoredFile:
    """Keep a rendered PDF as the next version of its report on its record (or department), with who asked.

    A report about neither is kept with the person who asked, for them alone.
    """
    subject = rendered.subject
    if subject is None and records.actor.id is not None:
        subject = Subject(PERSONAL, records.actor.id)
    if subject is None:
        raise NotFound(_("This report is about no record, so it cannot be kept."))
    field = FIELD_PREFIX + rendered.name
    version = 1 + (
        records.session.scalar(
            select(func.count()).where(
                StoredFile.record_type == subject.record_type,
                StoredFile.record_id == subject.record_id,
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
        subject.record_type,
        field,
    )
    stored.record_id = subject.record_id
    stored.rendered_as = records.actor.as_json()  # who may download it: who sees as much (`Records.files`)
    records.session.add(
        AuditEntry(
            actor=records.actor.username,
            action="report.render",
            target=f"{subject.record_type}/{subject.record_id}",
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
    if subject.record_type in (DEPARTMENT, PERSONAL):
        rows = records.session.scalars(
            select(StoredFile).where(
                StoredFile.record_type == subject.record_type,
                StoredFile.record_id == subject.record_id,
                StoredFile.field.startswith(FIELD_PREFIX),
                StoredFile.deleted.is_(False),
            )
        )
        files = [f for f in rows if _may_read_kept_report(records, f)]
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
    if stored.record_type in (DEPARTMENT, PERSONAL):
        if not _may_read_kept_report(records, stored):
            raise missing
        return stored
    if stored.id not in {f.id for f in records.files(stored.record_type, stored.record_id)}:
        raise missing
    return stored


def _may_read_kept_report(records: Records, stored: StoredFile) -> bool:
    """A department's report: for who asked for it, and for who manages that department.
    A personal one: for who asked for it alone."""
    actor = records.actor
    if actor.is_system or (actor.id is not None and stored.uploaded_by_id == actor.id):
        return True
    if stored.record_type == PERSONAL:
        return False
    return (
        actor.department_id == stored.record_id
        and "manage_department" in records.access.abilities(actor)
        and (
            stored.rendered_as is None
            or records.access.sees_all_of(
                actor, Actor.from_json(stored.rendered_as), records.catalog.record_types.values()
            )
        )
    )


def report_attachments(
    records: Records, people: list[Person], file_id: int, root: Path
) -> dict[int, list[Attachment]]:
    """A kept PDF as an e-mail attachment for each of `people` who may download it, when it is small enough.

    The others (and everyone, for a big PDF) get the link alone: an e-mail must
    not carry what its reader could not download.
    """
    stored = records.session.get(StoredFile, file_id)
    attachment = pdf_attachment(stored, root) if stored is not None else None
    if attachment is None:
        return {}
    allowed = {}
    for person in people:
        reader = Records(records.session, records.catalog, Actor.of(person), timezone=records.zone.key)
        try:
            stored_report(reader, file_id)
        except NotFound:
            continue
        allowed[person.id] = [attachment]
    return allowed


def pdf_attachment(stored: StoredFile, root: Path) -> Attachment | None:
    """A kept PDF to go with an e-mail; None when it is bigger than `ATTACHMENT_LIMIT` (it is linked instead)."""
    if stored.size > ATTACHMENT_LIMIT:
        return None
    return Attachment(stored.filename, "application/pdf", file_path(root, stored.sha256).read_bytes())

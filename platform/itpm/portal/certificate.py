"""The acceptance certificate: a PDF made when a client accepts a deliverable, kept on it.

Rendered by the reports' WeasyPrint machinery (`itpm.reports.pdf`: no file but its own is
loaded), in Chinese and English, and kept as a file of the deliverable with no field, so
whoever may read the deliverable downloads it, through the records service like any file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from itpm.files import store_file
from itpm.models import Person, StoredFile
from itpm.people import display_name
from itpm.records.service import Records
from itpm.reports.pdf import render_pdf

#: The file field a certificate is kept under (no defined field: it follows the record's rights).
CERTIFICATE = "acceptance_certificate"
TEMPLATES = Environment(loader=PackageLoader("itpm", "templates"), autoescape=select_autoescape())


def certificate_html(records: Records, deliverable: Any, comment: str) -> str:
    data = records.data(deliverable)
    project = getattr(deliverable, "project", None)
    client = getattr(deliverable, "client", None)
    person = records.session.get(Person, records.actor.id) if records.actor.id else None
    name = display_name(person.first_name, person.last_name, person.username) if person else ""
    moment = records.clock().astimezone(records.zone)
    return TEMPLATES.get_template("itpm/portal/certificate.html").render(
        certificate=f"{deliverable.number}-A{moment:%Y%m%d%H%M}",
        client=str(client) if client is not None else "",
        project=str(project) if project is not None else "",
        number=deliverable.number,
        name=data.get("name", ""),
        version=data.get("version_label", ""),
        delivered_on=data.get("delivered_on", ""),
        accepted_by=f"{name} ({records.actor.username})" if name else records.actor.username,
        accepted_at=f"{moment:%Y-%m-%d %H:%M} ({records.zone.key})",
        comment=comment,
    )


def keep_certificate(records: Records, deliverable: Any, comment: str, root: Path) -> StoredFile:
    """Render the certificate of the deliverable just accepted and keep it on the record."""
    pdf = render_pdf(certificate_html(records, deliverable, comment), {})
    stored = store_file(
        records.session,
        root,
        io.BytesIO(pdf),
        f"{deliverable.number}-acceptance-certificate.pdf",
        "application/pdf",
        records.actor,
        deliverable.__record_type__,
        CERTIFICATE,
    )
    stored.record_id = deliverable.id
    records.session.flush()
    return stored

"""A record's files: downloading one, and storing the files uploaded with a form."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, send_file
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access

from itpm.audit import note_read
from itpm.files import file_path, store_file
from itpm.records.fields import FILE_LIST, RecordTypeSpec
from itpm.records.service import RecordError, Records
from itpm.web.context import current_runtime, records_service
from itpm.web.views.records.base import RecordViewBase


class RecordFiles(RecordViewBase):
    """Downloading a file of a record one may see."""

    @expose("/download/<int:pk>/<int:file_id>", methods=["GET"])
    @has_access
    def download(self, pk: int, file_id: int) -> Response:
        records = records_service()
        try:
            files = {f.id: f for f in records.files(self.type_name, pk)}  # checks the record is visible
        except RecordError as error:
            abort(error.status)
        stored = files.get(file_id)
        if stored is None:
            abort(404)
        note_read(
            records.session,
            "file.download",
            f"{self.type_name}/{pk}",
            {"file": stored.id, "name": stored.filename},
        )
        path = file_path(current_runtime().settings.instance_path, stored.sha256)
        response = send_file(
            path, mimetype=stored.content_type, as_attachment=True, download_name=stored.filename
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def attach_uploads(records: Records, spec: RecordTypeSpec, parsed: Any) -> None:
    """Store files uploaded with the form; their ids join the field's value (the records service links them
    to the record it saves, and only them)."""
    root = current_runtime().settings.instance_path
    for name, uploads in parsed.uploads.items():
        stored = [
            store_file(
                records.session,
                root,
                u.stream,
                u.filename,
                u.mimetype,
                records.actor,
                spec.name,
                name,
            )
            for u in uploads
        ]
        field = spec.fields[name]
        ids = [s.id for s in stored]
        if field.kind == FILE_LIST:
            parsed.data[name] = [*(parsed.data.get(name) or []), *ids]
        else:
            parsed.data[name] = ids[-1]

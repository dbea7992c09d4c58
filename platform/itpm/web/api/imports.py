"""REST API of imports: /api/v1/imports/ (CSV or XLSX files into a record type) and saved mappings.

`POST /api/v1/imports/` takes a multipart form: `record_type`, `file`, and
optionally `mapping` (JSON) or `mapping_name`, `key`, `dry_run`, `automations`
and `save_mapping` (a name to keep the mapping under). A dry run answers 200 with
every row's verdict counted and every error by row, column and reason; an import
answers 202 with the run, whose progress is at `GET /api/v1/imports/<id>`.
Errors: 422 naming the file, column, mapping path or field; 403 for a type or
field the caller may not write; 404 for a type they do not have. The same
engine and access rules as the screens and `itpm import` (`itpm.records.imports`).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request, send_file
from flask_appbuilder.api import BaseApi, expose, rison, safe
from flask_appbuilder.security.decorators import protect
from sqlalchemy import select

from itpm.definitions.problems import Problem
from itpm.models import ImportRun
from itpm.records.imports import (
    Importer,
    ImportRefused,
    Mapping_,
    error_file_path,
    imports_folder,
    keep_upload,
    load_mapping,
    mappings_of,
    messages_by_row,
    parse_mapping,
    progress_of,
    save_mapping,
    start_import,
)
from itpm.records.service import RecordError, Records
from itpm.web.context import current_runtime, records_service

LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "page": {"type": "integer", "minimum": 0},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100},
    },
    "additionalProperties": False,
}
TRUE = ("1", "true", "yes", "on")


def may_see_all(records: Records) -> bool:
    """Who administers jobs sees every import (their progress), others their own."""
    return "administer_jobs" in records.access.abilities(records.actor)


def visible_run(records: Records, import_id: int) -> ImportRun | None:
    run = records.session.get(ImportRun, import_id)
    if run is None or (run.requested_by_id != records.actor.id and not may_see_all(records)):
        return None
    return run


def submitted_mapping(records: Records, form: Any) -> Mapping_ | None:
    """The mapping a form names: given as JSON (`mapping`), or saved (`mapping_name`)."""
    if form.get("mapping"):
        return parse_mapping(form["mapping"])
    if form.get("mapping_name"):
        return load_mapping(records.session, form["mapping_name"])
    return None


def check_file(records: Records, importer: Importer) -> dict[str, Any]:
    """A dry run's answer, its error file kept for the person who asked (by an unguessable name)."""
    outcome = importer.dry_run()
    answer = {"dry_run": True, "record_type": importer.spec.name, **outcome.as_json()}
    if outcome.failed:
        suffix = "xlsx" if importer.source.format == "xlsx" else "csv"
        name = f"check-{records.actor.id}-{uuid.uuid4().hex}.{suffix}"
        importer.error_file(
            outcome.error_rows,
            messages_by_row(outcome.problems),
            imports_folder(current_runtime().settings.instance_path) / name,
        )
        answer["error_file"] = name
    return answer


class ImportsApi(BaseApi):
    resource_name = "imports"
    openapi_spec_tag = "Imports"
    class_permission_name = "ImportsView"
    base_permissions = ["can_list", "can_add"]
    method_permission_name = {
        "post": "add",
        "get_list": "list",
        "get": "list",
        "errors": "list",
        "check_errors": "list",
        "mappings": "list",
        "put_mapping": "add",
    }
    allow_browser_login = True

    def _error(self, error: RecordError) -> Response:
        return self.response(error.status, **error.as_json())

    @expose("/", methods=["POST"])
    @protect()
    @safe
    def post(self) -> Response:
        """Import a CSV or XLSX file into a record type, or check it (dry run).
        ---
        post:
          summary: Import (or check) a file; the rows go through the records service as the caller
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema:
                  type: object
                  required: [record_type, file]
                  properties:
                    record_type: {type: string}
                    file: {type: string, format: binary, description: "CSV (UTF-8 or GB18030) or XLSX"}
                    mapping: {type: string, description: 'JSON: {"columns": {header: field or null}, "values": {field: {alias: value}}}'}
                    mapping_name: {type: string, description: A saved mapping}
                    save_mapping: {type: string, description: Keep the mapping under this name}
                    key: {type: string, description: 'number, or a field: a row whose key exists updates its record'}
                    dry_run: {type: boolean}
                    automations: {type: boolean, description: Let automations act on the imported records}
          responses:
            200: {description: 'The dry run: counts of insert, update, unchanged and error, every error by row, column and reason'}
            202: {description: "The import is queued; its progress is at the Location"}
            403: {description: "The caller may not create or write these records or fields"}
            404: {description: "No such record type"}
            422: {description: "The file, its columns or the mapping are refused, each problem named"}
        """
        form = request.form
        upload = request.files.get("file")
        records = records_service()
        problems = []
        if not form.get("record_type"):
            problems.append(Problem("", "/record_type", "is required"))
        if upload is None or not upload.filename:
            problems.append(Problem("", "/file", "is required"))
        if problems:
            return self.response(
                422, message="The request has problems.", errors=[p.as_json() for p in problems]
            )
        try:
            mapping = submitted_mapping(records, form)
            source = keep_upload(current_runtime().settings.instance_path, upload.stream, upload.filename)
            key = form.get("key") or None
            automations = form.get("automations", "").lower() in TRUE
            importer = Importer(records, form["record_type"], source, mapping, key, automations)
            if form.get("save_mapping"):
                save_mapping(
                    records.session, form["save_mapping"], importer.spec.name, importer.mapping, records.actor
                )
                records.session.commit()
            if form.get("dry_run", "").lower() in TRUE:
                return self.response(200, **check_file(records, importer))
            run = start_import(records, importer.spec.name, source, importer.mapping, key, automations)
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        response = self.response(202, **progress_of(run))
        response.headers["Location"] = f"/api/v1/imports/{run.id}"
        return response

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @rison(LIST_SCHEMA)
    def get_list(self, **kwargs: Any) -> Response:
        """Imports: one's own (every one, for who administers jobs), newest first.
        ---
        get:
          summary: Imports and their progress
          parameters:
          - in: query
            name: q
            content:
              application/json:
                schema: {type: object, properties: {page: {type: integer}, page_size: {type: integer}}}
          responses:
            200: {description: "The imports and their count"}
        """
        args = kwargs.get("rison", {})
        records = records_service()
        query = select(ImportRun).order_by(ImportRun.id.desc())
        if not may_see_all(records):
            query = query.where(ImportRun.requested_by_id == records.actor.id)
        runs = list(records.session.scalars(query))
        page, size = args.get("page", 0), args.get("page_size", 25)
        return self.response(
            200, count=len(runs), result=[progress_of(r) for r in runs[page * size : (page + 1) * size]]
        )

    @expose("/<int:import_id>", methods=["GET"])
    @protect()
    @safe
    def get(self, import_id: int) -> Response:
        """One import's progress: rows done, rows per second, time left, counts and errors.
        ---
        get:
          summary: An import's progress
          parameters:
          - {in: path, name: import_id, required: true, schema: {type: integer}}
          responses:
            200: {description: "The import"}
            404: {description: "No such import of the caller's"}
        """
        run = visible_run(records_service(), import_id)
        if run is None:
            return self.response(404, message=f"There is no import {import_id}.")
        return self.response(200, **progress_of(run))

    @expose("/<int:import_id>/errors", methods=["GET"])
    @protect()
    @safe
    def errors(self, import_id: int) -> Response:
        """The rows an import refused, as they were in the file, with an error column (the file's format).
        ---
        get:
          summary: An import's error file
          parameters:
          - {in: path, name: import_id, required: true, schema: {type: integer}}
          responses:
            200: {description: "The error file"}
            404: {description: "No such import, or it refused no row"}
        """
        run = visible_run(records_service(), import_id)
        path = error_file_path(current_runtime().settings.instance_path, run) if run else None
        if path is None or not path.exists():
            return self.response(404, message=f"Import {import_id} has no error file.")
        return send_file(
            path, as_attachment=True, download_name=f"errors-{run.filename}".rsplit(".", 1)[0] + path.suffix
        )

    @expose("/checks/<name>", methods=["GET"])
    @protect()
    @safe
    def check_errors(self, name: str) -> Response:
        """The error file of one's own dry run.
        ---
        get:
          summary: A dry run's error file
          parameters:
          - {in: path, name: name, required: true, schema: {type: string}}
          responses:
            200: {description: "The error file"}
            404: {description: "No such file of the caller's"}
        """
        records = records_service()
        prefix = f"check-{records.actor.id}-"
        path = imports_folder(current_runtime().settings.instance_path) / name
        if not name.startswith(prefix) or "/" in name or not path.exists():
            return self.response(404, message="There is no such file.")
        return send_file(path, as_attachment=True, download_name=f"import-errors{path.suffix}")

    @expose("/mappings/", methods=["GET"])
    @protect()
    @safe
    def mappings(self) -> Response:
        """Saved mappings (of one record type, with ?record_type=).
        ---
        get:
          summary: Saved mappings
          responses:
            200: {description: "The mappings"}
        """
        records = records_service()
        record_type = request.args.get("record_type", "")
        rows = mappings_of(records.session, record_type) if record_type else []
        result = [
            {"name": m.name, "record_type": m.record_type, **m.body, "updated_by": m.updated_by} for m in rows
        ]
        return self.response(200, count=len(result), result=result)

    @expose("/mappings/<name>", methods=["PUT"])
    @protect()
    @safe
    def put_mapping(self, name: str) -> Response:
        """Save a mapping by name: {"record_type", "columns": {header: field or null}, "values": {field: {alias: value}}}.
        ---
        put:
          summary: Save a mapping
          parameters:
          - {in: path, name: name, required: true, schema: {type: string}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object}
          responses:
            200: {description: "The mapping as saved"}
            422: {description: "The mapping's problems, by JSON path"}
        """
        records = records_service()
        body = request.get_json(silent=True)
        try:
            if not isinstance(body, dict):
                raise ImportRefused(
                    "The request body must be a JSON object.", [Problem("", "/", "must be an object")]
                )
            record_type = body.get("record_type")
            if not isinstance(record_type, str):
                raise ImportRefused("record_type is required.", [Problem("", "/record_type", "is required")])
            spec = records.spec(record_type)
            mapping = parse_mapping({k: v for k, v in body.items() if k != "record_type"})
            saved = save_mapping(records.session, name, spec.name, mapping, records.actor)
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(200, name=saved.name, record_type=saved.record_type, **saved.body)

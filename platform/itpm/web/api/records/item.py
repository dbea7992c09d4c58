"""One record in the API: read, create, change and delete it; its history and comments."""

from __future__ import annotations

from flask import Response, request
from flask_appbuilder.api import expose, safe
from flask_appbuilder.security.decorators import protect

from itpm.records.fields import EDITABLE_SYSTEM
from itpm.records.service import RecordError
from itpm.web.api.records.base import RecordApiBase
from itpm.web.context import records_service


class RecordItemApi(RecordApiBase):
    """One record: read, create, change, delete; its history and comments."""

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    def get(self, pk: int) -> Response:
        """One record.
        ---
        get:
          summary: A record, with its defined fields under data
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200:
              description: The record
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/RecordTemplate'}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        try:
            return self.response(200, **records.as_json(records.get(self.type_name, pk)))
        except RecordError as error:
            return self._error(error)

    @expose("/", methods=["POST"])
    @protect()
    @safe
    def post(self) -> Response:
        """Create a record.
        ---
        post:
          summary: Create a record; system fields it may set sit beside data
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/RecordTemplateCreate'}
          responses:
            201:
              description: The new record
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/RecordTemplate'}
            403: {$ref: '#/components/responses/403'}
            413: {description: The body is too large}
            422: {description: 'Problems, each with its JSON path'}
        """
        payload = self._body(("data", *EDITABLE_SYSTEM))
        if isinstance(payload, Response):
            return payload
        records = records_service()
        try:
            record = records.create(
                self.type_name,
                payload.get("data", {}),
                {k: payload[k] for k in EDITABLE_SYSTEM if k in payload},
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(201, **records.as_json(record))

    @expose("/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    def put(self, pk: int) -> Response:
        """Change a record.
        ---
        put:
          summary: Change the fields given (null clears one), based on the version last read
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: '#/components/schemas/RecordTemplateUpdate'}
          responses:
            200:
              description: The changed record
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/RecordTemplate'}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: The record changed since that version; the current record is returned}
            422: {description: 'Problems, each with its JSON path'}
        """
        payload = self._body(("data", "version", *EDITABLE_SYSTEM))
        if isinstance(payload, Response):
            return payload
        version = payload.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            return self.response(
                422,
                message="version must be an integer.",
                errors=[{"path": "/version", "message": "must be an integer"}],
            )
        records = records_service()
        try:
            record = records.update(
                self.type_name,
                pk,
                payload.get("data", {}),
                version,
                {k: payload[k] for k in EDITABLE_SYSTEM if k in payload},
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(200, **records.as_json(record))

    @expose("/<int:pk>", methods=["DELETE"])
    @protect()
    @safe
    def delete(self, pk: int) -> Response:
        """Delete a record.
        ---
        delete:
          summary: Delete a record (refused while other records refer to it)
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - {in: query, name: version, schema: {type: integer}}
          responses:
            200: {description: Deleted}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: 'Changed since that version, or referred to by other records'}
        """
        given = request.args.get("version")
        try:  # not request.args.get(type=int): it takes "abc" for no version, and deletes unchecked
            version = None if given is None else int(given)
        except ValueError:
            return self.response(
                422,
                message="version must be an integer.",
                errors=[{"path": "?version", "message": "must be an integer"}],
            )
        records = records_service()
        try:
            records.delete(self.type_name, pk, version)
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(200, message="deleted")

    @expose("/<int:pk>/history", methods=["GET"])
    @protect()
    @safe
    def history(self, pk: int) -> Response:
        """A record's history.
        ---
        get:
          summary: Who changed what and when, newest first
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: The history}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        try:
            events = records.history(self.type_name, pk)
        except RecordError as error:
            return self._error(error)
        return self.response(200, count=len(events), result=events)

    @expose("/<int:pk>/comments", methods=["GET"])
    @protect()
    @safe
    def comments(self, pk: int) -> Response:
        """A record's comments.
        ---
        get:
          summary: Comments, oldest first
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: The comments}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        try:
            found = records.comments(self.type_name, pk)
        except RecordError as error:
            return self._error(error)
        names = records.authors(found)
        result = [
            {
                "id": c.id,
                # a person the reader may not see (another organisation's user) is named by neither
                "author": c.author if names.get(c.author_id, c.author) else None,
                "author_name": names.get(c.author_id, c.author),
                "body": c.body,
                "internal": c.internal,
                "created_at": c.created_at.isoformat(),
            }
            for c in found
        ]
        return self.response(200, count=len(result), result=result)

    @expose("/<int:pk>/comments", methods=["POST"])
    @protect()
    @safe
    def add_comment(self, pk: int) -> Response:
        """Comment on a record.
        ---
        post:
          summary: Add a comment
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties: {body: {type: string}, internal: {type: boolean, description: for staff only}}
                  required: [body]
          responses:
            201: {description: The comment}
            404: {$ref: '#/components/responses/404'}
            422: {description: An empty or oversized comment}
        """
        payload = self._body()
        if isinstance(payload, Response):
            return payload
        records = records_service()
        try:
            comment = records.add_comment(
                self.type_name, pk, str(payload.get("body", "")), internal=payload.get("internal") is True
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(201, id=comment.id, author=comment.author, body=comment.body)

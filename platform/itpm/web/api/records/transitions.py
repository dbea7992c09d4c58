"""A record's workflow in the API: the transitions one may take now, and taking one
(it completes, or waits for its approval chain)."""

from __future__ import annotations

from flask import Response
from flask_appbuilder.api import expose, safe
from flask_appbuilder.security.decorators import protect

from itpm.records.service import RecordError
from itpm.web.api.approvals import approval_json
from itpm.web.api.records.base import RecordApiBase
from itpm.web.context import records_service
from itpm.workflows.engine import Workflows


class RecordTransitionsApi(RecordApiBase):
    """The transitions of a record one may take, and taking one."""

    @expose("/<int:pk>/transitions", methods=["GET"])
    @protect()
    @safe
    def transitions(self, pk: int) -> Response:
        """The transitions one may take on a record now.
        ---
        get:
          summary: Transitions available to the caller from the record's state
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: The transitions}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        workflows = Workflows(records)
        try:
            record = records.get(self.type_name, pk)
        except RecordError as error:
            return self._error(error)
        result = [
            {
                "name": t.name,
                "title": t.title,
                "to": t.target,
                "requires": list(t.requires),
                "approval": t.approval is not None,
            }
            for t in workflows.available(record)
        ]
        pending = workflows.pending(record)
        return self.response(
            200, state=record.state, result=result, pending_approval=pending.id if pending else None
        )

    @expose("/<int:pk>/transitions/<name>", methods=["POST"])
    @protect()
    @safe
    def take_transition(self, pk: int, name: str) -> Response:
        """Take a transition.
        ---
        post:
          summary: Take a transition (it completes, or waits for its approval chain)
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - {in: path, name: name, required: true, schema: {type: string}}
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    version: {type: integer}
                    data: {type: object, description: values of the fields the transition requires}
                    comment: {type: string}
          responses:
            200: {description: The transition is done; the record}
            202: {description: The transition waits for approval; the record and the approval}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: 'The record is in another state, changed, or waits for an approval'}
            422: {description: 'Required fields missing, or the condition does not hold'}
        """
        payload = self._body(("data", "version", "comment"))
        if isinstance(payload, Response):
            return payload
        version = payload.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            return self.response(
                422,
                message="version must be an integer.",
                errors=[{"path": "/version", "message": "must be an integer"}],
            )
        if not isinstance(payload.get("data", {}), dict):
            return self.response(
                422,
                message="data must be an object.",
                errors=[{"path": "/data", "message": "must be an object"}],
            )
        records = records_service()
        try:
            outcome = Workflows(records).take(
                self.type_name,
                pk,
                name,
                payload.get("data", {}),
                str(payload.get("comment", "")),
                version,
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        body = records.as_json(outcome.record)
        if outcome.completed:
            return self.response(200, **body)
        return self.response(202, **body, approval=approval_json(outcome.approval))

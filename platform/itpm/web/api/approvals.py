"""REST API of approvals: /api/v1/approvals/ (one's own, pending or decided) and decisions."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_appbuilder.api import BaseApi, expose, rison, safe
from flask_appbuilder.security.decorators import protect
from sqlalchemy import select

from itpm.models import ApprovalRequest, ApprovalTask
from itpm.records.service import RecordError
from itpm.web.context import records_service
from itpm.workflows.engine import Workflows

LIST_SCHEMA = {
    "type": "object",
    "properties": {
        "mine": {"type": "boolean"},
        "state": {"enum": ["pending", "approved", "rejected", "withdrawn", "any"]},
        "page": {"type": "integer", "minimum": 0},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100},
    },
    "additionalProperties": False,
}


def approval_json(approval: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": approval.id,
        "record_type": approval.record_type,
        "record_id": approval.record_id,
        "transition": approval.transition,
        "state": approval.state,
        "step": approval.step,
        "requested_by": approval.requested_by,
        "requested_at": approval.requested_at.isoformat(),
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "comment": approval.comment,
        "reason": approval.reason,
        "tasks": [
            {
                "step": t.step,
                "step_name": t.step_name,
                "approver": t.approver_id,
                "decision": t.decision,
                "decided_by": t.decided_by,
                "decided_at": t.decided_at.isoformat() if t.decided_at else None,
                "comment": t.comment,
                "via": t.via,
            }
            for t in approval.tasks
        ],
    }


class ApprovalsApi(BaseApi):
    resource_name = "approvals"
    openapi_spec_tag = "Approvals"
    class_permission_name = "ApprovalsView"
    base_permissions = ["can_inbox", "can_decide", "can_delegations"]
    method_permission_name = {"get_list": "inbox", "approve": "decide", "reject": "decide"}
    allow_browser_login = True

    def _error(self, error: RecordError) -> Response:
        return self.response(error.status, **error.as_json())

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @rison(LIST_SCHEMA)
    def get_list(self, **kwargs: Any) -> Response:
        """Approvals: by default those waiting for the caller's decision.
        ---
        get:
          summary: Approvals waiting for me (mine:!t,state:pending), or every approval of records I see
          parameters:
          - in: query
            name: q
            content:
              application/json:
                schema: {type: object, properties: {mine: {type: boolean}, state: {type: string}, page: {type: integer}, page_size: {type: integer}}}
          responses:
            200: {description: The approvals and their count}
        """
        args = kwargs["rison"]
        records = records_service()
        workflows = Workflows(records)
        state = args.get("state", "pending")
        if args.get("mine", True):
            approvals = list(dict.fromkeys(t.approval for t in workflows.inbox()))
            if state not in ("pending", "any"):
                decided = records.session.scalars(
                    select(ApprovalRequest)
                    .join(ApprovalTask)
                    .where(ApprovalTask.decided_by_id == records.actor.id)
                )
                approvals = list(dict.fromkeys(decided))
        else:
            approvals = list(
                records.session.scalars(select(ApprovalRequest).order_by(ApprovalRequest.id.desc()))
            )
        visible = []
        for approval in approvals:
            if state != "any" and approval.state != state:
                continue
            try:
                records.get(approval.record_type, approval.record_id)
            except RecordError:
                continue
            visible.append(approval)
        page, size = args.get("page", 0), args.get("page_size", 25)
        chosen = visible[page * size : (page + 1) * size]
        return self.response(200, count=len(visible), result=[approval_json(a) for a in chosen])

    def _decide(self, approval_id: int, approve: bool) -> Response:
        payload = request.get_json(silent=True) or {}
        if not isinstance(payload, dict):
            return self.response(422, message="The request body must be a JSON object.")
        records = records_service()
        try:
            approval = Workflows(records).decide(approval_id, approve, str(payload.get("comment", "")))
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        return self.response(200, **approval_json(approval))

    @expose("/<int:approval_id>/approve", methods=["POST"])
    @protect()
    @safe
    def approve(self, approval_id: int) -> Response:
        """Approve.
        ---
        post:
          summary: Approve the step of an approval that waits for me
          parameters:
          - {in: path, name: approval_id, required: true, schema: {type: integer}}
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {comment: {type: string}}}
          responses:
            200: {description: The approval after the decision}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: Already decided}
        """
        return self._decide(approval_id, True)

    @expose("/<int:approval_id>/reject", methods=["POST"])
    @protect()
    @safe
    def reject(self, approval_id: int) -> Response:
        """Reject.
        ---
        post:
          summary: Reject (a reason is required, as comment)
          parameters:
          - {in: path, name: approval_id, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema: {type: object, properties: {comment: {type: string}}, required: [comment]}
          responses:
            200: {description: The approval after the decision}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: Already decided}
            422: {description: No reason given}
        """
        return self._decide(approval_id, False)

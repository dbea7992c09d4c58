"""REST API of a project's schedule (the Gantt chart's data): read it, preview a move, save it.

A move is sent as the one task the person dragged and its new dates; the server
works out which dependants follow (`itpm.planning.schedule.move`), both for the
preview and for the save, so what is saved is what was shown. The save writes
every moved task through the records service in one transaction: permissions,
rules, history and optimistic locking apply as for any change, and a task
changed since the chart was read (or a plan that now moves other tasks) is a 409
that saves nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext as _

from itpm.planning.schedule import ScheduleError, TooEarly, critical_path, move
from itpm.planning.service import Plan, dates_of, plan_of, schedule_tasks, working_day
from itpm.records.service import RecordError, Records
from itpm.web.context import current_runtime, records_service

MAX_BODY_BYTES = 256 * 1024


def _working() -> Any:
    return working_day(current_runtime().settings.timezone)


def _title(plan: Plan, row: Any) -> str:
    for name in ("title", "name", "subject"):
        if name in plan.spec.fields:
            return str(getattr(row, plan.spec.fields[name].column) or "")
    return ""


def schedule_json(records: Records, project_type: str, project: Any, plan: Plan) -> dict[str, Any]:
    """The chart's data: every planned record the person may read, with its dates, baseline and links."""
    spec = plan.spec
    visible = {r.id for r in plan.records}
    tasks = schedule_tasks(spec, plan.records)
    try:
        critical = critical_path(tasks, _working())
        problem = None
    except ScheduleError as error:
        critical, problem = set(), str(error)
    hidden = records.access.hidden_fields(records.actor, spec)
    writable = {
        r.id
        for r in plan.records
        if records.access.allows(records.actor, spec, r, "write", records.team())
        and not {spec.planning.get("start"), spec.planning.get("due")} & hidden
    }
    workflow = records.catalog.workflows.get(spec.name)
    progress = spec.planning.get("progress")
    depends = spec.planning.get("depends_on")
    milestone = spec.planning.get("milestone")
    items = []
    for row in plan.records:
        start, due = dates_of(spec, row)
        base = plan.baseline.get(row.id, (None, None))
        state = workflow.states.get(row.state) if workflow else None
        items.append(
            {
                "id": row.id,
                "number": row.number,
                "title": _title(plan, row),
                "version": row.version,
                "start": start.isoformat() if start else None,
                "due": due.isoformat() if due else None,
                "baseline_start": base[0].isoformat() if base[0] else None,
                "baseline_due": base[1].isoformat() if base[1] else None,
                "milestone": bool(getattr(row, spec.fields[milestone].column)) if milestone else False,
                "progress": (getattr(row, spec.fields[progress].column) or 0)
                if progress and progress not in hidden
                else None,
                "depends_on": [d for d in (getattr(row, spec.fields[depends].column) or ()) if d in visible]
                if depends
                else [],
                "state": row.state,
                "done": bool(state and state.final),
                "critical": row.id in critical,
                "writable": row.id in writable,
                "link": f"/records/{spec.name}/show/{row.id}",
            }
        )
    return {
        "project": {"id": project.id, "number": project.number, "type": project_type},
        "type": spec.name,
        "baseline": plan.baseline_kind,
        "problem": problem,
        "tasks": items,
    }


class PlanningApi(BaseApi):
    resource_name = "planning"
    openapi_spec_tag = "Planning"
    base_permissions = ["can_read"]
    method_permission_name = {"schedule": "read", "preview": "read", "save": "read"}
    allow_browser_login = True

    def _error(self, error: RecordError) -> Response:
        return self.response(error.status, **error.as_json())

    def _plan(self, records: Records, project_type: str, pk: int) -> tuple[Any, Plan] | Response:
        if (
            records.actor.client_id is not None
        ):  # the plan is the company's; clients follow milestones in the portal
            return self.response(
                403, message=_("The schedule is for the company's staff; your projects are in the portal.")
            )
        try:
            project = records.get(project_type, pk)
        except RecordError as error:
            return self._error(error)
        plan = plan_of(records, project_type, project)
        if plan is None:
            return self.response(404, message=_("%(type)s records have no schedule.", type=project_type))
        hidden = records.access.hidden_fields(records.actor, plan.spec)
        needed = [plan.spec.planning.get(r) for r in ("start", "due", "depends_on", "milestone")]
        unseen = sorted(n for n in needed if n in hidden)
        if unseen:  # a chart drawn around a hidden field would show it
            return self.response(
                403,
                message=_(
                    "Your roles do not let you read %(fields)s of %(type)s records, which the schedule is drawn from.",
                    fields=", ".join(unseen),
                    type=plan.spec.name,
                ),
            )
        return project, plan

    def _move(self, plan: Plan) -> tuple[int, dict[int, Any]] | Response:
        """The task the body moves and every task that moves with it, or a 422 naming what is wrong."""
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return self.response(413, message=_("The request body is too large."))
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self._invalid("/", _("must be a JSON object"))
        task = body.get("task")
        if not isinstance(task, int) or isinstance(task, bool):
            return self._invalid("/task", _("must be the id of a task of this project"))
        dates = {}
        for key in ("start", "due"):
            try:
                dates[key] = dt.date.fromisoformat(body.get(key))
            except (TypeError, ValueError):
                return self._invalid(f"/{key}", _("must be a date (YYYY-MM-DD)"))
        tasks = schedule_tasks(plan.spec, plan.records)
        if task not in {t.id for t in tasks}:
            return self._invalid("/task", _("must be the id of a dated task of this project"))
        try:
            return task, move(tasks, task, dates["start"], dates["due"], _working())
        except TooEarly as early:
            rows = {r.id: r for r in plan.records}
            return self._invalid(
                "/start",
                _(
                    "%(number)s cannot start before %(day)s: it waits for %(other)s.",
                    number=rows[early.task].number,
                    day=early.earliest.isoformat(),
                    other=rows[early.waits_for].number,
                ),
            )
        except ScheduleError as error:
            return self._invalid("/due", str(error))

    def _invalid(self, path: str, message: str) -> Response:
        return self.response(422, message=f"{path}: {message}", errors=[{"path": path, "message": message}])

    @expose("/<project_type>/<int:pk>/schedule", methods=["GET"])
    @protect()
    @safe
    def schedule(self, project_type: str, pk: int) -> Response:
        """A project's schedule.
        ---
        get:
          summary: The project's planned records with dates, dependencies, baseline and critical path
          parameters:
          - {in: path, name: project_type, required: true, schema: {type: string}}
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: The schedule}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
        """
        records = records_service()
        found = self._plan(records, project_type, pk)
        if isinstance(found, Response):
            return found
        return self.response(200, **schedule_json(records, project_type, *found))

    @expose("/<project_type>/<int:pk>/schedule/preview", methods=["POST"])
    @protect()
    @safe
    def preview(self, project_type: str, pk: int) -> Response:
        """What moving one task does.
        ---
        post:
          summary: The tasks that move when one task gets new dates (nothing is written)
          parameters:
          - {in: path, name: project_type, required: true, schema: {type: string}}
          - {in: path, name: pk, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties: {task: {type: integer}, start: {type: string, format: date}, due: {type: string, format: date}}
                  required: [task, start, due]
          responses:
            200: {description: The tasks that move and the critical path afterwards}
            404: {$ref: '#/components/responses/404'}
            422: {description: 'A task or date that is not right, named by path'}
        """
        records = records_service()
        found = self._plan(records, project_type, pk)
        if isinstance(found, Response):
            return found
        _project, plan = found
        moved = self._move(plan)
        if isinstance(moved, Response):
            return moved
        task, moves = moved
        after = {t.id: t for t in schedule_tasks(plan.spec, plan.records)} | moves
        rows = {r.id: r for r in plan.records}
        return self.response(
            200,
            task=task,
            moves=[
                {
                    "id": t.id,
                    "number": rows[t.id].number,
                    "title": _title(plan, rows[t.id]),
                    "start": t.start.isoformat(),
                    "due": t.due.isoformat(),
                }
                for t in sorted(moves.values(), key=lambda t: (t.id != task, t.start, t.id))
            ],
            critical=sorted(critical_path(after.values(), _working())),
        )

    @expose("/<project_type>/<int:pk>/schedule", methods=["POST"])
    @protect()
    @safe
    def save(self, project_type: str, pk: int) -> Response:
        """Save a move.
        ---
        post:
          summary: Move one task and the dependants that follow it, based on the versions last read
          parameters:
          - {in: path, name: project_type, required: true, schema: {type: string}}
          - {in: path, name: pk, required: true, schema: {type: integer}}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    task: {type: integer}
                    start: {type: string, format: date}
                    due: {type: string, format: date}
                    versions: {type: object, additionalProperties: {type: integer}}
                  required: [task, start, due, versions]
          responses:
            200: {description: The schedule after the move}
            403: {$ref: '#/components/responses/403'}
            404: {$ref: '#/components/responses/404'}
            409: {description: 'A task changed since the versions given; nothing was saved'}
            422: {description: 'A task or date that is not right, named by path'}
        """
        records = records_service()
        found = self._plan(records, project_type, pk)
        if isinstance(found, Response):
            return found
        project, plan = found
        moved = self._move(plan)
        if isinstance(moved, Response):
            return moved
        _task, moves = moved
        versions = (request.get_json(silent=True) or {}).get("versions")
        if not isinstance(versions, dict):
            return self._invalid("/versions", _("must give the version read of each task that moves"))
        rows = {r.id: r for r in plan.records}
        unseen = [rows[i].number for i in moves if str(i) not in versions]
        if unseen:
            return self.response(
                409,
                message=_(
                    "The plan changed since you read it: %(numbers)s would move too. Reload the chart and try again.",
                    numbers=", ".join(unseen),
                ),
            )
        spec = plan.spec
        try:
            for task_id, task in moves.items():
                data = {
                    spec.planning["start"]: task.start.isoformat(),
                    spec.planning["due"]: task.due.isoformat(),
                }
                version = versions[str(task_id)]
                if not isinstance(version, int) or isinstance(version, bool):
                    raise _BadVersion(task_id)
                records.update(spec.name, task_id, data, version, loaded=rows[task_id])
            records.session.commit()
        except _BadVersion as bad:
            records.session.rollback()
            return self._invalid(f"/versions/{bad.task}", _("must be an integer"))
        except RecordError as error:
            records.session.rollback()
            return self._error(error)
        records = records_service()
        records.session.expire_all()
        project, plan = self._plan(records, project_type, pk)  # type: ignore[misc]
        return self.response(200, **schedule_json(records, project_type, project, plan))


class _BadVersion(Exception):
    def __init__(self, task: int) -> None:
        self.task = task

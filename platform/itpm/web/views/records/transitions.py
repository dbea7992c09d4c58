"""A record's workflow on its page: taking a transition (with the fields it requires), and
deciding or withdrawing an approval; the state, transitions and approval chains shown.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from sqlalchemy import select

from itpm.definitions.problems import Problem
from itpm.models import Person
from itpm.records.forms import FormSpec, Section
from itpm.records.service import RecordError
from itpm.web.context import current_catalog, records_service
from itpm.web.i18n import text
from itpm.web.record_display import Bilingual, person_name, person_zone
from itpm.web.record_forms import parse_form
from itpm.web.views.records.base import RecordViewBase
from itpm.web.views.records.forms import field_widget
from itpm.workflows.engine import Workflows


class RecordTransitions(RecordViewBase):
    """Taking a transition, deciding and withdrawing approvals, from a record's page."""

    @expose("/transition/<int:pk>/<name>", methods=["GET", "POST"])
    @has_access
    def transition(self, pk: int, name: str) -> Any:
        """Take a transition: ask for the fields it requires and a comment, then take it (or ask for approval)."""
        records = records_service()
        workflows = Workflows(records)
        record = self._get(records, pk)
        workflow = workflows.workflow(self.type_name)
        if workflow is None or name not in workflow.transitions:
            abort(404)
        transition = workflow.transitions[name]
        values = records.data(record)
        problems: list[Any] = []
        hidden = records.access.hidden_fields(records.actor, self.spec)
        unwritable = hidden | records.access.read_only_fields(records.actor, self.spec)
        if request.method == "POST":
            form = current_catalog().forms[self.type_name]
            entries = [e for e in form.entries if e.field in transition.requires]
            parsed = parse_form(
                self.spec,
                FormSpec((Section({"en": "", "zh": ""}, 1, tuple(entries)),)),
                request.form,
                request.files,
                person_zone(),
                unwritable,
            )
            problems = parsed.problems
            if not problems:
                try:
                    outcome = workflows.take(
                        self.type_name,
                        pk,
                        name,
                        parsed.data,
                        request.form.get("comment", ""),
                        request.form.get("version", type=int),
                    )
                    records.session.commit()
                except RecordError as error:
                    records.session.rollback()
                    if error.status == 404:
                        abort(404)
                    problems = error.problems or [Problem("", "/", error.message)]
                else:
                    if outcome.completed:
                        flash(
                            _(
                                "%(number)s: %(transition)s done.",
                                number=record.number,
                                transition=text(transition.title),
                            ),
                            "success",
                        )
                    else:
                        flash(_("%(number)s waits for approval.", number=record.number), "info")
                    return redirect(_back(request.form.get("next")) or url_for(".show", pk=pk))
            values = {**values, **parsed.data}
        form = current_catalog().forms[self.type_name]
        widgets = [
            field_widget(
                records,
                self.spec,
                entry,
                values.get(entry.field),
                person_zone(),
                entry.field in unwritable,
                record,
            )
            for entry in form.entries
            if entry.field in transition.requires and entry.field not in hidden
        ]
        for widget in widgets:
            widget["required"] = True
        errors: dict[str, list[str]] = {}
        general = []
        for problem in problems:
            name_ = problem.path.rsplit("/", 1)[-1]
            if problem.path.startswith("/data/") and name_ in transition.requires:
                errors.setdefault(name_, []).append(str(problem.message))
            else:
                general.append(str(problem.message))
        return self.render_template(
            "itpm/records/transition.html",
            record=record,
            spec=self.spec,
            transition=transition,
            widgets=widgets,
            errors=errors,
            general_errors=general,
            back=_back(request.values.get("next")),
            title=f"{record.number}: {text(transition.title)}",
        )

    @expose("/decide/<int:pk>/<int:approval_id>", methods=["POST"])
    @has_access
    def decide(self, pk: int, approval_id: int) -> Any:
        records = records_service()
        try:
            Workflows(records).decide(
                approval_id, request.form.get("decision") == "approve", request.form.get("comment", "")
            )
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        else:
            flash(_("Your decision was recorded."), "success")
        return redirect(_back(request.form.get("next")) or url_for(".show", pk=pk))

    @expose("/withdraw/<int:pk>/<int:approval_id>", methods=["POST"])
    @has_access
    def withdraw(self, pk: int, approval_id: int) -> Any:
        records = records_service()
        try:
            Workflows(records).withdraw(approval_id)
            records.session.commit()
        except RecordError as error:
            records.session.rollback()
            if error.status == 404:
                abort(404)
            flash(str(error.message), "danger")
        return redirect(url_for(".show", pk=pk))


def _back(target: str | None) -> str | None:
    """Where a form asked to go back to (My work), if it is a path inside the app; never elsewhere."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


def workflow_panel(workflows: Workflows, record: Any) -> dict[str, Any]:
    """The state, the transitions the person may take, and the approval chains of a record's page."""
    workflow = workflows.workflow(record.__record_type__)
    if workflow is None:
        return {"state": None, "transitions": [], "approvals": [], "people": {}, "my_tasks": set()}
    people = {}
    approvals = workflows.approvals(record)
    ids = {t.approver_id for a in approvals for t in a.tasks}
    if ids:
        people = {
            p.id: person_name(p) for p in workflows.session.scalars(select(Person).where(Person.id.in_(ids)))
        }
    chains = []
    for approval in approvals:
        transition = workflow.transitions.get(approval.transition)
        steps = []
        for index, step in enumerate(transition.approval.steps if transition and transition.approval else []):
            tasks = [t for t in approval.tasks if t.step == index]
            steps.append(
                {
                    "title": Bilingual(step.title),
                    "current": approval.state == "pending" and approval.step == index,
                    "tasks": tasks,
                }
            )
        chains.append(
            {
                "approval": approval,
                "title": Bilingual(transition.title) if transition else approval.transition,
                "steps": steps,
            }
        )
    mine = {t.approval_id for t in workflows.inbox()}
    return {
        "state": workflow.state(record.state),
        "transitions": workflows.available(record),
        "approvals": chains,
        "people": people,
        "my_tasks": mine,
    }

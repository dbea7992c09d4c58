"""The visual designers' pages: a record type's fields, a form's sections, a workflow's canvas,
each beside the JSON editor of the same definition. They read and write definitions only
through the registry (a save is a draft, validated as a whole; publishing stays on the
definition's page, with its diff and preview), converting with `itpm.designers`."""

from __future__ import annotations

from typing import Any

from flask import abort, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from itpm.access import Actor
from itpm.definitions.documents import Document, canonical_json, parse_text
from itpm.definitions.problems import DefinitionError, Problem
from itpm.definitions.registry import NotFound
from itpm.designers import CONVERTERS, designer_document, designer_model
from itpm.designers.record_types import field_model
from itpm.designers.trial import trial as run_trial
from itpm.models import Team
from itpm.people import role_holders
from itpm.records.service import NotFound as RecordNotFound
from itpm.records.service import Records
from itpm.web.context import actor_name, current_runtime, records_service
from itpm.web.i18n import language
from itpm.web.views.definitions import PERMISSIONS, workflow_warnings

KIND_TITLES = {
    "record_type": _l("Record type designer"),
    "form": _l("Form designer"),
    "workflow": _l("Workflow designer"),
    "automation": _l("Automation editor"),
    "role": _l("Role rights"),
}


def _skeleton(kind: str, name: str, record_type: str) -> dict[str, Any]:
    """Where a new definition of `kind` starts (a record type with one field, a form with one section...)."""
    title = {"en": name.replace("_", " ").capitalize(), "zh": name}
    if kind == "record_type":
        field = {"type": "string", "maxLength": 200, "title": "Title", "x-title-zh": "标题"}
        return {
            "kind": kind,
            "name": name,
            "title": title,
            "schema": {"type": "object", "properties": {"title": field}},
        }
    if kind == "role":
        return {"kind": kind, "name": name, "title": title, "records": {}}
    if kind == "automation":
        notify = {
            "do": "notify",
            "to": ["creator"],
            "subject": {"en": "{number} was updated", "zh": "{number} 已更新"},
        }
        return {"kind": kind, "name": name, "title": title, "record_type": record_type, "trigger": {"on": "created"},
                "actions": [notify]}  # fmt: skip
    if kind == "form":
        section = {"title": {"en": "Details", "zh": "详情"}, "fields": ["title"]}
        return {"kind": kind, "name": name, "title": title, "record_type": record_type, "sections": [section]}
    states = [
        {"name": "draft", "title": {"en": "Draft", "zh": "草稿"}, "category": "open"},
        {"name": "done", "title": {"en": "Done", "zh": "已完成"}, "category": "done"},
    ]
    finish = {
        "name": "finish",
        "title": {"en": "Finish", "zh": "完成"},
        "from": ["draft"],
        "to": "done",
        "roles": ["admin"],
    }
    return {"kind": kind, "name": name, "title": title, "record_type": record_type, "initial": "draft",
            "states": states, "transitions": [finish]}  # fmt: skip


def _context() -> dict[str, Any]:
    """What the designers pick from: the record types with their fields, the roles, the workflows'
    states and transitions, the reports and the teams."""
    documents = current_runtime().registry().working()
    record_types = {
        d.name: {
            "title": d.body.get("title"),
            "required": (d.body.get("schema") or {}).get("required") or [],
            "fields": [
                field_model(n, s) for n, s in ((d.body.get("schema") or {}).get("properties") or {}).items()
            ],
        }
        for d in documents
        if d.kind == "record_type"
    }
    roles = {
        d.name: {"title": d.body.get("title"), "records": d.body.get("records") or {}}
        for d in documents
        if d.kind == "role"
    }
    workflows = {
        d.body.get("record_type"): {
            "states": d.body.get("states") or [],
            "transitions": d.body.get("transitions") or [],
        }
        for d in documents
        if d.kind == "workflow"
    }
    reports = {d.name: {"title": d.body.get("title")} for d in documents if d.kind == "report"}
    teams = {
        team.name: team.titles
        for team in current_runtime().sessions().scalars(select(Team).order_by(Team.name))
    }
    return {
        "record_types": record_types,
        "roles": roles,
        "workflows": workflows,
        "reports": reports,
        "teams": teams,
        "language": language(),
    }


def _existing(
    type_name: str, number: str, role: str
) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any]] | Problem:
    """An existing record, picked by its number among those the admin may read, for a trial as `role`:
    its values (what the engine's conditions read), the values the role would see (its hidden fields
    left out, nothing at all when its rows never include the record), its state, and what the role
    reads of it. Computed as a person holding only `role` (no department, team or organisation)."""
    records = records_service()
    try:
        model = records.model(type_name)
        row = records.session.scalar(records.query(type_name).where(model.number == number))
    except (KeyError, RecordNotFound):
        row = None
    if row is None:
        return Problem(
            "", "/number", str(_l("you read no %(type)s numbered %(number)s", type=type_name, number=number))
        )
    as_role = Actor(None, f"trial:{role}", frozenset({role}))
    spec = records.spec(type_name)
    scopes = sorted(records.access.scopes(as_role, spec, "read"))
    reads = "all" in scopes
    shown = Records(records.session, records.catalog, as_role).data(row) if scopes else {}
    record = {
        "number": row.number,
        "state": row.state,
        "reads": "all" if reads else scopes,  # own, assigned, team...: only if the person's rows hold it
        "values": shown,
        "hidden": sorted(records.access.hidden_fields(as_role, spec)) if scopes else [],
    }
    return records.data(row), shown, row.state, record


def _problems(problems: list[Problem], status: int = 422) -> tuple[dict[str, Any], int]:
    return {"problems": [p.as_json() for p in problems]}, status


class DesignerView(BaseView):
    route_base = "/designers"
    default_view = "index"
    class_permission_name = "DefinitionView"  # who may edit definitions may use their designers
    method_permission_name = {
        "index": "edit",
        "page": "edit",
        "save": "edit",
        "convert": "show",
        "lint": "show",
        "trial": "show",
    }
    base_permissions = (
        PERMISSIONS  # all of DefinitionView's: FAB drops from a view name what its views leave out
    )

    @expose("/", methods=["GET"])
    @has_access
    def index(self) -> Any:
        """The definitions each designer opens, and a new one of each kind by name."""
        registry = current_runtime().registry()
        kinds = {kind: registry.list(kind) for kind in CONVERTERS}
        return self.render_template(
            "itpm/designers/index.html", kinds=kinds, titles=KIND_TITLES, title=_l("Designers")
        )

    @expose("/<kind>/<name>", methods=["GET"])
    @has_access
    def page(self, kind: str, name: str) -> Any:
        if kind not in CONVERTERS:
            abort(404)
        registry = current_runtime().registry()
        try:
            definition = registry.get(kind, name)
        except NotFound:
            definition = None
            if request.args.get("new") != "1":
                abort(404)
            body = _skeleton(kind, name, request.args.get("record_type", ""))
        else:
            body = definition.draft if definition.draft is not None else registry.published_body(definition)
        published = registry.published_body(definition) if definition is not None else None
        context = _context()
        context["published_fields"] = list(((published or {}).get("schema") or {}).get("properties") or {})
        return self.render_template(
            "itpm/designers/page.html",
            kind=kind,
            name=name,
            definition=definition,
            title=KIND_TITLES[kind],
            start={"model": designer_model(body), "text": canonical_json(body), "context": context},
        )

    @expose("/<kind>/<name>/save", methods=["POST"])
    @has_access
    def save(self, kind: str, name: str) -> Any:
        """Save the designer's model (or the JSON tab's text) as the definition's draft."""
        body, problems = self._body(kind)
        if problems:
            return _problems(problems)
        if (body.get("kind"), body.get("name")) != (kind, name):
            return _problems([Problem("", "/name", str(_l("must stay %(key)s", key=f"{kind}/{name}")))])
        registry = current_runtime().registry()
        try:
            definition = registry.save_draft(body, actor_name())
        except DefinitionError as error:
            return _problems(error.problems)
        return {
            "text": canonical_json(body),
            "model": designer_model(body),
            "show_url": url_for("DefinitionView.show", pk=definition.id),
            "publish_url": url_for("DefinitionView.publish", pk=definition.id),
        }

    @expose("/<kind>/convert", methods=["POST"])
    @has_access
    def convert(self, kind: str) -> Any:
        """Designer <-> JSON: a model's text, or a text's model, with what is wrong with it."""
        body, problems = self._body(kind)
        if body is None:
            return _problems(problems)
        problems = problems or current_runtime().registry().problems([Document("", body)])
        return {
            "text": canonical_json(body),
            "model": designer_model(body),
            "problems": [p.as_json() for p in problems],
        }

    @expose("/workflow/lint", methods=["POST"])
    @has_access
    def lint(self) -> Any:
        body, problems = self._body("workflow")
        if body is None:
            return _problems(problems)
        return {
            "problems": [p.as_json() for p in current_runtime().registry().problems([Document("", body)])],
            "warnings": [p.as_json() for p in workflow_warnings(body)],
        }

    @expose("/workflow/trial", methods=["POST"])
    @has_access
    def trial(self) -> Any:
        """Test the draft workflow as a role on a made-up record, or on an existing one picked by its
        number (see itpm.designers.trial and `_existing`)."""
        body, problems = self._body("workflow")
        if body is None:
            return _problems(problems)
        payload = request.get_json(silent=True) or {}
        values = payload.get("values") if isinstance(payload.get("values"), dict) else {}
        role, state = str(payload.get("role", "")), str(payload.get("state") or body.get("initial", ""))
        shown, record = None, None
        if payload.get("number"):
            found = _existing(body.get("record_type", ""), str(payload["number"]).strip(), role)
            if isinstance(found, Problem):
                return _problems([found])
            values, shown, state, record = found
        automations = [d.body for d in current_runtime().registry().working() if d.kind == "automation"]
        people = role_holders(current_runtime().sessions())
        answer = run_trial(role, state, values, body, automations, people, shown=shown)
        if record is not None:
            answer["record"] = record
        return answer

    def _body(self, kind: str) -> tuple[dict[str, Any] | None, list[Problem]]:
        payload = request.get_json(silent=True) or {}
        if "text" in payload:
            document, problems = parse_text(str(payload["text"]), "")
            return (document.body if document else None), problems
        model = payload.get("model")
        if not isinstance(model, dict) or model.get("kind") != kind:
            return None, [Problem("", "", str(_l("the request carries no %(kind)s model", kind=kind)))]
        try:
            return designer_document(model), []
        except (KeyError, TypeError, AttributeError) as error:
            return None, [
                Problem("", "", str(_l("the designer's model is incomplete: %(what)s", what=error)))
            ]


def add_designer_views(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(
        DesignerView,
        "Designers",
        label=_l("Designers"),
        icon="fa-magic",
        category="Configuration",
        category_label=_l("Configuration"),
    )

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

from itpm.access import Access, Actor
from itpm.definitions.checks import WIDGETS_BY_TYPE
from itpm.definitions.documents import Document, canonical_json, parse_text
from itpm.definitions.problems import DefinitionError, Problem
from itpm.definitions.registry import NotFound
from itpm.designers import CONVERTERS, designer_document, designer_model
from itpm.designers.record_types import field_model
from itpm.designers.trial import Named, trial_form
from itpm.designers.trial import trial as run_trial
from itpm.models import Person, Team
from itpm.people import role_holders
from itpm.records.fields import RecordTypeSpec, schema_type
from itpm.records.service import NotFound as RecordNotFound
from itpm.web.context import actor_name, current_runtime, records_service
from itpm.web.i18n import language
from itpm.web.record_display import person_name
from itpm.web.views.definitions import PERMISSIONS, workflow_warnings
from itpm.workflows.engine import Workflows

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
            "fields": [  # with the JSON type the widgets that fit are chosen by (WIDGETS_BY_TYPE)
                {**field_model(n, s), "json_type": schema_type(s) if isinstance(s, dict) else None}
                for n, s in ((d.body.get("schema") or {}).get("properties") or {}).items()
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
        "widgets": {kind: sorted(widgets) for kind, widgets in WIDGETS_BY_TYPE.items()},
        "language": language(),
    }


class _Trial:
    """The draft world a trial runs in: the record type, its form and the roles as drafted (the
    definitions' working texts), and the person it is run as, holding only the chosen role (no
    department or team; a client organisation's user when the role's rows are a client's)."""

    def __init__(self, type_name: str, role: str) -> None:
        documents = current_runtime().registry().working()
        roles = {d.name: d.body for d in documents if d.kind == "role"}
        self.record_type = next(
            (d.body for d in documents if d.kind == "record_type" and d.name == type_name), None
        )
        self.form = next(
            (d.body for d in documents if d.kind == "form" and d.body.get("record_type") == type_name), None
        )
        self.automations = [d.body for d in documents if d.kind == "automation"]
        rows: set[str] = set()  # every scope the role's rights name (a cell's "fields" rules are no scope)
        for rights in (roles.get(role) or {}).get("records", {}).values():
            for scope in rights.values() if isinstance(rights, dict) else ():
                rows.update([scope] if isinstance(scope, str) else scope if isinstance(scope, list) else [])
        client = -1 if rows & {"client", "client_tree"} else None  # x-internal fields are hidden then
        self.actor = Actor(None, f"trial:{role}", frozenset({role}), client_id=client)
        self.access = Access(roles)
        self.spec = RecordTypeSpec(self.record_type) if self.record_type else None

    def scopes(self, action: str) -> list[str] | str:
        found = sorted(self.access.scopes(self.actor, self.spec, action)) if self.spec else []
        return "all" if "all" in found else found

    def form_of(self, values: dict[str, Any], shown: dict[str, Any]) -> dict[str, Any] | None:
        if self.spec is None:
            return None
        hidden = self.access.hidden_fields(self.actor, self.spec)
        read_only = self.access.read_only_fields(self.actor, self.spec)
        return trial_form(self.spec.body, self.form, hidden, read_only, values, shown)

    def existing(self, number: str) -> tuple[Any, dict[str, Any], dict[str, Any]] | Problem:
        """An existing record, picked by its number among those the admin may read: the row, its
        values (what the engine's conditions read) and what the role would see of it (its hidden
        fields left out; nothing when its rows never include the record)."""
        records = records_service()
        type_name = self.spec.name if self.spec else ""
        try:
            model = records.model(type_name)
            row = records.session.scalar(records.query(type_name).where(model.number == number))
        except (KeyError, RecordNotFound):
            row = None
        if row is None:
            return Problem(
                "",
                "/number",
                str(_l("you read no %(type)s numbered %(number)s", type=type_name, number=number)),
            )
        values = records.data(row)
        hidden = self.access.hidden_fields(self.actor, self.spec)
        shown = {k: v for k, v in values.items() if k not in hidden} if self.scopes("read") else {}
        return row, values, shown

    def named(self, row: Any) -> Named:
        """Who a step's rule names on `row`, by the engine's own rules (the published roles' rows)."""
        records = records_service()
        workflows = Workflows(records)
        spec = records.spec(row.__record_type__)

        def names(rule: Any) -> list[str] | None:
            if not rule or "requester_manager" in rule:  # whoever would ask is not known yet
                return None
            try:
                found = workflows.approvers_of(spec, dict(rule), row, None)
            except (KeyError, AttributeError):  # a field only the draft has
                return None
            return sorted(person_name(records.session.get(Person, person)) for person, _via in found)

        return names


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
        number: the form as the role sees it, the transitions, approvers and automations
        (itpm.designers.trial), in the draft world of `_Trial`."""
        body, problems = self._body("workflow")
        if body is None:
            return _problems(problems)
        payload = request.get_json(silent=True) or {}
        values = payload.get("values") if isinstance(payload.get("values"), dict) else {}
        role, state = str(payload.get("role", "")), str(payload.get("state") or body.get("initial", ""))
        world = _Trial(str(body.get("record_type", "")), role)
        if world.spec is None:
            return _problems(
                [
                    Problem(
                        "",
                        "/record_type",
                        str(_l("there is no record type %(name)s", name=body.get("record_type"))),
                    )
                ]
            )
        shown, named, record = None, None, None
        if payload.get("number"):
            found = world.existing(str(payload["number"]).strip())
            if isinstance(found, Problem):
                return _problems([found])
            row, values, shown = found
            state, named = row.state, world.named(row)
            record = {
                "number": row.number,
                "state": row.state,
                "reads": world.scopes("read"),  # own, assigned, team...: only if the person's rows hold it
                "values": shown,
                "hidden": sorted(world.access.hidden_fields(world.actor, world.spec))
                if world.scopes("read")
                else [],
            }
        people = role_holders(current_runtime().sessions())
        answer = run_trial(
            role,
            state,
            values,
            body,
            world.automations,
            people,
            shown=shown,
            named=named,
            made_up=record is None,
        )
        answer["form"] = world.form_of(values, values if shown is None else shown)
        answer["edits"] = world.scopes(
            "create" if record is None and state == body.get("initial") else "write"
        )
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

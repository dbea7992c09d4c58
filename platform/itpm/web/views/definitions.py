"""Admin screens of the definitions registry: lists by kind, a definition's page
with its versions, diffs, publish and restore, and a JSON editor that shows
validation errors by path before saving.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, ModelView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from itpm.definitions.documents import Document, canonical_json, parse_text
from itpm.definitions.problems import DefinitionError, Problem
from itpm.definitions.registry import NotFound
from itpm.designers.lint import lint_inputs, workflow_lint
from itpm.models import Definition
from itpm.people import managed_people, role_holders
from itpm.records.fields import RecordTypeSpec
from itpm.records.forms import unplaced
from itpm.records.publishing import publish_preview, purge_kept_data
from itpm.records.schema_changes import kept_columns
from itpm.web.context import actor_name, current_runtime
from itpm.web.i18n import language, text
from itpm.workflows.diagram import draw
from itpm.workflows.spec import WorkflowSpec

#: Shared by the admin screens and the API (one set of permissions for both).
PERMISSIONS = ["can_list", "can_show", "can_add", "can_edit"]

KIND_LABELS = {
    "record_type": _l("Record types"),
    "form": _l("Forms"),
    "workflow": _l("Workflows"),
    "role": _l("Roles"),
    "sla": _l("SLA policies"),
    "report": _l("Reports"),
    "automation": _l("Automations"),
    "dashboard": _l("Dashboards"),
    "integration": _l("Integrations"),
}
KIND_ICONS = {
    "record_type": "fa-table",
    "form": "fa-wpforms",
    "workflow": "fa-sitemap",
    "role": "fa-user-shield",
    "sla": "fa-clock",
    "report": "fa-file-pdf",
    "automation": "fa-bolt",
    "dashboard": "fa-tachometer-alt",
    "integration": "fa-plug",
}


def workflow_warnings(body: dict[str, Any]) -> list[Problem]:
    """The lint of a workflow's JSON (itpm.designers.lint) against the working definitions and the
    people who hold each role now: for the workflow designer and the publish preview."""
    runtime = current_runtime()
    roles, fields = lint_inputs(runtime.registry().working())
    session = runtime.sessions()
    return workflow_lint(body, roles, fields, role_holders(session), managed_people(session))


def _title(definition: Definition) -> str:
    return (definition.title_zh if language() == "zh" else definition.title_en) or definition.name


def _state_badge(state: str) -> Markup:
    labels = {
        "draft": _("Draft"),
        "published": _("Published"),
        "changed": _("Draft changes"),
        "starter_pack_update": _("Update available from the starter pack"),
        "pack_update": _("Update available from an imported pack"),
    }
    return Markup('<span class="label label-state-{}">{}</span>').format(state, labels[state])


def _kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


class DefinitionView(ModelView):
    route_base = "/definitions"
    datamodel = SQLAInterface(Definition)
    list_title = _l("Definitions")
    show_title = _l("Definition")
    list_columns = ["kind", "name", "titles", "status", "published_version", "updated_at"]
    search_columns = ["kind", "name", "title_en", "title_zh", "published_version"]
    order_columns = ["kind", "name", "published_version", "updated_at"]
    base_order = ("kind", "asc")
    page_size = 50
    label_columns = {
        "kind": _l("Kind"),
        "name": _l("Name"),
        "titles": _l("Title"),
        "title_en": _l("Title (English)"),
        "title_zh": _l("Title (Chinese)"),
        "state": _l("State"),
        "status": _l("State"),
        "published_version": _l("Version"),
        "updated_at": _l("Updated"),
    }
    formatters_columns = {
        "kind": _kind_label,
        "titles": lambda titles: text(titles),
        "state": _state_badge,
        "status": _state_badge,
        "updated_at": lambda value: value.strftime("%Y-%m-%d %H:%M") if value else "",
    }
    # A definition is never deleted (its versions are its history); a draft is discarded.
    base_permissions = PERMISSIONS
    method_permission_name = {
        "publish": "edit",
        "purge": "edit",
        "restore": "edit",
        "discard": "edit",
        "validate": "show",
        "diff": "show",
        "version": "show",
    }
    show_template = "itpm/definitions/show.html"

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk: str) -> Any:
        definition = self._definition(pk)
        registry = current_runtime().registry()
        body = definition.draft if definition.draft is not None else registry.published_body(definition)
        published = registry.published_body(definition)
        return self.render_template(
            self.show_template,
            definition=definition,
            title=_title(definition),
            state_badge=_state_badge(definition.status),
            published_text=canonical_json(published) if published is not None else None,
            draft_diff=registry.diff(definition.kind, definition.name)
            if definition.draft is not None and published is not None
            else None,
            body_text=canonical_json(body),
            versions=list(reversed(definition.versions)),
            kind_label=_kind_label(definition.kind),
            kept=self._kept(definition),
            unplaced=self._unplaced(definition, body),
            diagram=Markup(draw(WorkflowSpec(body), language()))
            if definition.kind == "workflow" and not self._has_problems(body)
            else None,
        )

    def _has_problems(self, body: dict[str, Any]) -> bool:
        """A draft may be broken; only a sound workflow is drawn."""
        return bool(current_runtime().registry().problems([Document("", body)]))

    def _unplaced(self, definition: Definition, body: dict[str, Any]) -> list[tuple[str, str]]:
        """A form's fields that no section names (shown under "Other fields"), with their titles."""
        if definition.kind != "form" or not isinstance(body.get("record_type"), str):
            return []
        spec = next(
            (
                RecordTypeSpec(d.body)
                for d in current_runtime().registry().live()
                if d.key == ("record_type", body["record_type"])
            ),
            None,
        )
        if spec is None:
            return []
        return [(name, text(spec.fields[name].title)) for name in unplaced(spec, body)]

    def _kept(self, definition: Definition) -> list[str]:
        """A record type's columns that hold data of removed fields, which an admin may purge."""
        if definition.kind != "record_type" or definition.published_version is None:
            return []
        body = current_runtime().registry().published_body(definition)
        return kept_columns(current_runtime().sessions().connection(), RecordTypeSpec(body))

    @expose("/purge/<pk>", methods=["POST"])
    @has_access
    def purge(self, pk: str) -> Any:
        definition = self._definition(pk)
        columns = request.form.getlist("column")
        try:
            purge_kept_data(current_runtime().registry(), definition.name, columns, actor_name())
        except DefinitionError as error:
            for problem in error.problems:
                flash(str(problem), "danger")
        else:
            flash(_("The kept data of %(columns)s was deleted.", columns=", ".join(columns)), "success")
        return redirect(url_for(".show", pk=definition.id))

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk: str) -> Any:
        definition = self._definition(pk)
        registry = current_runtime().registry()
        text = canonical_json(
            definition.draft if definition.draft is not None else registry.published_body(definition)
        )
        problems: list[Problem] = []
        if request.method == "POST":
            text = request.form.get("body", "")
            problems = self._save(text, expect=(definition.kind, definition.name))
            if not problems:
                flash(_("Draft saved. Publish it to make it live."), "success")
                return redirect(url_for(".show", pk=definition.id))
        return self.render_template(
            "itpm/definitions/edit.html",
            definition=definition,
            title=_("Edit %(name)s", name=definition.key),
            text=text,
            problems=problems,
        )

    @expose("/add/", methods=["GET", "POST"])
    @has_access
    def add(self) -> Any:
        kind = request.args.get("kind", "record_type")
        if kind not in current_runtime().meta.kinds:
            abort(404)
        text = canonical_json(_skeleton(kind))
        problems: list[Problem] = []
        if request.method == "POST":
            text = request.form.get("body", "")
            problems = self._save(text)
            if not problems:
                document, _read = parse_text(text, "")
                saved = current_runtime().registry().get(document.kind, document.name)
                flash(_("Draft saved. Publish it to make it live."), "success")
                return redirect(url_for(".show", pk=saved.id))
        return self.render_template(
            "itpm/definitions/edit.html",
            definition=None,
            title=_("New definition"),
            text=text,
            problems=problems,
        )

    def _save(self, text: str, expect: tuple[str, str] | None = None) -> list[Problem]:
        document, problems = parse_text(text, "")
        if problems:
            return problems
        if expect and (document.kind, document.name) != expect:
            return [
                Problem(
                    "",
                    "/name",
                    _("must stay %(key)s; to make a new definition, use Add", key="/".join(expect)),
                )
            ]
        try:
            current_runtime().registry().save_draft(document.body, actor_name())
        except DefinitionError as error:
            return error.problems
        return []

    @expose("/validate/", methods=["POST"])
    @has_access
    def validate(self) -> Any:
        payload = request.get_json(silent=True) or {}
        document, problems = parse_text(str(payload.get("text", "")), "")
        if document is not None:
            problems = current_runtime().registry().problems([document])
        return {"problems": [p.as_json() for p in problems]}

    @expose("/publish/<pk>", methods=["GET", "POST"])
    @has_access
    def publish(self, pk: str) -> Any:
        """GET: what publishing the draft would do (problems, table changes, records it would flag).
        POST: publish it."""
        definition = self._definition(pk)
        if request.method == "GET":
            if definition.draft is None:
                flash(_("There is no draft to publish."), "info")
                return redirect(url_for(".show", pk=definition.id))
            runtime = current_runtime()
            registry = runtime.registry()
            _before, _after, problems, plans = publish_preview(registry, [(definition.kind, definition.name)])
            diff = registry.diff(definition.kind, definition.name) if definition.published_version else None
            # what the workflow designer's check says, said again here
            warnings = workflow_warnings(definition.draft) if definition.kind == "workflow" else []
            return self.render_template(
                "itpm/definitions/publish.html",
                definition=definition,
                title=_title(definition),
                problems=problems,
                plans=plans,
                diff=diff,
                warnings=warnings,
            )
        try:
            revision = (
                current_runtime()
                .registry()
                .publish([(definition.kind, definition.name)], actor_name(), request.form.get("comment", ""))
            )
        except DefinitionError as error:
            for problem in error.problems:
                flash(str(problem), "danger")
            return redirect(url_for(".show", pk=definition.id))
        if revision is None:
            flash(_("Nothing to publish: the draft is the same as the live version."), "info")
        else:
            flash(
                _(
                    "Published as version %(version)s (revision %(revision)s).",
                    version=definition.published_version,
                    revision=revision.id,
                ),
                "success",
            )
        return redirect(url_for(".show", pk=definition.id))

    @expose("/restore/<pk>/<int:version>", methods=["POST"])
    @has_access
    def restore(self, pk: str, version: int) -> Any:
        definition = self._definition(pk)
        try:
            restored = (
                current_runtime()
                .registry()
                .restore(
                    definition.kind, definition.name, version, actor_name(), request.form.get("comment", "")
                )
            )
        except DefinitionError as error:
            for problem in error.problems:
                flash(str(problem), "danger")
        except NotFound:
            abort(404)
        else:
            flash(
                _("Version %(old)s restored as version %(new)s.", old=version, new=restored.version),
                "success",
            )
        return redirect(url_for(".show", pk=definition.id))

    @expose("/discard/<pk>", methods=["POST"])
    @has_access
    def discard(self, pk: str) -> Any:
        definition = self._definition(pk)
        never_published = definition.published_version is None
        current_runtime().registry().discard_draft(definition.kind, definition.name, actor_name())
        flash(_("Draft discarded."), "info")
        if never_published:
            return redirect(url_for(".list"))
        return redirect(url_for(".show", pk=definition.id))

    @expose("/diff/<pk>", methods=["GET"])
    @has_access
    def diff(self, pk: str) -> Any:
        definition = self._definition(pk)
        old, new = request.args.get("from"), request.args.get("to")
        try:
            text = (
                current_runtime().registry().diff(definition.kind, definition.name, old or None, new or None)
            )
        except (NotFound, ValueError):
            abort(404)
        return self.render_template(
            "itpm/definitions/diff.html",
            definition=definition,
            title=_title(definition),
            diff=text,
            old=old,
            new=new,
        )

    @expose("/version/<pk>/<int:version>", methods=["GET"])
    @has_access
    def version(self, pk: str, version: int) -> Any:
        definition = self._definition(pk)
        try:
            found = current_runtime().registry().version(definition.kind, definition.name, version)
        except NotFound:
            abort(404)
        return self.render_template(
            "itpm/definitions/version.html",
            definition=definition,
            title=_title(definition),
            version=found,
            body_text=canonical_json(found.body),
        )

    def _definition(self, pk: str) -> Definition:
        definition = self.datamodel.get(pk)
        if definition is None:
            abort(404)
        return definition


def _skeleton(kind: str) -> dict[str, Any]:
    """A starting point for a new definition of `kind`."""
    title = {"en": "New " + kind.replace("_", " "), "zh": "新定义"}
    if kind == "record_type":
        return {
            "kind": kind,
            "name": "new_type",
            "title": title,
            "schema": {
                "type": "object",
                "properties": {"title": {"type": "string", "title": "Title", "x-title-zh": "标题"}},
            },
        }
    return {"kind": kind, "name": "new_" + kind, "title": title}


def add_definition_views(appbuilder: AppBuilder) -> None:
    category, category_label = "Configuration", _l("Configuration")
    appbuilder.add_view(
        DefinitionView,
        "Definitions",
        label=_l("All definitions"),
        icon="fa-file-code",
        category=category,
        category_label=category_label,
    )
    for kind in current_runtime().meta.kinds:
        appbuilder.add_link(
            f"definitions_{kind}",
            label=KIND_LABELS.get(kind, kind),
            href=f"/definitions/list/?_flt_0_kind={kind}",
            icon=KIND_ICONS.get(kind, "fa-file"),
            category=category,
            baseview=DefinitionView,
        )

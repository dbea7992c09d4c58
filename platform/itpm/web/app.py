"""Build the Flask + Flask-AppBuilder app of one definitions revision."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, abort, current_app, request
from flask_appbuilder import AppBuilder
from flask_appbuilder.api.manager import SwaggerView
from flask_wtf.csrf import CSRFProtect
from jinja2 import BytecodeCache, Environment
from jinja2.bccache import Bucket
from werkzeug.routing import Map, Rule, RuleFactory
from werkzeug.routing.rules import RulePart

from itpm.audit.context import set_provider as set_audit_provider
from itpm.automations.jobs import start_jobs
from itpm.config import Settings
from itpm.db import will_write
from itpm.expressions import AST_LOCK
from itpm.records.fields import ID_MAX
from itpm.runtime import Runtime
from itpm.web import errors, i18n, record_display, requests_log, static_files
from itpm.web.api import nul_characters
from itpm.web.api.approvals import ApprovalsApi
from itpm.web.api.definitions import DefinitionsApi
from itpm.web.api.hooks import HooksApi
from itpm.web.api.imports import ImportsApi
from itpm.web.api.openapi import OpenApi
from itpm.web.api.planning import PlanningApi
from itpm.web.api.records import add_record_apis
from itpm.web.context import audit_context, current_catalog
from itpm.web.dispatcher import RevisionDispatcher
from itpm.web.form_nodes import field_display, field_node
from itpm.web.probes import Probes
from itpm.web.protection import protect
from itpm.web.security import check_integration_token
from itpm.web.views.approvals import add_approval_views
from itpm.web.views.audit import add_audit_views
from itpm.web.views.dashboards import add_dashboard_views
from itpm.web.views.definitions import add_definition_views
from itpm.web.views.designers import add_designer_views
from itpm.web.views.imports import add_import_views
from itpm.web.views.integrations import add_integration_views
from itpm.web.views.jobs import add_job_views
from itpm.web.views.my_work import add_my_work_views
from itpm.web.views.notifications import add_notification_views
from itpm.web.views.people import add_people_views
from itpm.web.views.planning import add_planning_views
from itpm.web.views.portal import add_portal_views
from itpm.web.views.privacy import add_privacy_views
from itpm.web.views.records import add_record_views
from itpm.web.views.reports import add_report_views

PACKAGE = Path(__file__).resolve().parents[1]


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """The itpm web application.

    `config` is a `Settings`, or ITPM_* variables laid over the environment.
    The returned app dispatches each request to the Flask-AppBuilder app of the
    newest definitions revision (`app.dispatcher`), built when first needed.
    """
    if isinstance(config, Settings):
        settings = config.checked()
    else:
        settings = Settings.from_env({**os.environ, **{k: str(v) for k, v in (config or {}).items()}})
    set_audit_provider(audit_context)
    runtime = Runtime(settings, jobs=start_jobs)
    dispatcher = RevisionDispatcher(runtime, build_app)
    shell = ItpmFlask("itpm.shell", root_path=str(PACKAGE))
    shell.config.update(settings.flask_config())
    shell.wsgi_app = Probes(runtime, dispatcher)  # type: ignore[method-assign]
    shell.extensions["itpm"] = runtime
    shell.dispatcher = dispatcher  # type: ignore[attr-defined]
    return shell


class SerialMap(Map):
    """Werkzeug compiles each route it adds from a Python AST: under `AST_LOCK`, one thread at a time."""

    def add(self, rulefactory: RuleFactory) -> None:
        with AST_LOCK:
            super().add(rulefactory)


#: Rules parsed by `LazyRule._parse_rule`, by rule and map converters: (parts, trace, converters).
_PARSED_RULES: dict[tuple[str, tuple[tuple[str, type], ...]], tuple[Any, ...]] = {}


class LazyRule(Rule):
    """A route whose URL builders are compiled the first time a URL is built from it.

    Werkzeug compiles two builders (Python code, through an AST) for every rule when it is added. An
    app has about 400 rules and builds URLs from a few dozen of them, and an app is built for every
    definitions revision (each publish): compiling them on first use halves the time that takes.
    """

    def compile(self) -> None:
        self._compile_builder = self._deferred_builder  # type: ignore[method-assign]
        try:
            super().compile()  # parses the rule, then asks for both builders: they come deferred
        finally:
            del self._compile_builder

    def _parse_rule(self, rule: str) -> Iterator[RulePart]:
        """The rule's parts, parsed once per process: every app of every revision has the same ~400
        rules, and parsing them (regular expressions, converter arguments) was a quarter of building one.

        Werkzeug's parser also records the rule's trace, converters and arguments as it goes: these are
        kept with the parts, and the converters are made again for this rule's own map (they hold it)."""
        key = (rule, tuple(self.map.converters.items()))
        parsed = _PARSED_RULES.get(key)
        if parsed is None:
            made: list[tuple[str, tuple[str, tuple[Any, ...], dict[str, Any]]]] = []

            def get_converter(name: str, converter: str, args: tuple[Any, ...], kwargs: Any) -> Any:
                made.append((name, (converter, args, dict(kwargs))))
                return Rule.get_converter(self, name, converter, args, kwargs)

            trace_start = len(self._trace)
            self.get_converter = get_converter  # type: ignore[method-assign]
            try:
                parts = tuple(super()._parse_rule(rule))
            finally:
                del self.get_converter
            parsed = _PARSED_RULES[key] = (parts, tuple(self._trace[trace_start:]), tuple(made))
            yield from parts
            return
        parts, trace, converters = parsed
        self._trace.extend(trace)
        for name, (converter, args, kwargs) in converters:
            self._converters[name] = self.get_converter(name, converter, args, kwargs)
            self.arguments.add(name)
        yield from parts

    def _deferred_builder(self, append_unknown: bool = True) -> Any:
        attribute = "_build_unknown" if append_unknown else "_build"

        def build(rule: Rule, *args: Any, **kwargs: Any) -> tuple[str, str]:
            with AST_LOCK:
                compiled = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            setattr(rule, attribute, compiled)
            return compiled(*args, **kwargs)

        return build


class SharedTemplateCode(BytecodeCache):
    """Compiled templates, kept for the process and shared by the apps of every revision.

    Each app has its own Jinja environment, which compiled every template again (about a second
    for the templates of one list page): a publish builds a new app, and so does every test.
    Jinja checks a template's source against the checksum kept with its code, so a changed
    template is compiled again; the environment's extensions are part of the key.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get_bucket(self, environment: Environment, name: str, filename: str | None, source: str) -> Bucket:
        extensions = ",".join(sorted(environment.extensions))
        return super().get_bucket(environment, f"{extensions}|{name}", filename, source)

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = SharedTemplateCode()


class ItpmFlask(Flask):
    """Flask, its routes compiled one thread at a time (`SerialMap`), their builders when first used,
    its templates compiled once for the process (`SharedTemplateCode`)."""

    url_map_class = SerialMap
    url_rule_class = LazyRule
    jinja_options = {**Flask.jinja_options, "bytecode_cache": TEMPLATE_CODE}


def build_app(runtime: Runtime, revision: int) -> Flask:
    """The Flask-AppBuilder app serving definitions revision `revision`."""
    app = ItpmFlask(
        "itpm",
        root_path=str(PACKAGE),
        template_folder="templates",
        static_folder="static",
        static_url_path="/static/itpm",
    )
    app.config.update(runtime.settings.flask_config())
    app.extensions["itpm"] = runtime
    app.extensions["itpm_catalog"] = runtime.catalog(revision)
    app.config["ITPM_REVISION"] = revision

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        runtime.sessions.remove()

    def _writes() -> None:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            will_write(runtime.sessions())

    # first of all (before Flask-AppBuilder loads the user with a read): a request that changes things
    app.before_request_funcs.setdefault(None, []).insert(0, _writes)
    # before that: the request's id, for the audit log, the log lines and the jobs of its events
    app.before_request_funcs[None].insert(0, requests_log.begin)
    app.after_request(requests_log.finish)  # run last of all (after_request goes in reverse order)
    app.teardown_request(requests_log.end)
    requests_log.time_statements(runtime.engine)
    requests_log.time_rendering(app)

    @app.url_value_preprocessor
    def _no_such_id(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        """An id in the URL larger than any id column holds names nothing: 404, not a database error.
        (`<int:...>`, and Flask-AppBuilder's `<pk>` of its pages; not a converter's max: Werkzeug then
        answers 405 when the path has other methods.)"""
        for name, value in (values or {}).items():
            if name == "pk" and isinstance(value, str) and value.isascii() and value.isdigit():
                value = int(value)
            if isinstance(value, int) and value > ID_MAX:
                abort(404)

    nul_characters.install(app)
    static_files.install(app)
    csrf = CSRFProtect(app)
    protect(app, csrf, runtime.settings)
    with app.app_context():
        appbuilder = AppBuilder(app, runtime.sessions)
        app.before_request(check_integration_token)  # after Flask-AppBuilder's: its person is the user
        i18n.install(app)
        errors.install(app)
        record_display.install(app)
        app.jinja_env.globals.update(field_node=field_node, field_display=field_display)
        _add_views(appbuilder)
        appbuilder.post_init()
    return app


def _add_views(appbuilder: AppBuilder) -> None:
    catalog = current_catalog()
    add_record_views(appbuilder, catalog)
    add_people_views(appbuilder)
    add_audit_views(appbuilder)
    add_privacy_views(appbuilder)
    add_my_work_views(appbuilder)
    add_portal_views(appbuilder)
    add_dashboard_views(appbuilder)
    add_approval_views(appbuilder)
    add_record_apis(appbuilder, catalog)
    if current_app.config.get("FAB_API_SWAGGER_UI"):
        appbuilder.add_api(OpenApi)
        appbuilder.add_view_no_menu(SwaggerView)
    add_definition_views(appbuilder)
    add_designer_views(appbuilder)
    appbuilder.add_api(DefinitionsApi)
    appbuilder.add_api(ApprovalsApi)
    appbuilder.add_api(HooksApi)
    appbuilder.add_api(PlanningApi)
    add_planning_views(appbuilder)
    add_report_views(appbuilder)
    add_notification_views(appbuilder)
    add_job_views(appbuilder)
    add_integration_views(appbuilder)
    add_import_views(appbuilder)
    appbuilder.add_api(ImportsApi)

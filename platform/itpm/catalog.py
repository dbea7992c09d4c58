"""The published configuration of one revision, compiled for use.

A `Catalog` holds what every request, job and command needs from the
definitions: each record type's spec, tables and models, form and validator.
It is built once per revision (and kept by the `Runtime`), never per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from itpm.access import Access
from itpm.automations.spec import AutomationSpec
from itpm.definitions.checks import Configuration
from itpm.definitions.documents import Document
from itpm.records.fields import RecordTypeSpec
from itpm.records.forms import FormSpec, form_spec
from itpm.records.store import RecordModels, shared_models
from itpm.records.validation import RecordValidator
from itpm.sla.clock import SlaPolicy, policy_from_definition
from itpm.workflows.spec import NO_WORKFLOW_STATE, WorkflowSpec


@dataclass
class Catalog:
    revision: int
    documents: list[Document] = field(repr=False)

    @cached_property
    def configuration(self) -> Configuration:
        return Configuration(self.documents)

    @cached_property
    def record_types(self) -> dict[str, RecordTypeSpec]:
        return {d.name: RecordTypeSpec(d.body) for d in self.configuration.of_kind("record_type")}

    @cached_property
    def models(self) -> RecordModels:
        return shared_models([d.body for d in self.configuration.of_kind("record_type")], self.record_types)

    @cached_property
    def forms(self) -> dict[str, FormSpec]:
        bodies = {d.body["record_type"]: d.body for d in self.configuration.of_kind("form")}
        return {name: form_spec(spec, bodies.get(name)) for name, spec in self.record_types.items()}

    @cached_property
    def validators(self) -> dict[str, RecordValidator]:
        return {name: RecordValidator(spec, self.forms[name]) for name, spec in self.record_types.items()}

    @cached_property
    def roles(self) -> dict[str, dict[str, Any]]:
        """The published role definitions, by name (a role's name is its Flask-AppBuilder role's)."""
        return {d.name: d.body for d in self.configuration.of_kind("role")}

    @cached_property
    def access(self) -> Access:
        approved = {t for t, w in self.workflows.items() if any(x.approval for x in w.transitions.values())}
        return Access(self.roles, approved)

    @cached_property
    def workflows(self) -> dict[str, WorkflowSpec]:
        """Each record type's workflow (a type has at most one), by record type."""
        return {d.body["record_type"]: WorkflowSpec(d.body) for d in self.configuration.of_kind("workflow")}

    @cached_property
    def automations(self) -> dict[str, AutomationSpec]:
        """The automations, with each SLA policy's escalations as automations of their own (`<sla>.on_breach`)."""
        found = {d.name: AutomationSpec(d.body) for d in self.configuration.of_kind("automation")}
        for sla in self.configuration.of_kind("sla"):
            for key, trigger in (("on_warning", "sla_warning"), ("on_breach", "sla_breach")):
                if sla.body.get(key):
                    name = f"{sla.name}.{key}"
                    body = {
                        "name": name,
                        "record_type": sla.body["record_type"],
                        "trigger": {"on": trigger},
                        "actions": sla.body[key],
                    }
                    found[name] = AutomationSpec(body)
        return found

    @cached_property
    def slas(self) -> dict[str, dict[str, Any]]:
        """Each record type's SLA policy definition (a type has at most one), by record type."""
        return {d.body["record_type"]: d.body for d in self.configuration.of_kind("sla")}

    @cached_property
    def sla_policies(self) -> dict[str, SlaPolicy]:
        """Each SLA policy ready to read clocks with, by record type."""
        return {name: policy_from_definition(body) for name, body in self.slas.items()}

    def initial_state(self, type_name: str) -> str:
        workflow = self.workflows.get(type_name)
        return workflow.initial if workflow else NO_WORKFLOW_STATE

    def record_type(self, name: str) -> RecordTypeSpec:
        return self.record_types[name]

    def referring_fields(self, target: str) -> Iterable[tuple[RecordTypeSpec, str]]:
        """(record type, field) pairs whose single reference points at `target` records."""
        for spec in self.record_types.values():
            for f in spec.fields.values():
                if f.kind == "ref" and f.target == target:
                    yield spec, f.name

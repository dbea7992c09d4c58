"""Checks of `integration` definitions beyond their meta-schema: what they say about the record type.

Registered with `itpm.definitions.checks.check`; the meta-schema names this module in `x-checks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask_babel import lazy_gettext as _
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from itpm.definitions.checks import Configuration, check
from itpm.definitions.documents import Document
from itpm.definitions.problems import Problem, pointer
from itpm.integrations.mapping import SYSTEM_TARGETS
from itpm.records.fields import RecordTypeSpec


@check("integration")
def _integration(document: Document, configuration: Configuration) -> Iterator[Problem]:
    body, file = document.body, document.file
    type_document = configuration.get("record_type", body["record_type"])
    if type_document is None:
        yield Problem(file, "/record_type", _("names no record type: %(name)r", name=body["record_type"]))
        return
    spec = RecordTypeSpec(type_document.body)
    yield from _fields(body["fields"], spec, ["fields"], file)
    resolved = body.get("resolved", {})
    yield from _fields(resolved.get("fields", {}), spec, ["resolved", "fields"], file)
    workflow = next(
        (d.body for d in configuration.of_kind("workflow") if d.body.get("record_type") == spec.name), None
    )
    states = {s["name"] for s in workflow["states"]} if workflow else set()
    for key, needs in (("resolved", resolved.get("do") == "resolve"), ("fires_again", False)):
        part = body.get(key, {})
        if needs and "state" not in part:
            yield Problem(file, f"/{key}/state", _("is required: the state the record moves to"))
        if "state" in part and part["state"] not in states:
            yield Problem(
                file,
                f"/{key}/state",
                _(
                    "%(state)r is not a state of %(type)s's workflow; states: %(states)s",
                    state=part["state"],
                    type=spec.name,
                    states=", ".join(sorted(states)) or "-",
                ),
            )
    again = body.get("fires_again", {})
    if again.get("do") == "reopen" and "within_minutes" not in again:
        yield Problem(
            file, "/fires_again/within_minutes", _("is required to reopen: how long after it resolved")
        )
    if again.get("do") == "reopen" and "state" not in again:
        yield Problem(file, "/fires_again/state", _("is required to reopen: the state the record moves to"))
    key_field = body.get("key_field")
    if key_field is not None and key_field not in spec.fields:
        yield Problem(
            file, "/key_field", _("%(name)r is not a field of %(type)s", name=key_field, type=spec.name)
        )
    if "payload" in body:
        try:
            Draft202012Validator.check_schema(body["payload"])
        except SchemaError as error:
            yield Problem(file, pointer(["payload", *error.path]), str(error.message))


def _fields(fields: Mapping[str, Any], spec: RecordTypeSpec, path: list[str], file: str) -> Iterator[Problem]:
    for name, mapping in fields.items():
        where = [*path, name]
        if name not in spec.fields and name not in SYSTEM_TARGETS:
            yield Problem(
                file,
                pointer(where),
                _(
                    "%(name)r is not a field of %(type)s; fields: %(fields)s",
                    name=name,
                    type=spec.name,
                    fields=", ".join([*sorted(spec.fields), *SYSTEM_TARGETS]),
                ),
            )
            continue
        choices = [value for value, _title in spec.fields[name].choices] if name in spec.fields else []
        if not choices:
            continue
        for key in ("values", "default", "value"):
            if key not in mapping:
                continue
            given = mapping[key].items() if key == "values" else [(None, mapping[key])]
            for label, value in given:
                if value not in choices:
                    yield Problem(
                        file,
                        pointer([*where, key] + ([label] if label is not None else [])),
                        _(
                            "%(value)r is not a choice of %(field)s: %(choices)s",
                            value=value,
                            field=name,
                            choices=", ".join(map(str, choices)),
                        ),
                    )

"""Checks of `automation` definitions beyond their meta-schema: what they name exists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _

from itpm.automations.spec import valid_cron
from itpm.definitions.checks import Configuration, check, condition_problems
from itpm.definitions.documents import Document
from itpm.definitions.problems import Problem, pointer
from itpm.expressions import check_expression
from itpm.records.fields import EDITABLE_SYSTEM


@check("automation")
def automation_problems(document: Document, configuration: Configuration) -> Iterator[Problem]:
    body, file = document.body, document.file
    trigger = body["trigger"]
    record_type = body.get("record_type")
    fields: Mapping[str, Any] = {}
    if record_type is not None:
        found = configuration.fields(record_type)
        if found is None:
            yield Problem(file, "/record_type", _("names no record type: %(name)r", name=record_type))
        fields = found or {}
    elif trigger["on"] != "schedule":
        yield Problem(file, "/record_type", _("is required: the records this automation watches"))
    known = set(fields) | set(EDITABLE_SYSTEM)
    if trigger["on"] == "schedule":
        if not valid_cron(trigger["cron"]):
            yield Problem(
                file,
                "/trigger/cron",
                _("%(cron)r is not a cron schedule (minute hour day month weekday)", cron=trigger["cron"]),
            )
        zone = trigger.get("time_zone", "UTC")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield Problem(
                file,
                "/trigger/time_zone",
                _("%(zone)r is not a time zone; use an IANA name such as Asia/Shanghai", zone=zone),
            )
    if fields:
        for key in ("field",):
            if key in trigger and trigger[key] not in known:
                yield Problem(file, f"/trigger/{key}", _("names no field: %(name)r", name=trigger[key]))
        for index, name in enumerate(trigger.get("fields", [])):
            if name not in fields:
                yield Problem(file, f"/trigger/fields/{index}", _("names no field: %(name)r", name=name))
        if trigger["on"] == "state_entered":
            workflow = next(
                (d for d in configuration.of_kind("workflow") if d.body.get("record_type") == record_type),
                None,
            )
            states = {s["name"] for s in workflow.body["states"]} if workflow else {"open"}
            if trigger["state"] not in states:
                yield Problem(
                    file,
                    "/trigger/state",
                    _("names no state of %(type)r: %(name)r", type=record_type, name=trigger["state"]),
                )
        if "condition" in body:
            yield from condition_problems(body["condition"], fields, ["condition"], file)
        if "expression" in body:
            names = set(known)
            for name, field in fields.items():
                target = (
                    configuration.fields(field.get("x-ref", "")) if field.get("type") == "integer" else None
                )
                if target:
                    names |= {f"{name}__{inner}" for inner in target}
            for error in check_expression(body["expression"], sorted(names)):
                yield Problem(file, "/expression", str(error))
    yield from action_problems(body["actions"], ["actions"], record_type, fields, configuration, file)


def action_problems(
    actions: list[dict[str, Any]],
    at: list[Any],
    record_type: str | None,
    fields: Mapping[str, Any],
    configuration: Configuration,
    file: str,
) -> Iterator[Problem]:
    """What the actions name exists: fields, record types, roles, teams' fields, reports, transitions.

    Also the checks of an SLA policy's escalation actions, which are automation actions.
    """
    known = set(fields) | set(EDITABLE_SYSTEM)
    roles = configuration.names("role")
    for index, action in enumerate(actions):
        here = [*at, index]
        kind = action["do"]
        if kind in ("set",) and fields:
            for name in action["fields"]:
                if name not in fields:
                    yield Problem(
                        file, pointer([*here, "fields", name]), _("names no field: %(name)r", name=name)
                    )
        if kind == "create":
            target = configuration.fields(action["record_type"])
            if target is None:
                yield Problem(
                    file,
                    pointer([*here, "record_type"]),
                    _("names no record type: %(name)r", name=action["record_type"]),
                )
            else:
                for name in action["data"]:
                    if name not in target:
                        yield Problem(
                            file,
                            pointer([*here, "data", name]),
                            _("names no field of %(type)r", type=action["record_type"]),
                        )
                if "link" in action and action["link"] not in target:
                    yield Problem(
                        file,
                        pointer([*here, "link"]),
                        _("names no field of %(type)r", type=action["record_type"]),
                    )
        if kind in ("notify", "report"):
            for r, recipient in enumerate(action.get("to", [])):
                if isinstance(recipient, dict) and "role" in recipient and recipient["role"] not in roles:
                    yield Problem(
                        file,
                        pointer([*here, "to", r, "role"]),
                        _("names no role: %(name)r", name=recipient["role"]),
                    )
                if isinstance(recipient, dict) and "field" in recipient and fields:
                    head = recipient["field"].split(".")[0]
                    if head not in known:
                        yield Problem(
                            file, pointer([*here, "to", r, "field"]), _("names no field: %(name)r", name=head)
                        )
        if kind == "assign" and fields and "by" in action and action["by"]["field"] not in fields:
            yield Problem(
                file,
                pointer([*here, "by", "field"]),
                _("names no field: %(name)r", name=action["by"]["field"]),
            )
        if kind == "report":
            report = configuration.get("report", action["report"])
            if report is None:
                yield Problem(
                    file, pointer([*here, "report"]), _("names no report: %(name)r", name=action["report"])
                )
            else:
                known_params = report.body.get("parameters", {}).get("properties", {})
                for name in action.get("params", {}):
                    if name not in known_params:
                        yield Problem(
                            file,
                            pointer([*here, "params", name]),
                            _("is not a parameter of the report %(name)r", name=action["report"]),
                        )
        if kind == "transition":
            workflow = next(
                (d for d in configuration.of_kind("workflow") if d.body.get("record_type") == record_type),
                None,
            )
            if workflow is None or action["name"] not in {t["name"] for t in workflow.body["transitions"]}:
                yield Problem(
                    file,
                    pointer([*here, "name"]),
                    _("names no transition of %(type)r: %(name)r", type=record_type, name=action["name"]),
                )

"""Checks of `sla` definitions beyond their meta-schema: what they say about the record type and the clock.

Registered with `itpm.definitions.checks.check`; the meta-schema names this
module in `x-checks`. Escalation actions are the automation engine's to check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import lazy_gettext as _

from itpm.automations.checks import action_problems
from itpm.definitions.checks import Configuration, check
from itpm.definitions.documents import Document
from itpm.definitions.problems import Problem, pointer
from itpm.sla.calendar import parse_interval


@check("sla")
def _sla(document: Document, configuration: Configuration) -> Iterator[Problem]:
    body, file = document.body, document.file
    yield from _calendar(body["calendar"], file)
    if body.get("on_warning") and "warning_share" not in body:
        yield Problem(file, "/on_warning", _("needs a warning_share: the share of the target that warns"))
    yield from _target_lengths(body, file)
    fields = configuration.fields(body["record_type"])
    if fields is None:
        yield Problem(file, "/record_type", _("names no record type: %(name)r", name=body["record_type"]))
        return
    others = [
        d.file for d in configuration.of_kind("sla")
        if d.body.get("record_type") == body["record_type"] and d.name != document.name
    ]  # fmt: skip
    if others:
        yield Problem(
            file,
            "/record_type",
            _(
                "%(name)r already has an SLA policy: %(files)s",
                name=body["record_type"],
                files=", ".join(others),
            ),
        )
    yield from _priorities(body, fields, file)
    yield from _pausing_states(body, configuration, file)
    for key in ("on_warning", "on_breach"):
        if key in body:
            yield from action_problems(body[key], [key], body["record_type"], fields, configuration, file)


def _calendar(calendar: Mapping[str, Any], file: str) -> Iterator[Problem]:
    try:
        ZoneInfo(calendar["time_zone"])
    except (ZoneInfoNotFoundError, ValueError):
        yield Problem(
            file,
            "/calendar/time_zone",
            _(
                "%(zone)r is not a time zone; use an IANA name such as Asia/Shanghai",
                zone=calendar["time_zone"],
            ),
        )
    for day, texts in calendar["working_hours"].items():
        taken: list[tuple[int, int, str]] = []
        for index, text in enumerate(texts):
            here = pointer(["calendar", "working_hours", day, index])
            try:
                start, end = parse_interval(text)
            except ValueError:
                yield Problem(file, here, _("%(hours)s does not end after it starts", hours=text))
                continue
            clash = next((other for s, e, other in taken if start < e and s < end), None)
            if clash:
                yield Problem(file, here, _("%(hours)s overlaps %(other)s", hours=text, other=clash))
            taken.append((start, end, text))
    holidays = calendar.get("extra_holidays", [])
    for index, day in enumerate(calendar.get("extra_working_days", [])):
        if day in holidays:
            yield Problem(
                file,
                f"/calendar/extra_working_days/{index}",
                _("%(day)s is also one of extra_holidays", day=day),
            )


def _target_lengths(body: Mapping[str, Any], file: str) -> Iterator[Problem]:
    for path, targets in _targets(body):
        for priority, minutes in targets.items():
            response, resolution = minutes.get("first_response_minutes"), minutes.get("resolution_minutes")
            if not response and not resolution:
                yield Problem(
                    file,
                    pointer([*path, priority]),
                    _("sets no target: give first_response_minutes or resolution_minutes"),
                )
            if response and resolution and response > resolution:
                yield Problem(
                    file,
                    pointer([*path, priority, "first_response_minutes"]),
                    _("is longer than the resolution target (%(minutes)d minutes)", minutes=resolution),
                )


def _priorities(body: Mapping[str, Any], fields: Mapping[str, Any], file: str) -> Iterator[Problem]:
    name = body.get("priority_field", "priority")
    where = "/priority_field" if "priority_field" in body else "/record_type"
    field = fields.get(name)
    if field is None:
        yield Problem(
            file,
            where,
            _("%(type)r has no field %(name)r to key targets by", type=body["record_type"], name=name),
        )
        return
    values = field.get("enum")
    if values is None:
        yield Problem(file, where, _("%(name)r has no list of choices (enum) to key targets by", name=name))
        return
    choices = ", ".join(str(v) for v in values)
    for path, targets in _targets(body):
        for priority in targets:
            if priority not in {str(v) for v in values}:
                yield Problem(
                    file,
                    pointer([*path, priority]),
                    _("is not a choice of %(name)r: %(choices)s", name=name, choices=choices),
                )


def _targets(body: Mapping[str, Any]) -> Iterator[tuple[list[str], Mapping[str, Any]]]:
    """The general targets and each client's, with their paths."""
    yield ["targets"], body["targets"]
    for client, targets in body.get("clients", {}).items():
        yield ["clients", client], targets


def _pausing_states(body: Mapping[str, Any], configuration: Configuration, file: str) -> Iterator[Problem]:
    """State names are checked against the record type's workflow, when it has one."""
    workflow = next(
        (d for d in configuration.of_kind("workflow") if d.body.get("record_type") == body["record_type"]),
        None,
    )
    if workflow is None:
        return
    states = {s.get("name") for s in workflow.body.get("states", [])}
    named = [("pausing_states", i, s) for i, s in enumerate(body.get("pausing_states", []))]
    named += [("response_states", i, s) for i, s in enumerate(body.get("response_states", []))]
    for key, index, state in named:
        if state not in states:
            yield Problem(
                file,
                f"/{key}/{index}",
                _(
                    "names no state of the workflow %(workflow)r: %(name)r",
                    workflow=workflow.name,
                    name=state,
                ),
            )

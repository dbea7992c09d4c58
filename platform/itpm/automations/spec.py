"""An automation as the engine uses it, and which events start it: pure.

An event is what the outbox holds: a record created, changed (with its
changes by path), moved by a transition, an approval decided, an SLA warning
or breach, a project's forecast newly flagged. Schedules are matched by the scheduler, not here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

EVENT_TRIGGERS = (
    "created",
    "updated",
    "field_changed",
    "state_entered",
    "approval_decided",
    "sla_warning",
    "sla_breach",
    "forecast_flagged",
)


@dataclass(frozen=True)
class Event:
    """An outbox event as automations read it."""

    id: int
    kind: str  # created, updated, deleted, transition, approval, sla_warning, sla_breach, forecast_flagged, note
    record_type: str | None
    record_id: int | None
    payload: dict[str, Any] = field(default_factory=dict)
    depth: int = 0

    def change(self, path: str) -> dict[str, Any] | None:
        return next((c for c in self.payload.get("changes", []) if c["path"] == path), None)


@dataclass(frozen=True)
class AutomationSpec:
    body: dict[str, Any] = field(compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.body["name"]

    @property
    def record_type(self) -> str | None:
        return self.body.get("record_type")

    @property
    def enabled(self) -> bool:
        return self.body.get("enabled", True)

    @property
    def trigger(self) -> dict[str, Any]:
        return self.body["trigger"]

    @property
    def actions(self) -> list[dict[str, Any]]:
        return self.body["actions"]

    @property
    def scheduled(self) -> bool:
        return self.trigger["on"] == "schedule"

    def starts_on(self, event: Event) -> bool:
        """Whether this automation reacts to the event (its record type and trigger, not yet its condition)."""
        if not self.enabled or self.scheduled or event.record_type != self.record_type:
            return False
        return triggered(self.trigger, event)

    def fire_times(self, since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """The moments in (since, until] at which a scheduled automation fires, in UTC."""
        zone = ZoneInfo(self.trigger.get("time_zone", "UTC"))
        moments = []
        schedule = croniter(self.trigger["cron"], since.astimezone(zone))
        while True:
            moment = schedule.get_next(dt.datetime)
            if moment > until.astimezone(zone):
                return moments
            moments.append(moment.astimezone(dt.UTC))


def triggered(trigger: dict[str, Any], event: Event) -> bool:
    on = trigger["on"]
    if on == "created":
        return event.kind == "created"
    if on == "updated":
        if event.kind != "updated":
            return False
        fields = trigger.get("fields")
        return fields is None or any(event.change(f"/data/{f}") for f in fields)
    if on == "field_changed":
        if event.kind not in ("updated", "created", "transition"):
            return False
        path = (
            f"/{trigger['field']}"
            if trigger["field"] in ("assignee", "owner", "client", "department")
            else f"/data/{trigger['field']}"
        )
        change = event.change(path)
        if change is None:
            return False
        if "from" in trigger and change["old"] != trigger["from"]:
            return False
        return "to" not in trigger or change["new"] == trigger["to"]
    if on == "state_entered":
        if event.kind == "created":
            return event.payload.get("state") == trigger["state"]
        change = event.change("/state")
        return change is not None and change["new"] == trigger["state"]
    if on == "approval_decided":
        if event.kind != "approval":
            return False
        if "decision" in trigger and event.payload.get("decision") != trigger["decision"]:
            return False
        return "transition" not in trigger or event.payload.get("transition") == trigger["transition"]
    if on == "forecast_flagged":  # the nightly forecast raised a risk flag the project's last one did not
        if event.kind != "forecast_flagged":
            return False
        return "flags" not in trigger or bool(set(trigger["flags"]) & set(event.payload.get("new", [])))
    return on == event.kind  # sla_warning, sla_breach


def valid_cron(expression: str) -> bool:
    return croniter.is_valid(expression)

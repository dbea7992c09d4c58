"""Pilot scorecards: a department's SMART goal on a KPI, baseline against now, with n and interval.

A goal (in a `kpi` definition's `goals`) names the department running the pilot, the baseline months
before it, a target and a deadline. Its scorecard measures the same KPI over that department's rows
(and the reader's: `ask` reads through the access layer) in the baseline and from the month after it
up to now, and says whether the goal is met, still open, or missed. A scorecard is for the
department's own admin and for whoever manages definitions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from itpm.kpis.measure import Answer, may_read
from itpm.kpis.service import ask
from itpm.kpis.spec import Kpi
from itpm.models import Department
from itpm.records.service import RecordError, Records

MET, OPEN, MISSED = "met", "open", "missed"


@dataclass
class Scorecard:
    kpi: Kpi
    goal: dict[str, Any]
    department: Department
    baseline: Answer
    now: Answer
    status: str


def _meets(kpi: Kpi, value: float | None, target: float) -> bool:
    if value is None:
        return False
    return value >= target if kpi.good_when_higher else value <= target


def scorecards(records: Records) -> list[Scorecard]:
    """The scorecards of the pilots the reader may follow (their department's, or all if they manage definitions)."""
    actor = records.actor
    abilities = records.access.abilities(actor)
    everyone = actor.is_system or "manage_definitions" in abilities
    today = records.clock().astimezone(records.zone).date()
    found = []
    for document in records.catalog.configuration.of_kind("kpi"):
        kpi = Kpi(document.body)
        if not kpi.goals or not may_read(records, kpi):
            continue
        for goal in kpi.goals:
            department = records.session.scalar(
                select(Department).where(Department.name == goal["department"])
            )
            if department is None:
                continue
            if not everyone and not (
                "manage_department" in abilities and actor.department_id == department.id
            ):
                continue
            after = goal["baseline"].split("..")[1]
            start = int(after[:4]) * 12 + int(after[5:7])
            since = f"{start // 12:04d}-{start % 12 + 1:02d}"
            filters = {"department": department.id} if "department" in (kpi.breakdowns or []) else {}
            try:
                baseline = ask(records, kpi.name, goal["baseline"], None, filters)
                now = ask(
                    records,
                    kpi.name,
                    f"{since}..{today:%Y-%m}" if since <= f"{today:%Y-%m}" else None,
                    None,
                    filters,
                )
            except RecordError:
                continue
            met = _meets(kpi, now.total.value, goal["target"]) and not (kpi.is_rate and now.total.too_few)
            deadline = dt.date.fromisoformat(goal["deadline"])
            status = MET if met else (OPEN if today <= deadline else MISSED)
            found.append(Scorecard(kpi, goal, department, baseline, now, status))
    return found

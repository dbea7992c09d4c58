"""Measures a report computes from the records it read: burn-down, SLA compliance, delays, phases...

Pure functions of record dicts (as `itpm.reports.sources` gives them) and of
dates passed in; templates call them, and the dashboards will too. A task is
done when its progress is 100 %, on the day it was last updated.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from itpm.charts import Bar

Record = Mapping[str, Any]
#: (label, value or None, how many records it is measured on)
Month = tuple[str, float | None, int]


def months(month: str, count: int) -> list[str]:
    """The `count` months (YYYY-MM) ending with `month`, oldest first."""
    year, number = int(month[:4]), int(month[5:7])
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{number:02d}")
        year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    return found[::-1]


def month_start(month: str) -> dt.date:
    return dt.date(int(month[:4]), int(month[5:7]), 1)


def month_end(month: str) -> dt.date:
    start = month_start(month)
    return dt.date(start.year + start.month // 12, start.month % 12 + 1, 1) - dt.timedelta(days=1)


def day(value: Any) -> dt.date | None:
    """The date of an ISO date or date-time text (or a date); None for nothing."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def done_on(task: Record) -> dt.date | None:
    """The day a task was finished (its last update at 100 %), or None while it is not."""
    if (task["data"].get("progress") or 0) < 100:
        return None
    return day(task.get("updated_at"))


def dropped(task: Record) -> bool:
    """Whether a task was cancelled: no longer due, so never late, overdue or coming up (as the KPIs,
    which count tasks not cancelled)."""
    return task.get("state_category") == "cancelled"


def days_late(task: Record, as_of: dt.date) -> int:
    """How many days after its due date a task was finished (or, unfinished, is by `as_of`); a cancelled
    task is never late."""
    due = day(task["data"].get("due_date"))
    if due is None or dropped(task):
        return 0
    finished = done_on(task)
    return max(0, ((finished or as_of) - due).days)


@dataclass(frozen=True)
class Burndown:
    planned: list[tuple[dt.date, float]]
    actual: list[tuple[dt.date, float]]
    #: Work is counted in estimated hours, or in tasks when none has an estimate (or the person may not see them).
    in_hours: bool
    total: float
    remaining: float


def burndown(tasks: Sequence[Record], start: Any, end: Any, today: dt.date) -> Burndown:
    """Remaining work each week from `start` to `end`: planned by due dates, actual by finished tasks."""
    first, last = day(start) or today, day(end) or today
    in_hours = any(t["data"].get("estimate_hours") for t in tasks)

    def work(task: Record) -> float:
        return float(task["data"].get("estimate_hours") or 0) if in_hours else 1.0

    total = sum(work(t) for t in tasks)
    weeks = [first + dt.timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]
    if weeks[-1] != last:
        weeks.append(last)
    planned = [
        (d, total - sum(work(t) for t in tasks if (due := day(t["data"].get("due_date"))) and due <= d))
        for d in weeks
    ]
    actual = [
        (d, total - sum(work(t) for t in tasks if (done := done_on(t)) and done <= d))
        for d in [*[w for w in weeks if w < today], today]
        if first <= d <= last
    ]
    remaining = total - sum(work(t) for t in tasks if done_on(t))
    return Burndown(planned, actual, in_hours, total, remaining)


def timeline(
    tasks: Iterable[Record], today: dt.date, milestones_only: bool = False, limit: int = 30
) -> list[Bar]:
    """Timeline bars of the dated tasks (or milestones only), in order of start."""
    bars = []
    for task in tasks:
        data = task["data"]
        if milestones_only and not data.get("milestone"):
            continue
        end = day(data.get("due_date"))
        if end is None:
            continue
        start = min(day(data.get("start_date")) or end, end)
        progress = float(data.get("progress") or 0)
        bars.append(
            Bar(
                key=task["id"],
                label=data.get("title") or task["number"],
                start=start,
                end=end,
                progress=progress,
                milestone=bool(data.get("milestone")),
                late=progress < 100 and end < today,
                depends_on=tuple(data.get("depends_on") or ()),
            )
        )
    return sorted(bars, key=lambda b: (b.start, b.end, str(b.key)))[:limit]


def sla_by_month(
    tickets: Iterable[Record],
    within: Sequence[str],
    targets: Mapping[str, float],
    now: dt.datetime,
    start: str = "occurred_at",
    end: str = "resolved_at",
    by: str = "priority",
) -> list[Month]:
    """Per month of `within`, the share (%) of tickets resolved within the target hours of their `by`.

    A ticket counts in the month it started; an unresolved one counts once its target has passed.
    """
    met: dict[str, int] = defaultdict(int)
    counted: dict[str, int] = defaultdict(int)
    for ticket in tickets:
        data = ticket["data"]
        opened = _moment(data.get(start)) or _moment(ticket.get("created_at"))
        target = targets.get(str(data.get(by)))
        if opened is None or target is None:
            continue
        month = f"{opened:%Y-%m}"
        closed = _moment(data.get(end))
        deadline = opened + dt.timedelta(hours=float(target))
        if closed is None and now <= deadline:
            continue
        counted[month] += 1
        met[month] += int(closed is not None and closed <= deadline)
    return [(m, 100 * met[m] / counted[m] if counted[m] else None, counted[m]) for m in within]


def monthly_average(
    records: Iterable[Record], within: Sequence[str], field: str, date_field: str = "created_at"
) -> list[Month]:
    """Per month of `within`, the average of a number field (e.g. a satisfaction score)."""
    values: dict[str, list[float]] = defaultdict(list)
    for record in records:
        when = day(record["data"].get(date_field) or record.get(date_field))
        value = record["data"].get(field)
        if when is not None and isinstance(value, int | float):
            values[f"{when:%Y-%m}"].append(float(value))
    return [(m, sum(values[m]) / len(values[m]) if values[m] else None, len(values[m])) for m in within]


def _due_between(tasks: Iterable[Record], since: Any, as_of: dt.date) -> list[Record]:
    first = day(since) or dt.date.min
    return [
        t for t in tasks if not dropped(t) and (d := day(t["data"].get("due_date"))) and first <= d <= as_of
    ]


def on_time(tasks: Iterable[Record], as_of: dt.date, since: Any = None) -> dict[str, Any]:
    """Of the tasks due by `as_of` (and from `since`), how many were finished by their due date: counts and rate (%)."""
    due = _due_between(tasks, since, as_of)
    kept = [t for t in due if (done := done_on(t)) and done <= day(t["data"]["due_date"])]
    return {"due": len(due), "on_time": len(kept), "rate": 100 * len(kept) / len(due) if due else None}


def delays_by_team(
    tasks: Iterable[Record], as_of: dt.date, since: Any = None, unassigned: str = "—"
) -> list[dict[str, Any]]:
    """Per team (of each task's assignee): tasks due by `as_of` (and from `since`), how many were late, by how many days."""
    teams: dict[str, list[int]] = defaultdict(list)
    for task in _due_between(tasks, since, as_of):
        teams[task.get("team") or unassigned].append(days_late(task, as_of))
    rows = [
        {
            "team": team,
            "due": len(lates),
            "late": sum(1 for d in lates if d),
            "days": sum(lates) / max(1, sum(1 for d in lates if d)),
        }
        for team, lates in teams.items()
    ]
    return sorted(rows, key=lambda r: (-r["late"], r["team"]))


def upcoming(tasks: Iterable[Record], as_of: dt.date, days: int = 30) -> list[Record]:
    """The unfinished tasks due within `days` after `as_of`, soonest first."""
    last = as_of + dt.timedelta(days=days)
    found = [
        t
        for t in tasks
        if done_on(t) is None
        and not dropped(t)
        and (due := day(t["data"].get("due_date")))
        and as_of <= due <= last
    ]
    return sorted(found, key=lambda t: (t["data"]["due_date"], t["number"]))


def overdue(tasks: Iterable[Record], as_of: dt.date) -> list[dict[str, Any]]:
    """The unfinished tasks past their due date at `as_of`, most days late first."""
    late = [{"task": t, "days": days_late(t, as_of)} for t in tasks if done_on(t) is None]
    return sorted((r for r in late if r["days"]), key=lambda r: (-r["days"], r["task"]["number"]))


def elapsed(start: Any, end: Any, as_of: dt.date) -> float | None:
    """How much of the time from `start` to `end` has passed at `as_of`, in % (0 to 100)."""
    first, last = day(start), day(end)
    if first is None or last is None:
        return None
    share = (as_of - first).days / max((last - first).days, 1)
    return max(0.0, min(100.0, 100 * share))


def most_delayed(tasks: Iterable[Record], as_of: dt.date, limit: int = 10) -> list[dict[str, Any]]:
    """The tasks most days late by `as_of` (finished late, or still open past due)."""
    late = [{"task": t, "days": days_late(t, as_of)} for t in tasks]
    return sorted((r for r in late if r["days"]), key=lambda r: (-r["days"], r["task"]["number"]))[:limit]


def budget_burn(projects: Iterable[Record]) -> list[dict[str, Any]]:
    """Per project with a planned budget: plan, spent, and spent as a share (%) of the plan."""
    rows = []
    for project in projects:
        plan, spent = project["data"].get("budget_plan"), project["data"].get("budget_spent")
        if plan:
            rows.append(
                {"project": project, "plan": plan, "spent": spent or 0, "ratio": 100 * (spent or 0) / plan}
            )
    return sorted(rows, key=lambda r: -r["ratio"])


def planned_ends(phase_ends: Iterable[tuple[str, str]], data: Mapping[str, Any]) -> dict[str, dt.date | None]:
    """Each phase's planned end from a record's data, in the order of the phases (a record type's
    `phase_plan`); None where the field is empty or hidden from the reader (not in `data`)."""
    return {phase: day(data.get(name)) for phase, name in phase_ends}


def phase_stretches(
    history: Iterable[Record],
    as_of: dt.date,
    finished: bool,
    field: str = "phase",
    plan: Mapping[str, dt.date | None] | None = None,
) -> list[dict[str, Any]]:
    """The stretches a record spent in each value of `field` up to `as_of`, from its history (newest first,
    as `Records.history` gives it), each against its `plan` (`planned_ends`) where it has one.

    A stretch runs from the day the value was set to the day the next one was, or, for the last value,
    to the day the record was finished (its last change of state, when `finished`: a closed project
    keeps its phase "closing" but no longer spends days in it), else to `as_of`. An import gives a
    record's values as they last were, not when they were set, so a value it was imported with has no
    known start and makes no stretch.

    A phase is planned from the planned end of the phase before it in `plan` (the first one, or one
    whose predecessor has no date, from the day it began) to its own planned end: `planned_days` (none
    when it was planned to be over before it began), and `over` the days it took beyond that (negative
    when it was shorter); both None without a plan.
    """
    path = f"/data/{field}"
    events = list(history)[::-1]
    changes = [
        (day(event["at"]), change["new"], event["action"] == "imported")
        for event in events
        for change in event["changes"]
        if change["path"] == path and change["new"] is not None
    ]
    states = [day(e["at"]) for e in events if any(c["path"] == "/state" for c in e["changes"])]
    end = min(states[-1], as_of) if finished and states else as_of
    plan = plan or {}
    before = dict(zip(list(plan)[1:], plan.values(), strict=False))
    stretches = []
    for index, (since, value, imported) in enumerate(changes):
        if imported or since is None or since > end:
            continue
        following = changes[index + 1][0] if index + 1 < len(changes) else end
        until = min(following or end, end)
        days = (until - since).days
        planned_end = plan.get(value)
        planned_days = max(0, (planned_end - (before.get(value) or since)).days) if planned_end else None
        stretches.append(
            {
                "phase": value,
                "since": since,
                "until": until,
                "days": days,
                "planned_end": planned_end,
                "planned_days": planned_days,
                "over": None if planned_days is None else days - planned_days,
            }
        )
    return stretches


def against_plan(stretches: Iterable[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """The stretches (each with its record's `number`) that ran longest beyond their plan first, then
    those without a plan, longest first."""
    return sorted(
        stretches, key=lambda r: (r["over"] is None, -(r["over"] or 0), -r["days"], r["number"] or "")
    )[:limit]


def phase_durations(
    projects: Iterable[Record], as_of: dt.date, field: str = "phase", limit: int = 10
) -> list[dict[str, Any]]:
    """The projects' phase stretches (`phase_stretches`, against each project's `phase_plan`), those most
    beyond their plan first (`against_plan`)."""
    rows = [
        {"project": project, "number": project["number"], **stretch}
        for project in projects
        for stretch in phase_stretches(
            project.get("history", []),
            as_of,
            project.get("finished", False),
            field,
            project.get("phase_plan"),
        )
    ]
    return against_plan(rows, limit)


def _moment(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


#: What templates may call, by name.
MEASURES = {
    f.__name__: f
    for f in (
        months,
        month_start,
        month_end,
        day,
        days_late,
        dropped,
        burndown,
        timeline,
        sla_by_month,
        monthly_average,
        on_time,
        delays_by_team,
        most_delayed,
        upcoming,
        overdue,
        elapsed,
        budget_burn,
        phase_stretches,
        planned_ends,
        against_plan,
        phase_durations,
    )
}

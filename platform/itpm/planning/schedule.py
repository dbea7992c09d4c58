"""A project's schedule as dates: finish-to-start dependencies, moving a task, the critical path. Pure.

A task occupies the days from its start to its due date, both included; a
milestone is one day (start = due). A finish-to-start dependency means the
dependant starts after its predecessor is due: the next day, or the same day
when either of the two is a milestone (a milestone marks the end of a day's work).

Moving a task pushes its dependants, and theirs, just as far as they must go
to keep every dependency: to the next working day, keeping the number of working
days each one spans; a dependant that already starts late enough stays where it
is, and moving a task earlier moves nobody else (the plan gains slack; nobody's
work is pulled forward unasked). Slack is counted in working days too, so a
handover from a Friday to the Monday after is no slack. Which days are working
days is the caller's (`working`; Monday to Friday unless given).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

DAY = dt.timedelta(days=1)
Working = Callable[[dt.date], bool]


def weekdays(day: dt.date) -> bool:
    return day.weekday() < 5


@dataclass(frozen=True)
class Task:
    id: int
    start: dt.date
    due: dt.date
    depends_on: tuple[int, ...] = field(default=())
    milestone: bool = False

    @property
    def length(self) -> dt.timedelta:
        return self.due - self.start


class ScheduleError(ValueError):
    """A plan that cannot be scheduled (a dependency loop, a task due before it starts)."""


class TooEarly(ScheduleError):
    """A task moved to start before a task it waits for is done."""

    def __init__(self, task: int, earliest: dt.date, waits_for: int) -> None:
        super().__init__(f"task {task} cannot start before {earliest}: it waits for task {waits_for}")
        self.task, self.earliest, self.waits_for = task, earliest, waits_for


def gap(before: Task, after: Task) -> dt.timedelta:
    """How long after `before`'s due date `after` may start at the earliest."""
    return dt.timedelta(0) if before.milestone or after.milestone else DAY


def _dependants(tasks: Mapping[int, Task]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {i: [] for i in tasks}
    for task in tasks.values():
        for before in task.depends_on:
            if before in tasks:
                found[before].append(task.id)
    return found


def topological_order(tasks: Mapping[int, Task]) -> list[int]:
    """The ids, every predecessor before its dependants; ScheduleError naming a loop's tasks."""
    dependants = _dependants(tasks)
    waiting = {i: sum(1 for b in t.depends_on if b in tasks) for i, t in tasks.items()}
    ready = sorted(i for i, n in waiting.items() if n == 0)
    order: list[int] = []
    while ready:
        current = ready.pop()
        order.append(current)
        for after in dependants[current]:
            waiting[after] -= 1
            if waiting[after] == 0:
                ready.append(after)
    if len(order) != len(tasks):
        raise ScheduleError(f"these tasks depend on each other in a loop: {sorted(set(tasks) - set(order))}")
    return order


def next_working(day: dt.date, working: Working) -> dt.date:
    for _ in range(366):
        if working(day):
            return day
        day += DAY
    return day


def _previous_working(day: dt.date, floor: dt.date, working: Working) -> dt.date:
    """The last working day on or before `day`, but not before `floor` (no slack then)."""
    while day > floor and not working(day):
        day -= DAY
    return day


def working_days(first: dt.date, last: dt.date, working: Working) -> int:
    return sum(1 for n in range((last - first).days + 1) if working(first + n * DAY))


def shifted(task: Task, start: dt.date, working: Working) -> Task:
    """`task` starting on `start` (a working day), spanning as many working days as before."""
    count = working_days(task.start, task.due, working)
    if count == 0:
        return replace(task, start=start, due=start + task.length)
    due, seen = start, 0
    while True:
        seen += working(due)
        if seen >= count:
            return replace(task, start=start, due=due)
        due += DAY


def move(
    tasks: Iterable[Task], moved: int, start: dt.date, due: dt.date, working: Working = weekdays
) -> dict[int, Task]:
    """The tasks whose dates change when task `moved` is given `start` and `due`, by id.

    The moved task is among them (if its dates change); its dependants follow as
    the module says. ScheduleError when `due` is before `start`, or on a loop;
    TooEarly when the task would start before a task it waits for is done.
    """
    by_id = {t.id: t for t in tasks}
    if moved not in by_id:
        raise ScheduleError(f"there is no task {moved} in this plan")
    if due < start:
        raise ScheduleError(f"task {moved} would be due ({due}) before it starts ({start})")
    current = dict(by_id)
    current[moved] = replace(by_id[moved], start=start, due=due)
    if current[moved].milestone:
        current[moved] = replace(current[moved], due=start)
    for before in current[moved].depends_on:
        if before in current and start < current[before].due + gap(current[before], current[moved]):
            raise TooEarly(moved, current[before].due + gap(current[before], current[moved]), before)
    for task_id in topological_order(by_id):
        if task_id == moved:
            continue
        task = current[task_id]
        earliest = max(
            (current[b].due + gap(current[b], task) for b in task.depends_on if b in current),
            default=None,
        )
        if earliest is not None and task.start < earliest and _downstream_of(by_id, task_id, moved):
            current[task_id] = shifted(task, next_working(earliest, working), working)
    return {i: t for i, t in current.items() if (t.start, t.due) != (by_id[i].start, by_id[i].due)}


def _downstream_of(tasks: Mapping[int, Task], task_id: int, source: int) -> bool:
    """Whether `task_id` depends, directly or through others, on `source`."""
    seen: set[int] = set()
    stack = [task_id]
    while stack:
        current = stack.pop()
        for before in tasks[current].depends_on:
            if before == source:
                return True
            if before in tasks and before not in seen:
                seen.add(before)
                stack.append(before)
    return False


def critical_path(tasks: Iterable[Task], working: Working = weekdays) -> set[int]:
    """The tasks with no slack: delaying any of them by a working day delays the end of the plan.

    Late finish of a task = the latest due date that keeps every dependant's start
    (and the plan's last due date); slack = the working days after its due date up to it.
    """
    by_id = {t.id: t for t in tasks}
    if not by_id:
        return set()
    end = max(t.due for t in by_id.values())
    dependants = _dependants(by_id)
    late_finish: dict[int, dt.date] = {}
    for task_id in reversed(topological_order(by_id)):
        task = by_id[task_id]
        latest = min(
            (late_finish[a] - by_id[a].length - gap(task, by_id[a]) for a in dependants[task_id]),
            default=end,
        )
        late_finish[task_id] = _previous_working(latest, task.due, working)
    return {
        i
        for i, t in by_id.items()
        if late_finish[i] <= t.due or not _any_working(t.due + DAY, late_finish[i], working)
    }


def _any_working(first: dt.date, last: dt.date, working: Working) -> bool:
    """Whether a working day is in first..last: `working_days` > 0, told at the first one found."""
    return any(working(first + n * DAY) for n in range((last - first).days + 1))

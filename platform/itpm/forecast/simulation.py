"""Monte Carlo finish dates from a project's own weekly throughput (Vacanti, Magennis).

Each run replays the weeks ahead by drawing, week after week, one of the weeks of
history at random (tasks finished that week and tasks added that week, drawn
together, so scope growth comes with the pace it came with), until the open
work is used up. 10,000 runs give a distribution of finish dates; the
percentiles and the chance of meeting the planned date are read off it.

Scope growth has two parts. The steady trickle of new tasks is drawn with the
weeks, as above. A block of scope that arrives at once (a week adding far more
than the project's usual weeks: a change request, the next phase planned) is an
event, not a pace: drawn as a pace it would come back every few weeks until the
planned finish. Events are counted apart: how often they come is learned from
the weeks of the project and of the finished projects of its type together
(`scope_events`), and each run draws its own rate (a Gamma posterior, so a
short history shows its uncertainty) and the sizes of the blocks it gets.

Honesty rules: with fewer than `MIN_WEEKS` weeks in which work was finished and
no usable history of projects of the same type, there is no date, only "not
enough history"; a probability is never shown as 0% or 100%; every answer
carries the data it used (weeks, window, where the history came from).
Pure: no database, no clock; `as_of` comes in as an argument.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RUNS = 10_000
#: Weeks with finished work below which a project's own history is too short to forecast from.
MIN_WEEKS = 5
#: The most recent weeks of history used (older pace says little about today's team).
WINDOW_WEEKS = 26
#: Probabilities are shown within these bounds: 10,000 runs cannot prove "certain" or "impossible".
FLOOR, CEILING = 0.01, 0.99
#: Runs are followed at most this long (ten years): longer is "no finish in sight".
HORIZON_WEEKS = 520
PERCENTILES = (50, 85, 95)
#: The quantiles the fan chart draws (5% steps).
FAN = tuple(range(5, 100, 5))

OK = "ok"
DONE = "done"
NOT_ENOUGH = "not_enough_history"
NO_FINISH = "no_finish"


@dataclass(frozen=True)
class WorkItem:
    """A piece of a project's work as the forecast sees it (one task)."""

    created: dt.date
    finished: dt.date | None = None  # the day it entered a done state
    cancelled: bool = False


@dataclass(frozen=True)
class History:
    """Weekly counts of a project's work over its window, oldest week first."""

    done: tuple[int, ...]
    added: tuple[int, ...]
    first: dt.date | None  # the first day of the window (None: no week with finished work yet)
    last: dt.date | None

    @property
    def weeks(self) -> int:
        return len(self.done)

    @property
    def weeks_with_work(self) -> int:
        return sum(1 for d in self.done if d > 0)


EMPTY = History((), (), None, None)


def weekly_history(items: Iterable[WorkItem], as_of: dt.date, window_weeks: int = WINDOW_WEEKS) -> History:
    """Tasks finished and added in each of the weeks before `as_of`, from the first week with finished work.

    Weeks end on `as_of` (the week of `as_of - 6` to `as_of` is the last). Tasks
    created before the first finished task are the initial plan, not growth.
    Only what was known on `as_of` counts (a replay of the past sees no later data).
    """
    finished = [i.finished for i in items if i.finished is not None and i.finished <= as_of]
    created = [i.created for i in items if i.created <= as_of]
    if not finished:
        return EMPTY
    ago_done = np.array([(as_of - d).days // 7 for d in finished], dtype=np.int64)
    span = min(int(ago_done.max()) + 1, window_weeks)
    done = np.bincount(ago_done[ago_done < span], minlength=span)[::-1]
    ago_added = np.array([(as_of - d).days // 7 for d in created], dtype=np.int64)
    added = np.bincount(ago_added[ago_added < span], minlength=span)[::-1]
    first_finished = min(finished)
    first = as_of - dt.timedelta(days=7 * span - 1)
    if first_finished > first:  # tasks created in the week of the first finish but before it: the plan
        before = sum(1 for d in created if first <= d < first_finished and (as_of - d).days // 7 == span - 1)
        added[0] -= before
    return History(tuple(int(x) for x in done), tuple(int(x) for x in added), first, as_of)


def prior_history(items: Sequence[WorkItem], as_of: dt.date, window_weeks: int = WINDOW_WEEKS) -> History:
    """Another project's weekly history as a prior on `as_of`: up to its last finished task when its work
    was all done by then. The weeks after a project finished are not weeks in which its team finished
    nothing: counted, they read as a pace of zero and every prior-based date came out far too late."""
    finished = [i.finished for i in items if i.finished is not None and i.finished <= as_of]
    end = max(finished) if finished and not remaining_of(items, as_of) else as_of
    return weekly_history(items, end, window_weeks)


def remaining_of(items: Iterable[WorkItem], as_of: dt.date) -> int:
    """Tasks open on `as_of`: created by then, neither finished by then nor cancelled."""
    return sum(
        1
        for i in items
        if i.created <= as_of and (i.finished is None or i.finished > as_of) and not i.cancelled
    )


@dataclass(frozen=True)
class Forecast:
    """A finish-date forecast and what it was made from."""

    status: str  # ok, done, not_enough_history, no_finish
    as_of: dt.date
    remaining: int
    runs: int
    seed: int
    weeks: int  # weeks of history drawn from
    weeks_with_work: int
    window: tuple[dt.date | None, dt.date | None]
    source: str  # own, own+type (the project's weeks with those of finished projects of its type), none
    prior_projects: int = 0
    planned: dt.date | None = None
    percentiles: dict[int, dt.date | None] = field(default_factory=dict)
    on_time: float | None = None
    #: The fan chart: (percent, date) at 5% steps.
    fan: tuple[tuple[int, dt.date | None], ...] = ()
    throughput: float | None = None  # mean tasks finished a week in the history drawn from
    growth: float | None = None  # mean tasks added a week
    block_rate: float | None = None  # blocks of scope a week (the project's and its type's weeks)
    block_size: float | None = None  # their mean size in tasks (beyond a usual week's)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "as_of": self.as_of.isoformat(),
            "remaining": self.remaining,
            "runs": self.runs,
            "seed": self.seed,
            "weeks": self.weeks,
            "weeks_with_work": self.weeks_with_work,
            "window": [d.isoformat() if d else None for d in self.window],
            "source": self.source,
            "prior_projects": self.prior_projects,
            "planned": self.planned.isoformat() if self.planned else None,
            "percentiles": {f"p{p}": d.isoformat() if d else None for p, d in self.percentiles.items()},
            "on_time": self.on_time,
            "fan": [[p, d.isoformat() if d else None] for p, d in self.fan],
            "throughput": self.throughput,
            "growth": self.growth,
            "block_rate": self.block_rate,
            "block_size": self.block_size,
        }


#: A week adds a block of scope (an event) when it adds more than the usual weeks' median plus this
#: many robust deviations (1.4826 MAD, at least the Poisson spread of the median).
EVENT_DEVIATIONS = 3.0


@dataclass(frozen=True)
class ScopeEvents:
    """Blocks of scope that arrived at once, apart from the steady trickle of new tasks."""

    threshold: int  # a week adding more than this adds a block: its excess over this
    weeks: int  # weeks they were counted over (the project's and its type's)
    sizes: tuple[int, ...]  # the excess of each block

    @property
    def rate(self) -> float:
        return len(self.sizes) / self.weeks if self.weeks else 0.0


def event_threshold(added: Sequence[int]) -> int:
    """The most tasks a usual week adds: the median plus `EVENT_DEVIATIONS` robust deviations."""
    values = np.asarray(added, dtype=float)
    if not values.size:
        return 0
    median = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - median)))
    return math.ceil(median + EVENT_DEVIATIONS * max(mad, math.sqrt(max(median, 1.0))))


def scope_events(histories: Sequence[History]) -> ScopeEvents:
    """The blocks of scope in the weeks of `histories` (the project's and its type's, pooled)."""
    added = [a for h in histories for a in h.added]
    threshold = event_threshold(added)
    return ScopeEvents(threshold, len(added), tuple(a - threshold for a in added if a > threshold))


def bounded(probability: float) -> float:
    """A probability as it is shown: never 0 nor 1."""
    return round(min(CEILING, max(FLOOR, probability)), 3)


def finish_weeks(
    remaining: int,
    done: np.ndarray,
    added: np.ndarray,
    runs: int,
    rng: np.random.Generator,
    growth_weeks: int | None = None,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Weeks until `remaining` tasks are finished in each run (inf: not within the horizon).

    Work keeps being added as in the week drawn for `growth_weeks` weeks (None: for ever), then only
    finished. `extra`: each run's blocks of scope to come, counted with the open work (a block comes
    before the planned finish, so the day it comes does not move a finish after it). Vectorised: a
    block of weeks is drawn for every run at once; runs not finished within it go on with the next
    block, from where they stand. The first block is most of the expected weeks (nearly every run
    needs all of them), the next ones short and growing, so few weeks are drawn after a run's finish.
    """
    done = np.asarray(done, dtype=np.int32)
    added = np.asarray(added, dtype=np.int32)
    size = done.size
    # each run draws its weeks from its own resample of the history (a double bootstrap): a few
    # weeks of history say little about the true pace, and the spread of dates must show it
    past = rng.integers(0, size, size=(runs, size), dtype=np.int32)
    past_net = (done - added)[past].ravel()  # run r's resampled weeks at r * size ... r * size + size - 1
    past_done = done[past].ravel() if growth_weeks is not None else past_net
    per_week = float(done.mean())
    ahead = remaining + float(added.mean()) * (growth_weeks if growth_weeks is not None else 0)
    ahead += float(extra.mean()) if extra is not None else 0.0
    net_mean = float((done - added).mean()) if growth_weeks is None else per_week
    expected = ahead / net_mean if net_mean > 0 else 52.0
    block = int(min(HORIZON_WEEKS, max(1, math.floor(0.8 * expected))))
    step = max(2.0, 0.25 * expected)
    result = np.full(runs, np.inf)
    left = np.full(runs, remaining, dtype=np.int32)
    if extra is not None:
        left += extra.astype(np.int32)
    offsets = np.arange(runs, dtype=np.int32) * size
    index = np.uint16 if size <= np.iinfo(np.uint16).max else np.int32  # fewer random bits: quicker
    active = np.arange(runs)
    elapsed = 0
    while active.size and elapsed < HORIZON_WEEKS:
        block = min(block, HORIZON_WEEKS - elapsed)
        drawn = offsets[active, None] + rng.integers(0, size, size=(active.size, block), dtype=index)
        weeks = past_net[drawn]
        if growth_weeks is not None:
            cut = max(0, growth_weeks - elapsed)
            if cut < block:  # past the planned finish nothing more is added
                weeks[:, cut:] = past_done[drawn[:, cut:]]
        total = np.cumsum(weeks, axis=1, out=weeks)  # net tasks closed by the end of each week
        need = left[active]
        crossed = total >= need[:, None]
        k = crossed.argmax(axis=1)
        rows = np.nonzero(crossed[np.arange(active.size), k])[0]
        k = k[rows]
        before = np.where(k > 0, total[rows, np.maximum(k - 1, 0)], 0)
        # the last week is used only in part: the share of it the open work needed
        result[active[rows]] = elapsed + k + (need[rows] - before) / (total[rows, k] - before)
        left[active] = need - total[:, -1]
        still = np.ones(active.size, dtype=bool)
        still[rows] = False
        active = active[still]
        elapsed += block
        block = math.ceil(step)
        step *= 1.5
    return result


def block_work(events: ScopeEvents, weeks: int, runs: int, rng: np.random.Generator) -> np.ndarray:
    """Each run's tasks from blocks of scope in the next `weeks`: its own rate of blocks drawn from the
    Gamma posterior of the rate seen (Jeffreys' prior: a rate stays possible when none was seen), a
    Poisson count of blocks at that rate, each block's size drawn from those seen."""
    if not events.sizes or not events.weeks or weeks <= 0:
        return np.zeros(runs, dtype=np.int32)
    rate = rng.gamma(len(events.sizes) + 0.5, 1.0 / events.weeks, size=runs)
    count = rng.poisson(rate * weeks)
    most = int(count.max())
    if most == 0:
        return np.zeros(runs, dtype=np.int32)
    sizes = np.asarray(events.sizes, dtype=np.int32)[rng.integers(0, len(events.sizes), size=(runs, most))]
    sizes[np.arange(most)[None, :] >= count[:, None]] = 0
    return sizes.sum(axis=1, dtype=np.int32)


def forecast_finish(
    remaining: int,
    own: History,
    as_of: dt.date,
    planned: dt.date | None = None,
    prior: Sequence[History] = (),
    runs: int = RUNS,
    seed: int = 0,
    growth: bool = True,
) -> Forecast:
    """The finish-date forecast of `remaining` open tasks, from `own` weekly history (and `prior`'s).

    `prior`: the histories of finished projects of the same type; drawn from
    with the project's own weeks when those are fewer than `MIN_WEEKS`.
    `growth`: new work keeps coming until `planned` (a project's); a milestone's forecast has none (the
    tasks added to a project are not known to be the milestone's).
    """
    base = {"as_of": as_of, "remaining": remaining, "runs": runs, "seed": seed, "planned": planned}
    usable = [h for h in prior if h.weeks_with_work >= MIN_WEEKS]
    if own.weeks_with_work >= MIN_WEEKS:
        done, added, source, used = list(own.done), list(own.added), "own", []
    elif usable:
        used = usable
        done = list(own.done) + [d for h in usable for d in h.done]
        added = list(own.added) + [a for h in usable for a in h.added]
        source = "own+type"
    else:
        return Forecast(
            NOT_ENOUGH, weeks=own.weeks, weeks_with_work=own.weeks_with_work,
            window=(own.first, own.last), source="none", **base,
        )  # fmt: skip
    # blocks of scope, counted over the project's weeks and those of its type's finished projects
    events = scope_events([own, *usable])
    described = {
        "block_rate": round(events.rate, 4),
        "block_size": round(float(np.mean(events.sizes)), 1) if events.sizes else None,
        "weeks": len(done),
        "weeks_with_work": sum(1 for d in done if d > 0),
        "window": (own.first, own.last),
        "source": source,
        "prior_projects": len(used),
        "throughput": round(float(np.mean(done)), 2),
        "growth": round(float(np.mean(added)), 2),
    }
    if remaining <= 0:
        return Forecast(DONE, **described, **base)
    # new work comes as it came, until the planned finish (work is planned within the project's span)
    growth_weeks = max(0, math.ceil((planned - as_of).days / 7)) if planned is not None else None
    if not growth:
        growth_weeks = 0
    if not any(done) or (growth_weeks is None and np.mean(np.subtract(done, added)) <= 0):
        return Forecast(NO_FINISH, **described, **base)  # work is added as fast as it is finished
    rng = np.random.default_rng(seed)
    added_weekly, extra = np.asarray(added), None
    if growth_weeks:  # the steady trickle with the weeks; blocks of scope as events of their own
        added_weekly = np.minimum(added_weekly, events.threshold)
        extra = block_work(events, growth_weeks, runs, rng)
    weeks = finish_weeks(remaining, np.asarray(done), added_weekly, runs, rng, growth_weeks, extra)
    days = np.sort(np.ceil(weeks * 7))

    def date_at(percent: float) -> dt.date | None:
        value = float(days[min(runs - 1, math.ceil(runs * percent / 100) - 1)])  # the nearest rank
        return as_of + dt.timedelta(days=int(value)) if math.isfinite(value) else None

    on_time = None
    if planned is not None:
        on_time = bounded(float(np.mean(days <= (planned - as_of).days)))
    return Forecast(
        OK,
        percentiles={p: date_at(p) for p in PERCENTILES},
        on_time=on_time,
        fan=tuple((p, date_at(p)) for p in FAN),
        **described,
        **base,
    )

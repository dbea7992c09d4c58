"""The demo's finished past: projects of the last two years, all their tasks done, for the forecast's backtest.

Each project is simulated week by week from a seed: a team finishes a random
number of tasks a week around its own pace (weeks vary a lot, as they do), some
teams lose pace for a few weeks (a key person away, a client freeze), work is
added as it goes and, in some projects, a block of scope arrives mid-way. The
planned finish is what the plan said at the start: the initial tasks at the pace
the manager expected, which is often a little optimistic. So some projects
finish on time and some weeks late, for reasons the method does not know in
advance. Written in bulk (`Records.create_many` with the creation and state
times of the past), so the demo stays quick.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from itpm.access import Actor
from itpm.demo_company import D1, D2, IMPLEMENTATION, MS, OUTSOURCING, PHASE_PLAN
from itpm.forecast.backtest import issue, keep_replayed
from itpm.records.service import Records


@dataclass(frozen=True)
class PastProject:
    key: str
    client: str
    kind: str
    department: str
    manager: str
    lead: str
    team: tuple[str, ...]
    name: str
    language: str
    #: Roughly when it finished, in days from today.
    finished: int
    #: Tasks in the initial plan (full scale).
    tasks: int


PAST = (
    PastProject("h_ecb_teller", "ecb", IMPLEMENTATION, D1, "pm.demo", "engineer.demo",
                ("engineer.demo", "li.qiang", "yang.fan"),
                "华东银行柜面系统升级 / ECB teller system upgrade", "zh", -640, 70),
    PastProject("h_ecb_dc", "ecb", OUTSOURCING, MS, "huang.wei", "feng.kai",
                ("feng.kai", "deng.hui", "cao.yu"),
                "华东银行数据中心搬迁 / ECB data centre move", "zh", -560, 55),
    PastProject("h_jn_wms", "jiangnan", IMPLEMENTATION, D2, "zhao.li", "guo.peng",
                ("guo.peng", "gao.yuan", "song.jia"),
                "江南制造 WMS 仓储系统实施 / Jiangnan WMS implementation", "zh", -500, 80),
    PastProject("h_jn_desk", "jiangnan", OUTSOURCING, MS, "huang.wei", "tang.bo",
                ("tang.bo", "han.xue", "jiang.ning"),
                "江南制造桌面运维交接 / Jiangnan desktop support transition", "zh", -430, 45),
    PastProject("h_rh_bi", "rhine", IMPLEMENTATION, D2, "sun.tao", "luo.xin",
                ("luo.xin", "gao.yuan"),
                "Rhine Auto Parts BI reporting rollout", "en", -380, 60),
    PastProject("h_sc_lis", "hospital", IMPLEMENTATION, D1, "liu.yang", "li.qiang",
                ("li.qiang", "zhu.lin", "liang.chen"),
                "申城一院 LIS 检验系统升级 / Shencheng Hospital LIS upgrade", "zh", -330, 75),
    PastProject("h_rh_net", "rhine", OUTSOURCING, MS, "huang.wei", "han.xue",
                ("han.xue", "xie.fang", "deng.hui"),
                "Rhine Auto Parts network refresh", "en", -280, 50),
    PastProject("h_fh_pos", "freshharvest", IMPLEMENTATION, D1, "pm.demo", "yang.fan",
                ("yang.fan", "zhu.lin", "engineer.demo"),
                "鲜丰零售 POS 收银系统更换 / FreshHarvest POS replacement", "zh", -230, 65),
    PastProject("h_pj_oa", "pujiang", IMPLEMENTATION, D2, "zhao.li", "gao.yuan",
                ("gao.yuan", "guo.peng", "liang.chen"),
                "浦江区协同办公平台 / Pujiang office collaboration platform", "zh", -190, 85),
    PastProject("h_sc_backup", "hospital", OUTSOURCING, MS, "huang.wei", "feng.kai",
                ("feng.kai", "deng.hui", "support.demo"),
                "申城一院备份系统改造 / Shencheng Hospital backup overhaul", "zh", -150, 40),
)  # fmt: skip

TASK_TITLES = (
    ("需求调研", "Requirements workshop"), ("方案设计", "Solution design"), ("环境准备", "Environment set-up"),
    ("配置开发", "Configuration"), ("接口开发", "Interface build"), ("数据迁移", "Data migration"),
    ("单元测试", "Unit testing"), ("集成测试", "Integration testing"), ("用户培训", "User training"),
    ("上线切换", "Cutover"), ("文档编写", "Documentation"), ("问题修复", "Defect fixing"),
)  # fmt: skip
ADDED_TITLES = (("新增需求", "Added requirement"), ("变更实施", "Change implementation"))


@dataclass
class PastTask:
    title: str
    created: dt.date
    start: dt.date
    due: dt.date
    finished: dt.date | None  # None: cancelled on `cancelled`
    cancelled: dt.date | None
    estimate: int


@dataclass
class PastPlan:
    project: PastProject
    start: dt.date
    due: dt.date
    end: dt.date
    tasks: list[PastTask]


def simulate(project: PastProject, index: int, seed: int, today: dt.date, scale: float) -> PastPlan:
    """One finished project's weeks, from its own seed (the same demo gets the same past)."""
    rng = np.random.default_rng([seed, index])
    initial = max(12, round(project.tasks * max(scale, 0.3)))
    planned_weeks = int(rng.integers(10, 22))
    expected = initial / planned_weeks  # the pace the plan assumed
    pace = expected * float(rng.uniform(0.7, 1.15))  # the team's real pace: plans are a little hopeful
    growth = pace * float(rng.uniform(0.0, 0.2))  # tasks added a week while the plan runs
    burst = (int(rng.integers(planned_weeks // 3, 2 * planned_weeks // 3 + 1)),
             round(initial * float(rng.uniform(0.1, 0.3)))) if rng.random() < 0.4 else None  # fmt: skip
    slow = (int(rng.integers(2, planned_weeks)), int(rng.integers(2, 6))) if rng.random() < 0.35 else None
    # week by week: what was added, what was finished (oldest first)
    open_tasks: list[tuple[int, int]] = [(0, i) for i in range(initial)]  # (week created, title index)
    made: list[tuple[int, int, int | None]] = []  # week created, title index, week finished
    week = 0
    while open_tasks or week == 0:
        if week > 0 and week < planned_weeks:
            added = int(rng.poisson(growth))
            if burst and week == burst[0]:
                added += burst[1]
            open_tasks += [(week, -1)] * added
        rate = pace * (0.4 if slow and slow[0] <= week < slow[0] + slow[1] else 1.0)
        # weeks vary: a gamma-mixed Poisson (more spread than Poisson alone)
        finished = int(rng.poisson(rng.gamma(3.0, rate / 3.0))) if rate > 0 else 0
        for created, title in open_tasks[:finished]:
            made.append((created, title, week))
        open_tasks = open_tasks[finished:]
        week += 1
        if week > 150:  # never: the pace is positive
            break
    weeks = week
    end = today + dt.timedelta(days=project.finished + int(rng.integers(-10, 10)))
    monday = end - dt.timedelta(days=end.weekday() + 7 * (weeks - 1))
    start = monday
    due = start + dt.timedelta(days=7 * planned_weeks - 3)  # a Friday
    tasks = []
    for n, (created_week, title, finished_week) in enumerate(made):
        pair = TASK_TITLES[n % len(TASK_TITLES)] if title >= 0 else ADDED_TITLES[n % len(ADDED_TITLES)]
        text = f"{pair[0] if project.language == 'zh' else pair[1]} {n + 1}"
        if created_week == 0:
            created = start - dt.timedelta(days=int(rng.integers(1, 10)))
            begin = start + dt.timedelta(days=round(7 * planned_weeks * 0.9 * n / max(1, initial)))
        else:
            created = start + dt.timedelta(days=7 * created_week + int(rng.integers(0, 5)))
            begin = created
        done_on = start + dt.timedelta(days=7 * (finished_week or 0) + int(rng.integers(0, 5)))
        done_on = max(done_on, created + dt.timedelta(days=1))
        cancelled = None
        if rng.random() < 0.03:
            cancelled, done_on = done_on, None
        tasks.append(
            PastTask(
                text, created, begin, begin + dt.timedelta(days=int(rng.integers(4, 15))),
                done_on, cancelled, int(rng.choice([4, 8, 8, 16, 16, 24, 32])),
            )
        )  # fmt: skip
    last = max(t.finished for t in tasks if t.finished is not None)
    return PastPlan(project, start, due, last, tasks)


def at(day: dt.date, zone: ZoneInfo, minutes: int) -> dt.datetime:
    """A moment of office hours on `day`, in UTC."""
    local = dt.datetime.combine(day, dt.time(9), zone) + dt.timedelta(minutes=minutes)
    return local.astimezone(dt.UTC)


def plans(seed: int, today: dt.date, scale: float) -> list[PastPlan]:
    return [simulate(p, i, seed, today, scale) for i, p in enumerate(PAST)]


def write(demo: Any, progress: Any) -> None:
    """Write the finished projects and their tasks (`demo`: the loading `Demo`, its session and people)."""
    zone = ZoneInfo("Asia/Shanghai")  # the demo company's (itpm.demo.ZONE)
    rng = np.random.default_rng([demo.seed, 99])
    for plan in plans(demo.seed, demo.time.today, demo.scale):
        project = plan.project
        records = demo._as(project.manager)
        created = at(plan.start - dt.timedelta(days=14), zone, int(rng.integers(0, 480)))
        closed = at(plan.end + dt.timedelta(days=int(rng.integers(2, 9))), zone, int(rng.integers(0, 480)))
        late = (plan.end - plan.due).days
        budget = int(rng.integers(8, 40)) * 100_000
        spent = round(budget * (1 + max(0, late) / 120) * float(rng.uniform(0.9, 1.05)), -2)
        demo.clock.now = created
        data = {
            "name": project.name,
            "project_type": project.kind,
            "phase": "closing",
            "start_date": plan.start.isoformat(),
            "due_date": plan.due.isoformat(),
            **{
                name: (plan.start + (plan.due - plan.start) * share).isoformat() for name, share in PHASE_PLAN
            },
            "description": project.name,
            "manager": demo.actors[project.manager].id,
            "technical_lead": demo.actors[project.lead].id,
            "team": [demo.actors[u].id for u in project.team],
            "contract_value": round(budget * 1.2, -3),
            "budget_plan": budget,
            "budget_spent": spent,
            "budget_forecast": spent,
            "progress": 100,
            # as the manager last reported it: over budget or a month late is off track
            "health": "red" if late > 30 or spent > budget * 1.05 else "amber" if late > 7 else "green",
        }
        system = {
            "client": demo.customers[project.client].id,
            "owner": demo.actors[project.manager].id,
            "assignee": demo.actors[project.lead].id,
            "department": demo.departments[project.department],
        }
        imported = {"created_at": created, "updated_at": closed, "state": "closed", "state_at": closed}
        (row,) = _made(records.create_many("project", [(data, system, imported)]))
        rows = []
        for task in plan.tasks:
            moment = at(task.created, zone, int(rng.integers(0, 480)))
            end = task.finished or task.cancelled
            assert end is not None
            ended = max(at(end, zone, int(rng.integers(0, 480))), moment + dt.timedelta(hours=1))
            rows.append(
                (
                    {
                        "title": task.title,
                        "project": row.id,
                        "start_date": task.start.isoformat(),
                        "due_date": task.due.isoformat(),
                        "estimate_hours": task.estimate,
                        "progress": 100 if task.finished else 0,
                        "actual_hours": round(task.estimate * float(rng.uniform(0.8, 1.4)), 1)
                        if task.finished
                        else 0,
                    },
                    {"owner": demo.actors[project.manager].id, "assignee": demo.actors[project.team[0]].id},
                    {
                        "created_at": moment,
                        "updated_at": ended,
                        "state": "done" if task.finished else "cancelled",
                        "state_at": ended,
                    },
                )
            )
        _made(records.create_many("task", rows))
        demo.session.flush()
        demo.session.expunge_all()
        progress(1)
    demo.clock.now = demo.now


def keep_forecasts(demo: Any) -> int:
    """Keep the finished projects' forecasts as the replay makes them (as of each week of their past, from
    what was known that week), marked replayed: the demo kept none at the time, and a project's page
    shows how often its type's P85 dates were met. And issue today's forecasts of the open projects, as
    the nightly run does, so the dashboards' forecast tiles have them from the start (their flags' events
    are in the demo's handled history, as everything it writes)."""
    records = Records(
        demo.session, demo.runtime.catalog(), Actor.system(), clock=lambda: demo.now,
        timezone=demo.runtime.settings.timezone,
    )  # fmt: skip
    kept = keep_replayed(records, demo.now)
    return kept + sum(issue(records, demo.now).values())


def _made(outcomes: list[Any]) -> list[Any]:
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            problems = "; ".join(f"{p.path}: {p.message}" for p in getattr(outcome, "problems", ()))
            raise RuntimeError(f"demo history: {outcome} {problems}")
    return outcomes

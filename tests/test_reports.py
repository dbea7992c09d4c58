"""PDF reports: the two starter reports rendered on a project's data, read back from the PDF; who may
render and download them; stored versions; the command line."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from itpm.access import Actor
from itpm.cli import main
from itpm.models import AuditEntry, Department, Person, Team
from itpm.records.service import Forbidden, Invalid, NotFound, Records
from itpm.reports.definition import Source
from itpm.reports.service import render_report, store_report, stored_report, stored_reports
from itpm.reports.sources import _read
from itpm.workflows.engine import Workflows

NOW = dt.datetime(2026, 3, 20, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
SYSTEM = Actor.system()


@dataclass
class Demo:
    """A client's project with its work, tickets and changes, in one department."""

    project: int
    other_project: int
    customer: int
    other_customer: int
    department: int
    client_user: int
    pm: int


class Clock:
    """A clock the test moves, so records carry the dates a real project would have."""

    def __init__(self) -> None:
        self.now = NOW

    def at(self, day: str, hour: int = 2) -> Clock:
        self.now = dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)
        return self

    def __call__(self) -> dt.datetime:
        return self.now


def person(session: Any, username: str, first: str, last: str, **where: Any) -> Person:
    found = Person(
        username=username,
        first_name=first,
        last_name=last,
        email=f"{username}@itpm.invalid",
        active=True,
        **where,
    )
    session.add(found)
    session.flush()
    return found


def build_demo(runtime: Any) -> Demo:
    clock = Clock()
    with runtime.session() as session:
        delivery = Department(name="delivery_one", title_en="Delivery One", title_zh="交付一部")
        session.add(delivery)
        session.flush()
        network = Team(name="network", title_en="Network team", title_zh="网络组", department_id=delivery.id)
        apps = Team(name="apps", title_en="Application team", title_zh="应用组", department_id=delivery.id)
        session.add_all([network, apps])
        session.flush()
        pm = person(session, "wang_pm", "王", "经理", department_id=delivery.id)
        li = person(session, "li_eng", "李", "工程师", department_id=delivery.id, team_id=network.id)
        zhao = person(session, "zhao_eng", "赵", "开发", department_id=delivery.id, team_id=apps.id)
        records = Records(session, runtime.catalog(), SYSTEM, clock=clock)
        clock.at("2026-01-05")
        bank = records.create("customer", {"name": "华夏银行", "short_name": "华夏", "industry": "finance"})
        other = records.create("customer", {"name": "Northwind Retail", "industry": "retail"})
        client_user = person(session, "hx_client", "陈", "客户", client_id=bank.id)
        project = records.create(
            "project",
            {
                "name": "核心银行系统升级",
                "project_type": "implementation",
                "phase": "initiation",
                "start_date": "2026-01-05",
                "due_date": "2026-06-30",
                "progress": 45,
                "manager": pm.id,
                "health": "amber",
                "budget_plan": 1_000_000,
                "budget_spent": 1_120_000,
            },
            {"client": bank.id, "department": delivery.id},
        )
        clock.at("2026-01-20")
        project = records.update("project", project.id, {"phase": "planning"}, project.version)
        clock.at("2026-02-10")
        project = records.update("project", project.id, {"phase": "execution"}, project.version)
        elsewhere = records.create(
            "project",
            {
                "name": "Store network refresh",
                "project_type": "outsourcing",
                "phase": "planning",
                "start_date": "2026-02-01",
                "due_date": "2026-12-31",
            },
            {"client": other.id, "department": delivery.id},
        )
        tasks = [
            # title, start, due, progress, milestone, assignee, finished on (last update), depends on (index)
            ("需求调研 Requirements", "2026-01-06", "2026-01-31", 100, False, li, "2026-01-30", None),
            ("方案评审 Design sign-off", "2026-02-02", "2026-02-20", 100, True, zhao, "2026-02-25", 0),
            ("网络割接 Network cut-over", "2026-02-21", "2026-03-10", 60, False, li, None, 1),
            ("数据迁移 Data migration", "2026-03-01", "2026-04-15", 30, False, zhao, None, 1),
            ("用户验收 User acceptance", "2026-04-06", "2026-04-10", 0, True, zhao, None, 3),
            ("上线 Go-live", "2026-04-11", "2026-04-11", 0, True, li, None, 4),
        ]
        made: list[Any] = []
        for title, start, due, progress, milestone, assignee, finished, after in tasks:
            clock.at(finished or "2026-01-06")
            data = {
                "title": title,
                "project": project.id,
                "start_date": start,
                "due_date": due,
                "progress": progress,
                "milestone": milestone,
                "estimate_hours": 40,
                "priority": "high",
            }
            if after is not None:
                data["depends_on"] = [made[after].id]
            made.append(records.create("task", data, {"assignee": assignee.id}))
        incidents = [
            ("VPN 中断", "P1", "2026-01-12T09:00:00+08:00", "2026-01-12T11:00:00+08:00"),
            ("Core switch flapping", "P2", "2026-02-03T10:00:00+08:00", "2026-02-04T10:00:00+08:00"),
            ("报表服务缓慢", "P3", "2026-03-02T09:00:00+08:00", "2026-03-02T15:00:00+08:00"),
            ("登录失败 Login failures", "P2", "2026-03-18T08:00:00+08:00", None),
        ]
        for title, priority, occurred, resolved in incidents:
            clock.at(occurred[:10])
            data = {"title": title, "priority": priority, "category": "network", "project": project.id}
            data["occurred_at"] = occurred
            if resolved:
                data.update(resolved_at=resolved, root_cause="配置错误", resolution="已修复")
            records.create("incident", data)
        clock.at("2026-03-05")
        records.create(
            "change_request",
            {
                "title": "增加移动银行接口 Add mobile banking API",
                "project": project.id,
                "impact": "high",
                "urgency": "normal",
                "schedule_impact_days": 10,
                "cost_impact": 80_000,
                "rollback_plan": "切回旧接口",
            },
        )
        workflows = Workflows(records)
        for name, due, delivered, for_client, accepted in (
            ("需求规格说明书 Requirements specification", "2026-01-31", "2026-01-30", True, True),
            ("上线方案 Go-live plan", "2026-04-01", None, True, False),
            ("内部测试记录 Internal test log", "2026-03-15", None, False, False),
        ):
            data = {"name": name, "project": project.id, "due_date": due, "client_visible": for_client}
            deliverable = records.create(
                "deliverable", {**data, **({"delivered_on": delivered} if delivered else {})}
            )
            if accepted:
                workflows.take("deliverable", deliverable.id, "submit")
                workflows.take("deliverable", deliverable.id, "accept")
        for title, impact, closed in (
            ("核心人员流失 Key engineer leaves", "high", False),
            ("机房搬迁 Data centre move", "medium", True),
        ):
            risk = records.create(
                "risk",
                {
                    "title": title,
                    "project": project.id,
                    "probability": "medium",
                    "impact": impact,
                    "mitigation": "安排 AB 角 Pair a backup",
                    "review_date": "2026-03-31",
                },
                {"owner": pm.id},
            )
            if closed:
                workflows.take("risk", risk.id, "close")
        for day, satisfaction, nps in (("2026-02-27", 4, 9), ("2026-03-13", 2, 5)):
            clock.at(day)
            records.create(
                "client_feedback", {"project": project.id, "satisfaction": satisfaction, "nps": nps}
            )
        session.commit()
        return Demo(project.id, elsewhere.id, bank.id, other.id, delivery.id, client_user.id, pm.id)


@pytest.fixture
def demo(runtime: Any) -> Demo:
    return build_demo(runtime)


@pytest.fixture
def admin_records(runtime: Any) -> Iterator[Records]:
    with runtime.session() as session:
        yield Records(session, runtime.catalog(), SYSTEM)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def pages_as_png(pdf: bytes, folder: Path, name: str) -> list[Path]:
    """The pages as PNG images (what a person looks at), via poppler's pdftoppm."""
    source = folder / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(source), str(folder / name)], check=True)
    return sorted(folder.glob(f"{name}-*.png"))


def test_the_client_status_report_reads_in_chinese(
    admin_records: Records, demo: Demo, tmp_path: Path
) -> None:
    rendered = render_report(
        admin_records, "client_status", {"project": demo.project, "month": "2026-03"}, "zh", now=NOW
    )
    text = pdf_text(rendered.pdf)
    for expected in (
        "客户项目状态报告",
        "核心银行系统升级",
        "华夏银行",
        "报告期间: 2026-03",
        "里程碑与交付物",
        "方案评审 Design sign-off",
        "下一步计划",
        "数据迁移 Data migration",
        "风险与问题",
        "逾期任务: 网络割接 Network cut-over",
        "需求规格说明书 Requirements specification",
        "已验收",
        "上线方案 Go-live plan",
        "核心人员流失 Key engineer leaves",
        "王 经理",
        "近 6 个月平均满意度",
        "3.0",
        "近 6 个月净推荐值(NPS)",
        "增加移动银行接口",
        "服务水平(SLA)",
        "登录失败 Login failures",
        "附录:全部任务",
        "第 1 页,共",
    ):
        assert expected in text, expected
    assert "Store network refresh" not in text  # another client's project
    assert "Internal test log" not in text  # a deliverable not meant for the client
    assert "Data centre move" not in text  # a closed risk
    assert pages_as_png(rendered.pdf, tmp_path, "client_status_zh")
    assert "完工预测" in text  # the forecast section, as this project's history allows


def test_the_client_status_report_reads_in_english(admin_records: Records, demo: Demo) -> None:
    rendered = render_report(admin_records, "client_status", {"project": str(demo.project)}, "en", now=NOW)
    text = pdf_text(rendered.pdf)
    for expected in (
        "Client project status report",
        "Milestones and deliverables",
        "Next steps",
        "In preparation",
        "Net promoter score, last 6 months",
        "Page 1 of",
    ):
        assert expected in text, expected
    assert rendered.arguments == {"month": "2026-03", "project": demo.project}  # the current month by default


def test_the_client_status_report_words_the_forecast_for_the_client(
    admin_records: Records, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the forecast as the report's reader gets it, with flags the client reads about and flags they do not
    made = {
        "status": "ok", "as_of": "2026-03-20", "planned": "2026-05-29", "p50": "2026-06-05",
        "p85": "2026-07-10", "p95": "2026-07-31", "chance": 23, "weeks": 9, "runs": 10_000,
        "flags": ["p85_late", "cost_over", "critical_over_capacity", "spi_t_low", "risk_review_overdue"],
    }  # fmt: skip
    monkeypatch.setattr("itpm.reports.service.report_forecast", lambda *_args: made)
    for lang, expected in (
        ("en", ("Forecast finish", "23%", "Chance of finishing by the planned date (2026-05-29)",
                "2026-06-05 – 2026-07-10", "85% likely by 2026-07-10", "Points to watch",
                "The finish may come later than the planned date.", "Work is moving more slowly than planned.",
                "over the last 9 weeks, played forward 10,000 times")),
        ("zh", ("完工预测", "23%", "按计划日期(2026-05-29)完成的可能性", "2026-06-05 至 2026-07-10",
                "有 85% 的把握在 2026-07-10 前完成", "完工时间可能晚于计划日期。", "工作进展慢于计划。")),
    ):  # fmt: skip
        rendered = render_report(admin_records, "client_status", {"project": demo.project}, lang, now=NOW)
        text = " ".join(pdf_text(rendered.pdf).split())
        for words in expected:
            assert words in text, words
        # no internal flag code, and no flag the report does not word for the client
        for inside in ("p85_late", "cost_over", "budget", "capacity", "critical path", "review date"):
            assert inside not in text.lower(), inside
    made |= {"chance": 1, "flags": []}
    text = pdf_text(
        render_report(admin_records, "client_status", {"project": demo.project}, "en", now=NOW).pdf
    )
    assert "under 1%" in text and "Points to watch" not in text  # never 0%
    made |= {"status": "not_enough_history", "chance": None, "p50": None, "p85": None}
    text = pdf_text(
        render_report(admin_records, "client_status", {"project": demo.project}, "en", now=NOW).pdf
    )
    assert "Not enough work has been finished yet" in " ".join(text.split())


def test_the_monthly_health_report_covers_the_department(admin_records: Records, demo: Demo) -> None:
    rendered = render_report(
        admin_records, "department_health", {"department": demo.department, "month": "2026-03"}, "zh", now=NOW
    )
    text = pdf_text(rendered.pdf)
    for expected in (
        "月度项目健康度报告",
        "交付一部",
        "按时交付率",
        "各团队延期情况",
        "网络组",
        "预算消耗",
        "112%",
        "延期最多的任务",
        "各阶段与计划对比",
        "执行",
        "Store network refresh",
    ):
        assert expected in text, expected


def test_a_client_cannot_render_a_report_on_another_clients_project(runtime: Any, demo: Demo) -> None:
    stranger = Actor(demo.client_user, "hx_client", frozenset({"client"}), client_id=demo.customer)
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), stranger)
        with pytest.raises(NotFound):
            render_report(records, "client_status", {"project": demo.other_project}, "en", now=NOW)


def test_a_client_sees_their_own_report_without_internal_fields(runtime: Any, demo: Demo) -> None:
    client = Actor(demo.client_user, "hx_client", frozenset({"client"}), client_id=demo.customer)
    with runtime.session() as session:
        rendered = render_report(
            Records(session, runtime.catalog(), client),
            "client_status",
            {"project": demo.project},
            "en",
            now=NOW,
        )
    text = pdf_text(rendered.pdf)
    assert "核心银行系统升级" in text
    assert "Store network refresh" not in text
    assert "Go-live plan" in text and "Internal test log" not in text
    assert "Key engineer leaves" not in text  # the risk register is the company's: clients do not read it


def test_a_stored_report_is_a_new_version_on_its_project_with_who_asked(
    runtime: Any, demo: Demo, tmp_path: Path
) -> None:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), SYSTEM)
        for _ in range(2):
            rendered = render_report(records, "client_status", {"project": demo.project}, "zh", now=NOW)
            stored = store_report(records, rendered, tmp_path)
        session.commit()
        assert stored.filename == f"client_status-2026-03-{demo.project}-zh-v2.pdf"
        assert (stored.record_type, stored.record_id, stored.uploaded_by) == (
            "project",
            demo.project,
            "system",
        )
        kept = stored_reports(records, rendered.subject)
        assert [f.filename.rsplit("-", 1)[-1] for f in kept] == ["v2.pdf", "v1.pdf"]
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "report.render").order_by(AuditEntry.id)
        ).all()
        assert [a.detail["version"] for a in audit] == [1, 2]


def test_a_client_cannot_download_another_clients_report(runtime: Any, demo: Demo, tmp_path: Path) -> None:
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), SYSTEM)
        rendered = render_report(records, "client_status", {"project": demo.other_project}, "en", now=NOW)
        stored = store_report(records, rendered, tmp_path)
        session.commit()
        stranger = Records(
            session,
            runtime.catalog(),
            Actor(demo.client_user, "hx_client", frozenset({"client"}), client_id=demo.customer),
        )
        with pytest.raises(NotFound):
            stored_report(stranger, stored.id)
        assert stored_report(records, stored.id).id == stored.id


def test_bad_parameters_are_named(admin_records: Records, demo: Demo) -> None:
    with pytest.raises(Invalid) as refused:
        render_report(admin_records, "client_status", {"month": "March", "colour": "red"}, "en", now=NOW)
    problems = {p.path: str(p.message) for p in refused.value.problems}
    assert problems == {
        "/parameters/colour": "is not a parameter of this report",
        "/parameters/month": "must be a month (YYYY-MM)",
        "/parameters/project": "is required",
    }


def test_the_command_line_renders_a_report_to_a_file(
    app: Any, demo: Demo, tmp_path: Path, monkeypatch: Any
) -> None:
    settings = app.extensions["itpm"].settings
    monkeypatch.setenv("ITPM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ITPM_INSTANCE_PATH", str(tmp_path))
    out = tmp_path / "status.pdf"
    result = CliRunner().invoke(
        main,
        ["report", "render", "client_status", "--param", f"project={demo.project}", "--param", "month=2026-03",
         "--lang", "en", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Client project status report" in pdf_text(out.read_bytes())
    refused = CliRunner().invoke(
        main, ["report", "render", "client_status", "--param", "project", "--out", str(out)]
    )
    assert refused.exit_code != 0 and "KEY=VALUE" in refused.output


@pytest.mark.parametrize(
    "body",
    [
        {"record_type": "project", "where": {"health": "health"}},
        {"record_type": "project", "order": ["-health"]},
    ],
    ids=["where", "order"],
)
def test_a_report_source_cannot_pick_rows_by_a_field_hidden_from_its_reader(
    runtime: Any, demo: Demo, body: dict[str, Any]
) -> None:
    """A parameter on a hidden field would tell a client, one value at a time, which projects hold it."""
    source = Source("projects", body)
    client = Actor(demo.client_user, "hx_client", frozenset({"client"}), client_id=demo.customer)
    with runtime.session() as session:
        records = Records(session, runtime.catalog(), client)
        assert "health" in records.access.hidden_fields(client, records.spec("project"))
        with pytest.raises(Forbidden, match="health"):
            _read(records, source, {"health": "red"})
        admin = Records(session, runtime.catalog(), Actor.system())
        assert _read(admin, source, {"health": "red"}) is not None

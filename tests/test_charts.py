"""Server-side SVG charts: pure functions of numbers, dates and labels, safe to put in any page."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from itpm.charts import Bar, burndown, compliance, progress, timeline, trend

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def texts(markup: str) -> list[str]:
    return [t.text or "" for t in parsed(markup).iter(f"{SVG}text")]


def test_progress_shows_work_done_against_time_elapsed_in_the_given_language() -> None:
    chart = progress(40, 70, {"title": "进度", "done": "工作完成", "elapsed": "时间进度"})
    assert texts(chart) == ["工作完成", "40%", "时间进度", "70%"]
    assert parsed(chart).get("aria-label") == "进度"
    assert "#c0392b" in chart  # behind schedule shows red


def test_labels_are_escaped_not_markup() -> None:
    chart = timeline([Bar(1, '<script>alert("x")</script>', dt.date(2026, 1, 1), dt.date(2026, 1, 9))])
    assert "<script>" not in chart
    assert any("<script>" in t for t in texts(chart))


def test_a_burndown_draws_the_plan_and_what_happened() -> None:
    day = dt.date(2026, 1, 1)
    planned = [(day + dt.timedelta(days=7 * i), 100 - 25 * i) for i in range(5)]
    actual = [(day, 100), (day + dt.timedelta(days=14), 80)]
    chart = burndown(planned, actual, today=day + dt.timedelta(days=14))
    lines = parsed(chart).findall(f"{SVG}polyline")
    assert [len(p.get("points").split()) for p in lines] == [5, 2]
    assert "Today" in texts(chart)


def test_a_timeline_draws_milestones_and_dependency_arrows() -> None:
    bars = [
        Bar(1, "设计", dt.date(2026, 1, 1), dt.date(2026, 1, 20), progress=100),
        Bar(2, "评审", dt.date(2026, 1, 21), dt.date(2026, 1, 21), milestone=True, depends_on=(1,)),
        Bar(
            3, "Build", dt.date(2026, 1, 22), dt.date(2026, 3, 1), progress=30, late=True, depends_on=(2, 99)
        ),
    ]
    chart = parsed(timeline(bars, today=dt.date(2026, 2, 1)))
    assert len(chart.findall(f"{SVG}path")) == 2  # an unknown predecessor (99) draws nothing
    assert any(p.get("points").count(",") == 4 for p in chart.findall(f"{SVG}polygon"))  # the diamond


def test_compliance_marks_months_below_target_and_leaves_gaps_for_months_without_data() -> None:
    chart = compliance([("2026-01", 100.0, 4), ("2026-02", None, 0), ("2026-03", 50.0, 2)], target=95)
    fills = [r.get("fill") for r in parsed(chart).findall(f"{SVG}rect")]
    assert fills == ["#2e8b57", "#c0392b"]
    assert "n=0" in texts(chart) and "Target 95%" in texts(chart)


def test_a_trend_breaks_its_line_where_a_month_has_no_answers() -> None:
    chart = trend([("1月", 4.2, 5), ("2月", 4.5, 3), ("3月", None, 0), ("4月", 3.9, 6), ("5月", 4.1, 2)])
    assert [len(p.get("points").split()) for p in parsed(chart).findall(f"{SVG}polyline")] == [2, 2]


def test_a_chart_with_nothing_to_show_says_so() -> None:
    assert texts(compliance([], labels={"empty": "本月没有事件"})) == ["本月没有事件"]
    assert texts(timeline([])) == ["No dated tasks"]


def test_the_calibration_chart_puts_an_honest_forecast_on_the_diagonal() -> None:
    import re

    from itpm.charts.calibration import calibration

    svg = str(
        calibration(
            [
                ("replayed", 183, {50: 0.5, 85: 0.85, 95: 0.95}),
                ("overconfident <kind>", 20, {50: 0.3, 85: 0.6, 95: None}),
            ]
        )
    )
    points = {
        title: (float(cx), float(cy))
        for cx, cy, title in re.findall(
            r'<circle cx="([\d.]+)" cy="([\d.]+)"[^>]*><title>([^<]+)</title>', svg
        )
    }
    honest = points["replayed: P85 met 85% (n = 183)"]
    low, high = points["replayed: P50 met 50% (n = 183)"], points["replayed: P95 met 95% (n = 183)"]
    slope = (high[1] - low[1]) / (high[0] - low[0])
    assert abs(low[1] + slope * (honest[0] - low[0]) - honest[1]) < 0.5  # the three on one line: y = x
    early = points["overconfident &lt;kind&gt;: P85 met 60% (n = 20)"]
    assert early[0] == honest[0] and early[1] > honest[1]  # below the diagonal (SVG's y grows downwards)
    assert "P95 met" not in svg.split("overconfident")[1]  # a percentile without dates is not drawn
    assert "No finished project" in str(calibration([("kept", 0, {50: None})]))

"""Dashboards: the tiles of a `dashboard` definition, measured for the reader and ready to show.

A tile is a number (with the period before and the target), a trend by month,
bars by a breakdown, or a table of the worst groups. Each figure, bar and row
carries the link to exactly its records (made by `link`, which the web layer
gives: this module builds no URLs) and an explanation in the reader's language.
Tiles over a KPI the reader may not read are left out; a dashboard left with
none is not theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from itpm.charts.kpi import Bar, bars, columns
from itpm.kpis.explain import explain, shown, title
from itpm.kpis.measure import Answer, may_read, readable
from itpm.kpis.service import ask_many
from itpm.kpis.spec import Figure, Kpi, months_back
from itpm.records.service import RecordError, Records

#: link(kpi name, filters, period label) -> the URL of the records behind a figure.
Link = Callable[[str, dict[str, Any], str], str]
EMPTY = {"en": "No records in this period", "zh": "统计期内没有记录"}
FEW_LEGEND = {"en": "Grey: fewer than 5 records, too few to say.", "zh": "灰色:少于 5 条记录,样本太少。"}
SHOWS = {"number": 3, "trend": 6, "bars": 6, "worst": 6}


@dataclass
class Tile:
    kpi: str
    show: str
    title: str
    period: str
    value: str = ""
    n: int = 0
    too_few: bool = False
    misses: bool = False
    before: str | None = None
    better: bool | None = None
    link: str = ""
    chart: Markup | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    explain: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    #: Under a chart with grey bars: what grey means.
    legend: str = ""


def readable_dashboards(records: Records) -> list[dict[str, Any]]:
    """The dashboards with at least one tile the reader may read, in menu order."""
    found = []
    for document in records.catalog.configuration.of_kind("dashboard"):
        kpis = [
            records.catalog.configuration.get("kpi", t["kpi"]) for t in document.body["tiles"] if "kpi" in t
        ]
        forecasts = any(t["show"] == "forecasts" for t in document.body["tiles"]) and bool(
            forecast_types(records)
        )
        if forecasts or any(k is not None and may_read(records, Kpi(k.body)) for k in kpis):
            found.append(document.body)
    return sorted(found, key=lambda b: (b.get("order", 500), b["name"]))


def home_dashboard(records: Records) -> dict[str, Any] | None:
    """The first dashboard that is the home of one of the reader's roles (else None)."""
    roles = records.actor.roles
    return next((b for b in readable_dashboards(records) if roles & set(b.get("home_for", ()))), None)


def misses(kpi: Kpi, value: float | None) -> bool:
    if value is None or kpi.target is None:
        return False
    return value < kpi.target if kpi.good_when_higher else value > kpi.target


def tiles(records: Records, body: dict[str, Any], lang: str, link: Link) -> list[Tile]:
    """The dashboard's tiles measured for the reader (tiles over KPIs they may not read left out).

    The questions of all tiles over one KPI (a number and its period before, a trend, bars) are asked
    together, so they are measured in one query per breakdown (`itpm.kpis.service.ask_many`)."""
    planned: list[tuple[Tile, Kpi | None, dict[str, Any]]] = []
    questions: dict[str, list[tuple[str | None, int, str | None]]] = {}
    today = records.clock().astimezone(records.zone).date()
    for spec in body["tiles"]:
        if spec["show"] == "forecasts":
            if forecast_types(records):
                planned.append((forecasts_tile(records, spec, lang), None, spec))
            continue
        document = records.catalog.configuration.get("kpi", spec["kpi"])
        if document is None or not may_read(records, Kpi(document.body)):
            continue
        kpi = Kpi(document.body)
        show = spec["show"]
        months = spec.get("months", SHOWS[show])
        breakdown = spec.get("breakdown") or ("month" if show == "trend" else None)
        tile = Tile(kpi.name, show, title(spec, lang) if "title" in spec else title(kpi.body, lang), "")
        planned.append((tile, kpi, spec))
        asked = questions.setdefault(kpi.name, [])
        asked.append((None, months, breakdown))
        if show == "number":
            asked.append((_before(today, months), 1, None))
    answers: dict[str, dict[tuple[str | None, int, str | None], Answer] | RecordError] = {}
    for name, asked in questions.items():
        unique = list(dict.fromkeys(asked))
        try:
            answers[name] = dict(zip(unique, ask_many(records, name, unique), strict=True))
        except RecordError as error:
            answers[name] = error
    found = []
    for tile, kpi, spec in planned:
        if kpi is None:
            found.append(tile)
            continue
        months = spec.get("months", SHOWS[tile.show])
        breakdown = spec.get("breakdown") or ("month" if tile.show == "trend" else None)
        mine = answers[kpi.name]
        if isinstance(mine, RecordError):
            tile.error = str(mine.message)
        else:
            earlier = mine.get((_before(today, months), 1, None)) if tile.show == "number" else None
            _fill(records, tile, kpi, mine[(None, months, breakdown)], earlier, lang, link)
        found.append(tile)
    return found


def client_tiles(records: Records, lang: str, months: int = 6) -> list[Tile]:
    """The client portal's figures: each client-facing KPI the reader may read (a client user's: over their
    organisation's records), over the last `months` with its trend by month. No links: the records behind
    a figure are staff pages. One the reader may not measure is left out, not an error on their home page."""
    body = {
        "tiles": [
            {"kpi": k.name, "show": "trend", "months": months} for k in readable(records) if k.client_facing
        ]
    }
    return [t for t in tiles(records, body, lang, lambda _kpi, _filters, _period: "") if t.error is None]


def _before(today: Any, months: int) -> str:
    """The `months` before the last `months` up to today's: a number tile's period before."""
    first, _last = months_back(today, months)
    start = int(first[:4]) * 12 + int(first[5:7]) - 1
    before_first = f"{(start - months) // 12:04d}-{(start - months) % 12 + 1:02d}"
    before_last = f"{(start - 1) // 12:04d}-{(start - 1) % 12 + 1:02d}"
    return f"{before_first}..{before_last}"


def _fill(
    records: Records, tile: Tile, kpi: Kpi, answer: Answer, before: Answer | None, lang: str, link: Link
) -> None:
    total = answer.total
    tile.period, tile.n, tile.too_few = answer.period.label, total.n, bool(kpi.is_rate and total.too_few)
    tile.value = _text(total, kpi, lang)
    tile.misses = misses(kpi, total.value) and not tile.too_few
    tile.link = link(kpi.name, {}, answer.period.label)
    tile.explain = explain(records.catalog, kpi, answer, lang)
    if tile.show == "number":
        if before is None:
            return
        earlier = before.total
        if earlier.value is not None and total.value is not None and not (kpi.is_rate and earlier.too_few):
            tile.before = _text(earlier, kpi, lang)
            if earlier.value != total.value:
                tile.better = (total.value > earlier.value) == kpi.good_when_higher
        return
    groups = answer.groups
    chart_bars = [
        Bar(
            g.label,
            g.value,
            _text(g, kpi, lang),
            g.n,
            link(kpi.name, {answer.breakdown: g.key}, answer.period.label)
            if g.key is not None and g.n
            else None,
            misses(kpi, g.value),
            bool(kpi.is_rate and g.too_few),
        )
        for g in groups
    ]
    target = kpi.target
    if any(b.few and b.value is not None for b in chart_bars):
        tile.legend = FEW_LEGEND[lang]
    if tile.show == "trend":
        tile.chart = columns(chart_bars, tile.title, EMPTY[lang], target=target)
    elif tile.show == "bars":
        ranked = sorted((b for b in chart_bars if b.value is not None), key=lambda b: -(b.value or 0))[:12]
        tile.chart = bars(ranked, tile.title, EMPTY[lang], target=target)
    else:
        worst = sorted(
            (b for b in chart_bars if b.value is not None and not b.few),
            key=lambda b: (b.value or 0) * (1 if kpi.good_when_higher else -1),
        )[:8]
        tile.rows = [
            {"label": b.label, "value": b.shown, "n": b.n, "link": b.link, "misses": b.misses} for b in worst
        ]


FORECASTS_TITLE = {"en": "Projects by their chance of finishing on time", "zh": "项目按期完成的概率"}
FORECASTS_EMPTY = {
    "en": "No forecast kept yet (the scheduler issues them nightly; `itpm forecast run` now)",
    "zh": "尚无保存的预测(调度器每晚生成;也可运行 itpm forecast run)",
}


def forecast_types(records: Records) -> list[str]:
    """The project types whose forecasts the reader may see: those they read with no field hidden from them
    (a kept forecast is made from every field of the project and its tasks, as the installation sees them)."""
    from itpm.forecast.service import forecast_types as types

    access, actor = records.access, records.actor
    return [
        t
        for t in types(records.catalog)
        if access.can(actor, records.spec(t), "read") and not access.hidden_fields(actor, records.spec(t))
    ]


def forecasts_tile(records: Records, spec: dict[str, Any], lang: str, most: int = 10) -> Tile:
    """The reader's open projects with a kept forecast, least likely to finish on time first: the chance of
    meeting the planned finish and the P85 date, as the latest nightly forecast said (`itpm.forecast`)."""
    from sqlalchemy import func, select

    from itpm.models import IssuedForecast

    tile = Tile("", "forecasts", title(spec, lang) if "title" in spec else FORECASTS_TITLE[lang], "")
    rows = []
    for type_name in forecast_types(records):
        model = records.model(type_name)
        workflow = records.catalog.workflows.get(type_name)
        final = workflow.final_states if workflow else frozenset()
        latest = (
            select(IssuedForecast.project_id, func.max(IssuedForecast.as_of).label("as_of"))
            .where(IssuedForecast.project_type == type_name)
            .group_by(IssuedForecast.project_id)
            .subquery()
        )
        query = (
            select(model, IssuedForecast)
            .join(latest, latest.c.project_id == model.id)
            .join(
                IssuedForecast,
                (IssuedForecast.project_type == type_name)
                & (IssuedForecast.project_id == model.id)
                & (IssuedForecast.as_of == latest.c.as_of),
            )
            .where(
                records.scope(type_name, "read"),
                IssuedForecast.status == "ok",
                model.state.not_in(final or {""}),
            )
        )
        for project, kept in records.session.execute(query):
            if not (kept.inputs or {}).get(
                "replayed"
            ):  # a finished project's past, replayed for the track record
                rows.append((type_name, project, kept))
    rows.sort(key=lambda r: (r[2].on_time if r[2].on_time is not None else 2.0, r[1].id))
    tile.n = len(rows)
    for type_name, project, kept in rows[:most]:
        chance = kept.on_time
        tile.rows.append(
            {
                "label": str(project),
                "link": f"/records/{type_name}/show/{project.id}",
                "value": _chance(chance, lang),
                "p85": kept.p85.isoformat() if kept.p85 else "-",
                "planned": kept.planned.isoformat() if kept.planned else "-",
                "misses": chance is not None and chance < 0.5,
                "as_of": kept.as_of.isoformat(),
            }
        )
    if not rows:
        tile.error = FORECASTS_EMPTY[lang]
    return tile


def _chance(on_time: float | None, lang: str) -> str:
    """Never "0%" nor "100%": the runs prove neither (as the project page says it)."""
    from itpm.forecast.simulation import CEILING, FLOOR

    if on_time is None:
        return "-"
    if on_time <= FLOOR:
        return "低于 1%" if lang == "zh" else "under 1%"
    if on_time >= CEILING:
        return "高于 99%" if lang == "zh" else "over 99%"
    return f"{100 * on_time:.0f}%"


def _text(figure: Figure, kpi: Kpi, lang: str) -> str:
    if kpi.is_rate and figure.too_few and figure.n:
        return "样本太少" if lang == "zh" else "too few to say"
    return shown(figure.value, kpi.unit, lang)

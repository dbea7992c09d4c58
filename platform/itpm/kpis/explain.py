"""What a KPI's figure means, in the reader's language: formula, records counted, period, calendar, n.

Pure: from the KPI definition, its answer and the names of the catalog; the
tile's "explain" and the API's `explain` both read this.
"""

from __future__ import annotations

from typing import Any

from itpm.catalog import Catalog
from itpm.kpis.measure import NOW, WALL, Answer
from itpm.kpis.spec import FEW, TOO_FEW, Figure, Kpi
from itpm.records.fields import SYSTEM_TITLES

WORDS = {
    "en": {
        "count": "the number of records counted",
        "share": "records meeting the numerator ÷ records counted × 100",
        "net": "(records meeting the numerator − records meeting `subtract`) ÷ records counted × 100",
        "average": "the average of {value} over the records counted",
        "median": "the median of {value} over the records counted",
        "p90": "the value 90 % of the records counted stay within: {value}",
        "sum": "the sum of {value} over the records counted",
        "duration": "the time from {start} to {end}",
        "sla": "the {clock} time the ticket's stored SLA outcome counted",
        "counted": "{type} records you may read whose {cohort} falls in the period",
        "where": "and that meet: {where}",
        "numerator": "numerator: {numerator}",
        "subtract": "subtracted: {subtract}",
        "wall": "wall-clock time (every hour counts)",
        "business": "business time of the SLA policy {name}",
        "sla_calendar": "business time of the incident's SLA policy (as its clocks counted)",
        "none": "—",
        "now": "now",
        "few": "Fewer than {few} records: the 90 % interval is {low:.0f}–{high:.0f} %.",
        "too_few": "Fewer than {too_few} records: too few to say.",
        "target": "Target: {target}{unit} ({direction}).",
        "up": "higher is better",
        "down": "lower is better",
    },
    "zh": {
        "count": "统计的记录数",
        "share": "满足分子条件的记录数 ÷ 统计的记录数 × 100",
        "net": "(满足分子条件的记录数 − 满足扣减条件的记录数)÷ 统计的记录数 × 100",
        "average": "统计记录的 {value} 平均值",
        "median": "统计记录的 {value} 中位数",
        "p90": "统计记录中 90% 不超过的 {value}",
        "sum": "统计记录的 {value} 合计",
        "duration": "从 {start} 到 {end} 的时长",
        "sla": "按工单保存的 SLA 结果计的{clock}用时",
        "counted": "您有权查看、{cohort}在统计期内的{type}记录",
        "where": "且满足:{where}",
        "numerator": "分子条件:{numerator}",
        "subtract": "扣减条件:{subtract}",
        "wall": "自然时间(每小时都计)",
        "business": "SLA 策略 {name} 的工作时间",
        "sla_calendar": "事件所属 SLA 策略的工作时间(与其时限计时一致)",
        "none": "—",
        "now": "当前时间",
        "few": "少于 {few} 条记录:90% 置信区间为 {low:.0f}–{high:.0f}%。",
        "too_few": "少于 {too_few} 条记录:样本太少,无法判断。",
        "target": "目标:{target}{unit}({direction})。",
        "up": "越高越好",
        "down": "越低越好",
    },
}
UNITS = {
    "en": {"%": "%", "hours": " h", "days": " d", "minutes": " min", "points": "", "currency": "", "": ""},
    "zh": {
        "%": "%",
        "hours": " 小时",
        "days": " 天",
        "minutes": " 分钟",
        "points": " 分",
        "currency": " 元",
        "": "",
    },
}
CLOCKS = {
    "en": {"first_response": "first response", "resolution": "resolution"},
    "zh": {"first_response": "首次响应", "resolution": "解决"},
}


def title(body: dict[str, Any], lang: str) -> str:
    text = body.get("title") or {}
    return text.get(lang) or text.get("en") or body.get("name", "")


def field_title(catalog: Catalog, type_name: str, name: str, lang: str) -> str:
    spec = catalog.record_types.get(type_name)
    if spec is not None and name in spec.fields:
        return spec.fields[name].title.get(lang) or name
    return SYSTEM_TITLES.get(name, {}).get(lang) or name


def shown(value: float | None, unit: str, lang: str) -> str:
    """A figure as it reads: 86.9%, 2.5 小时, 3.89."""
    if value is None:
        return WORDS[lang]["none"]
    whole = float(value).is_integer() and unit in ("", "currency")  # a count, a sum of whole numbers
    digits = 0 if whole or unit == "%" or abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:,.{digits}f}"
    return text + UNITS[lang].get(unit, "")


def explain(
    catalog: Catalog, kpi: Kpi, answer: Answer, lang: str, filters: dict[str, str] | None = None
) -> dict[str, Any]:
    """The formula, the records counted, the period, the calendar and n, as sentences in `lang`."""
    words = WORDS[lang]
    spec = catalog.record_types[kpi.record_type]
    type_title = spec.title.get(lang) if isinstance(spec.title, dict) else kpi.record_type
    value = kpi.value
    calendar = None
    if isinstance(value, str):
        value_text = field_title(catalog, kpi.record_type, value, lang) if value.isidentifier() else value
    elif isinstance(value, dict) and "from" in value:
        value_text = words["duration"].format(
            start=field_title(catalog, kpi.record_type, value["from"], lang),
            end=words["now"]
            if value["to"] == NOW
            else field_title(catalog, kpi.record_type, value["to"], lang),
        )
        sla = catalog.configuration.get("sla", value["calendar"])
        calendar = (
            words["wall"]
            if value["calendar"] == WALL
            else words["business"].format(name=title(sla.body, lang) if sla else value["calendar"])
        )
    elif isinstance(value, dict):
        value_text = words["sla"].format(clock=CLOCKS[lang][value["sla"]])
        calendar = words["sla_calendar"]
    else:
        value_text = ""
    measure = "net" if kpi.subtract else kpi.measure
    lines = [
        words["counted"].format(
            type=type_title, cohort=field_title(catalog, kpi.record_type, kpi.cohort, lang)
        )
    ]
    for key in ("where", "numerator", "subtract"):
        if kpi.body.get(key):
            lines.append(words[key].format(**{key: kpi.body[key]}))
    notes = _notes(answer.total, kpi, lang)
    return {
        "formula": words[measure].format(value=value_text),
        "counted": lines,
        "period": answer.period.label,
        "calendar": calendar,
        "filters": filters or {},
        "n": answer.total.n,
        "notes": notes,
        "description": (kpi.description or {}).get(lang, ""),
    }


def _notes(total: Figure, kpi: Kpi, lang: str) -> list[str]:
    words = WORDS[lang]
    notes = []
    if kpi.is_rate and total.too_few:
        notes.append(words["too_few"].format(too_few=TOO_FEW))
    elif total.interval is not None:
        notes.append(words["few"].format(few=FEW, low=total.interval[0], high=total.interval[1]))
    if kpi.target is not None:
        notes.append(
            words["target"].format(
                target=f"{kpi.target:g}",
                unit=UNITS[lang].get(kpi.unit, ""),
                direction=words["up" if kpi.good_when_higher else "down"],
            )
        )
    return notes

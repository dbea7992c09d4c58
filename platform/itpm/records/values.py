"""Field values between their JSON form (API, forms, history) and their stored form (columns).

Pure functions of a field's kind: dates are ISO strings in JSON and date
objects in columns, rich text is sanitised on the way in, and so on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import nh3
from markupsafe import Markup

from itpm.records.fields import DATE, DATETIME, INTEGER, NUMBER, RICHTEXT, FieldSpec

#: What rich text may keep: formatting, lists, links, tables; never scripts, styles or handlers.
RICH_TEXT_TAGS = {
    "p", "br", "b", "strong", "i", "em", "u", "s", "ul", "ol", "li", "a", "h3", "h4", "blockquote",
    "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def sanitise_html(html: str) -> str:
    return nh3.clean(
        html, tags=RICH_TEXT_TAGS, attributes={"a": {"href", "title"}}, link_rel="noopener noreferrer"
    )


def to_column(field: FieldSpec, value: Any) -> Any:
    """A valid JSON value as its column stores it."""
    if value is None or value == "":
        return None
    if field.kind == DATE:
        return dt.date.fromisoformat(value)
    if field.kind == DATETIME:
        return parse_datetime(value)
    if field.kind == RICHTEXT:
        return sanitise_html(value)
    return value


def to_json(field: FieldSpec, value: Any) -> Any:
    """A column's value in its JSON form."""
    if value is None:
        return None
    if field.kind == DATE and isinstance(value, dt.date):
        return value.isoformat()
    if field.kind == DATETIME and isinstance(value, dt.datetime):
        return format_datetime(value)
    if field.kind == INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    if field.kind == NUMBER and isinstance(value, int | float):
        return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)
    return value


def format_number(value: Any, widget: str | None = None) -> str:
    """A number as people read it, on a page or in a message: grouped (26,200), money as the form
    shows it (¥26,200.00), a percentage with its sign."""
    if value is None:
        return ""
    if widget == "money":
        return f"¥{value:,.2f}"
    if widget == "percent":
        return f"{value:g}%"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def rich_text_words(html: str) -> str:
    """Rich text as a cell holds it (an export's): its words, without markup."""
    return Markup(sanitise_html(html)).striptags()


def parse_datetime(value: str) -> dt.datetime:
    """An RFC 3339 date-time (with its offset) as an aware UTC datetime."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs its offset from UTC")
    return parsed.astimezone(dt.UTC)


def format_datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def nul_path(value: Any, path: list[Any]) -> list[Any] | None:
    """The path of the first string (value or key) in `value` that holds U+0000, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return [*path, key.replace("\x00", "?")]
            found = nul_path(item, [*path, key])
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, [*path, index])
            if found is not None:
                return found
    return None

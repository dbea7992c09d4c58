"""How an `integration` definition reads what it receives: values by JSON pointer, a field's
value from its mapping, an item's key. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from itpm.records.fields import CLIENT_TYPE, REF, RecordTypeSpec

#: Alertmanager's defaults: one firing of one alert, and what it shares with its later firings.
ALERT_KEY = ("/fingerprint", "/startsAt")
ALERT_GROUP = "/fingerprint"
#: The system fields a mapping may set besides the record type's own fields.
SYSTEM_TARGETS = {"client": CLIENT_TYPE}

MISSING = object()


def at(document: Any, path: str) -> Any:
    """The value at JSON pointer `path` in `document`, or MISSING."""
    value = document
    for raw in path.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def pointers(source: str | Sequence[str] | None) -> list[str]:
    if source is None:
        return []
    return [source] if isinstance(source, str) else list(source)


@dataclass
class Mapped:
    """A field's value read from an item, and the pointer it came from (for errors)."""

    value: Any
    source: str | None


def field_value(mapping: Mapping[str, Any], item: Any, choices: Sequence[Any] = ()) -> Mapped:
    """A field's value by its mapping: `value`; else the first of `from` that holds one (blank
    text holds none), through `values`; else (or when it is not among `choices`) `default`."""
    if "value" in mapping:
        return Mapped(mapping["value"], None)
    for path in pointers(mapping.get("from")):
        raw = at(item, path)
        if raw is MISSING or raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        values = mapping.get("values") or {}
        value = values.get(str(raw), raw) if isinstance(raw, str | int | float | bool) else raw
        if choices and value not in choices and "default" in mapping:
            return Mapped(mapping["default"], path)
        return Mapped(value, path)
    return Mapped(mapping.get("default"), pointers(mapping.get("from"))[0] if mapping.get("from") else None)


def item_key(item: Any, paths: Sequence[str]) -> str | None:
    """The key of an item: the values at `paths`, joined; None when one is missing."""
    parts = []
    for path in paths:
        value = at(item, path)
        if value is MISSING or value is None or value == "":
            return None
        parts.append(str(value))
    return "|".join(parts)


def reference_target(spec: RecordTypeSpec, name: str) -> str | None:
    """The record type a mapped field refers to (a single reference, or the client), else None."""
    if name in SYSTEM_TARGETS:
        return SYSTEM_TARGETS[name]
    field = spec.fields.get(name)
    return field.target if field is not None and field.kind == REF else None


def looked_up(body: Mapping[str, Any], spec: RecordTypeSpec) -> list[str]:
    """The record types an integration finds references in (its token reads them)."""
    found = {reference_target(spec, name) for name in body.get("fields", {})}
    return sorted(t for t in found if t)

"""What an integration does with what it receives: Alertmanager alerts and signed webhook bodies
become records, as its `integration` definition says, through the records service (as the
token's service person: the access layer applies) and with the history saying which
integration did it.

Each item is found again by its key (`IntegrationItem`, unique per integration): a retried,
repeated or late delivery finds the record the first one made instead of making another.
Two deliveries of a new key at once: the second one's insert of the key fails on the unique
constraint, its transaction is rolled back and the caller runs it again (`Duplicate`), when
the key is there. A row lock holds an existing key while a delivery works on it (PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _
from jsonschema import Draft202012Validator
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from itpm.definitions.problems import Problem, pointer, problems_from_errors
from itpm.integrations.mapping import (
    ALERT_GROUP,
    ALERT_KEY,
    MISSING,
    at,
    field_value,
    item_key,
    pointers,
    reference_target,
)
from itpm.models import IntegrationItem
from itpm.records.service import Invalid, NotFound, Records

#: Alertmanager's webhook body (version 4), as far as it is read here.
ALERTMANAGER_PAYLOAD = {
    "type": "object",
    "required": ["version", "status", "alerts"],
    "properties": {
        "version": {"const": "4"},
        "status": {"enum": ["firing", "resolved"]},
        "alerts": {
            "type": "array",
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["status", "labels", "startsAt", "fingerprint"],
                "properties": {
                    "status": {"enum": ["firing", "resolved"]},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                    "startsAt": {"type": "string", "format": "date-time"},
                    "endsAt": {"type": "string"},
                    "fingerprint": {"type": "string", "minLength": 1, "maxLength": 200},
                },
            },
        },
    },
}
ALERTMANAGER_VALIDATOR = Draft202012Validator(
    ALERTMANAGER_PAYLOAD, format_checker=Draft202012Validator.FORMAT_CHECKER
)
#: Go's zero time: Alertmanager's endsAt of an alert that has not ended.
ZERO_TIME = "0001-01-01T00:00:00Z"


class Duplicate(Exception):
    """Another delivery made the same key meanwhile: roll back and run again."""


class Unmatched(Exception):
    """A reference names no single record: `problem` refuses the delivery, `note` says it on the record."""

    def __init__(self, problem: Problem, note: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.note = note


@dataclass
class Outcome:
    """What a delivery did, by record number (the answer to the sender)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    noted: list[str] = field(default_factory=list)
    unchanged: int = 0
    #: References that named no single record, written without them (and noted on the record).
    unmatched: list[Problem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "created": self.created,
            "updated": self.updated,
            "noted": self.noted,
            "unchanged": self.unchanged,
        }
        if self.unmatched:
            answer["unmatched"] = [p.as_json() for p in self.unmatched]
        return answer


def parse_time(text: str | None) -> dt.datetime | None:
    """An RFC 3339 time as Go writes it (nanoseconds, Z); None for none or Go's zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    head, _sep, rest = text.partition(".")
    if rest:  # fractions beyond microseconds, then the zone
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def json_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Inbound:
    """One delivery to one integration, written as `records.actor`."""

    def __init__(self, records: Records, name: str, body: Mapping[str, Any]) -> None:
        self.records = records
        self.session = records.session
        self.name = name
        self.body = body
        self.type_name = body["record_type"]
        self.outcome = Outcome()
        self.title = f"{body['title']['en']} · {body['title']['zh']}"
        # An alert is never lost for a label that names nothing: Alertmanager does not retry a 4xx.
        self.lenient = body["source"] == "alertmanager" and body.get("unmatched", "note") == "note"

    # --- Alertmanager ----------------------------------------------------------

    def alerts(self, payload: Any) -> Outcome:
        """Every alert of an Alertmanager payload; Invalid (nothing written) for a payload that is not one."""
        raise_problems(problems_from_errors(ALERTMANAGER_VALIDATOR.iter_errors(payload)))
        for index, alert in enumerate(payload["alerts"]):
            self._alert(alert, ["alerts", index])
        return self.outcome

    def _alert(self, alert: Mapping[str, Any], where: list[Any]) -> None:
        key = item_key(alert, self.body.get("key", ALERT_KEY))
        if key is None:
            raise Invalid(
                _("An alert has no key."),
                [
                    Problem(
                        "",
                        pointer(where),
                        _("lacks %(keys)s", keys=", ".join(self.body.get("key", ALERT_KEY))),
                    )
                ],
            )
        group = item_key(alert, pointers(self.body.get("group_key", ALERT_GROUP))) or key
        starts = parse_time(alert["startsAt"])
        ends = parse_time(alert.get("endsAt"))
        item = self._item(key)
        if alert["status"] == "firing":
            if item is None:
                previous = self._last_resolved(group)
                item = self._new_item(key, group, "firing", starts)
                if not self._fires_again(previous, item, alert, starts):
                    self._create(item, alert, where)
            elif item.status == "firing":
                item.repeats += 1
                if self.body.get("repeat", "note") == "note":
                    self._note(
                        item, "alert repeated", f"Alert still firing · 告警仍在触发 ({item.repeats + 1})"
                    )
                else:
                    self.outcome.unchanged += 1
            elif starts is not None and item.ends_at is not None and starts > item.ends_at:
                self._fires_again(item, item, alert, starts)  # a key without the start: the same item again
            else:  # this firing, delivered after its resolution (late, or retried): nothing new
                item.repeats += 1
                self.outcome.unchanged += 1
        else:
            if item is None:  # resolved before its firing arrived: the record as it was, resolved
                item = self._new_item(key, group, "firing", starts)
                self._create(item, alert, where)
                self._resolve(item, alert, ends, where, late=True)
            elif item.status == "firing":
                self._resolve(item, alert, ends, where)
            else:
                item.repeats += 1
                self.outcome.unchanged += 1
        item.updated_at = self.records.clock()

    def _item(self, key: str) -> IntegrationItem | None:
        return self.session.scalar(
            select(IntegrationItem)
            .where(IntegrationItem.integration == self.name, IntegrationItem.key == key)
            .with_for_update()
        )

    def _new_item(self, key: str, group: str, status: str, starts: dt.datetime | None) -> IntegrationItem:
        item = IntegrationItem(
            integration=self.name,
            key=key,
            group_key=group,
            record_type=self.type_name,
            status=status,
            starts_at=starts,
            repeats=0,
            created_at=self.records.clock(),
            updated_at=self.records.clock(),
        )
        self.session.add(item)
        try:
            self.session.flush()
        except IntegrityError as error:  # the unique key, made by a delivery at the same moment
            raise Duplicate(key) from error
        return item

    def _last_resolved(self, group: str) -> IntegrationItem | None:
        return self.session.scalar(
            select(IntegrationItem)
            .where(
                IntegrationItem.integration == self.name,
                IntegrationItem.group_key == group,
                IntegrationItem.status == "resolved",
                IntegrationItem.record_id.is_not(None),
            )
            .order_by(IntegrationItem.ends_at.desc(), IntegrationItem.id.desc())
            .limit(1)
        )

    def _fires_again(
        self,
        previous: IntegrationItem | None,
        item: IntegrationItem,
        alert: Mapping[str, Any],
        starts: dt.datetime | None,
    ) -> bool:
        """Reopen the record of `previous` when the policy says so; False when a new one is to be made."""
        again = self.body.get("fires_again", {"do": "new"})
        if previous is None or previous.ends_at is None or starts is None:
            return False
        record = self._record(previous)
        reopen = again["do"] == "reopen" and starts - previous.ends_at <= dt.timedelta(
            minutes=again["within_minutes"]
        )
        item.status, item.starts_at, item.ends_at = "firing", starts, None
        if record is None or not reopen:
            if item is previous:
                self._create(item, alert, [])
                return True
            return False
        item.record_id = record.id
        note = f"Alert fired again after it resolved · 告警恢复后再次触发 ({json_time(starts)})"
        if self._final(record):
            self._move(record, again["state"], {}, note)
            self.outcome.updated.append(record.number)
        else:
            self.records.note(record, "alert fired again", note)
            self.outcome.noted.append(record.number)
        return True

    def _resolve(
        self,
        item: IntegrationItem,
        alert: Mapping[str, Any],
        ends: dt.datetime | None,
        where: list[Any],
        late: bool = False,
    ) -> None:
        item.status = "resolved"
        item.ends_at = ends or self.records.clock()
        record = self._record(item)
        if record is None:
            return
        policy = self.body.get("resolved", {"do": "note"})
        note = f"Alert resolved · 告警已恢复 ({json_time(item.ends_at)})"
        if late:
            note += "; the resolution arrived before the alert · 恢复通知先于告警到达"
        if policy["do"] == "resolve" and not self._final(record):
            data, _system, unmatched = self._data(policy.get("fields", {}), alert, where)
            self._move(record, policy["state"], data, note)
            self._note_unmatched(record, unmatched)
            if record.number not in self.outcome.created:
                self.outcome.updated.append(record.number)
        else:
            self.records.note(record, "alert resolved", note)
            if record.number not in self.outcome.created:
                self.outcome.noted.append(record.number)

    # --- a signed webhook --------------------------------------------------------

    def upsert(self, payload: Any) -> Outcome:
        """Create or update the record the body's key names; Invalid (nothing written) for a bad body."""
        if not isinstance(payload, dict):
            raise_problems([Problem("", "/", _("must be a JSON object"))])
        if "payload" in self.body:
            raise_problems(
                problems_from_errors(Draft202012Validator(self.body["payload"]).iter_errors(payload))
            )
        key = item_key(payload, self.body["key"])
        if key is None:
            missing = [p for p in self.body["key"] if at(payload, p) in (MISSING, None, "")]
            raise_problems([Problem("", path, _("is required: it is the key")) for path in missing])
        item = self._item(key)
        if item is not None and self._record(item) is not None:
            record = self._record(item)
            version = record.version
            data, system, _unmatched = self._data(self.body["fields"], payload, [])  # strict: none
            if self.body.get("key_field"):
                data[self.body["key_field"]] = key
            try:
                updated = self.records.update(
                    self.type_name, record.id, data, record.version, system, loaded=record
                )
            except Invalid as error:
                raise Invalid(error.message, self._paths(error.problems, self.body["fields"], [])) from error
            item.repeats += 1
            item.updated_at = self.records.clock()
            if updated.version != version:
                self.outcome.updated.append(record.number)
            else:
                self.outcome.unchanged += 1
            return self.outcome
        if item is None:
            item = self._new_item(key, key, "upserted", None)
        existing = self._by_key_field(key)
        if existing is not None:  # made before the integration: it is this key's from now on
            item.record_id = existing.id
            return self.upsert(payload)
        self._create(item, payload, [])
        return self.outcome

    def _by_key_field(self, key: str) -> Any:
        key_field = self.body.get("key_field")
        if not key_field:
            return None
        spec = self.records.spec(self.type_name)
        model = self.records.model(self.type_name)
        column = getattr(model, spec.fields[key_field].column)
        return self.session.scalars(self.records.query(self.type_name).where(column == key).limit(1)).first()

    # --- records ---------------------------------------------------------------

    def _create(self, item: IntegrationItem, source: Mapping[str, Any], where: list[Any]) -> None:
        data, system, unmatched = self._data(self.body["fields"], source, where)
        if self.body.get("key_field") and self.body["source"] == "webhook":
            data[self.body["key_field"]] = item.key
        try:
            record = self.records.create(self.type_name, data, system)
        except Invalid as error:
            raise Invalid(error.message, self._paths(error.problems, self.body["fields"], where)) from error
        item.record_id = record.id
        self.outcome.created.append(record.number)
        self._note_unmatched(record, unmatched)

    def _note_unmatched(self, record: Any, unmatched: list[Problem]) -> None:
        """Say on the record which label named nothing, so a dispatcher can set it by hand."""
        for problem in unmatched:
            self.records.note(record, "alert label unmatched", problem.message)
        self.outcome.unmatched += unmatched

    def _data(
        self, fields: Mapping[str, Mapping[str, Any]], source: Mapping[str, Any], where: list[Any]
    ) -> tuple[dict[str, Any], dict[str, Any], list[Problem]]:
        """The record's fields and system fields (the client) from `source`, by their mappings;
        and, when the integration is lenient, the references left out as naming no single record."""
        spec = self.records.spec(self.type_name)
        data: dict[str, Any] = {}
        system: dict[str, Any] = {}
        unmatched: list[Problem] = []
        for name, mapping in fields.items():
            schema = spec.fields[name].schema if name in spec.fields else {}
            choices = [value for value, _title in spec.fields[name].choices] if name in spec.fields else []
            mapped = field_value(mapping, source, choices)
            value = mapped.value
            if value is None:
                continue
            target = reference_target(spec, name)
            if target is not None:
                try:
                    value = self._reference(target, value, where, mapped.source)
                except Unmatched as error:
                    if not self.lenient:
                        raise Invalid(_("A reference names no single record."), [error.problem]) from error
                    unmatched.append(error.note)
                    continue
            elif schema.get("format") == "date-time" and isinstance(value, str):
                parsed = _time_or_none(value)
                value = json_time(parsed) if parsed else value
            elif isinstance(value, str) and isinstance(schema.get("maxLength"), int):
                value = value[: schema["maxLength"]]
            (system if name not in spec.fields else data)[name] = value
        return data, system, unmatched

    def _reference(self, target: str, value: Any, where: list[Any], source: str | None) -> int:
        """The id of the `target` record `value` names: its number, or its name (or short name)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        model = self.records.model(target)
        spec = self.records.catalog.record_types[target]
        conditions = [model.number == text]
        for name in ("name", "short_name", "title"):
            if name in spec.fields and spec.fields[name].kind not in ("ref", "user", "file"):
                conditions.append(getattr(model, spec.fields[name].column) == text)
        try:
            found = self.session.scalars(
                self.records.query(target).with_only_columns(model.id).where(or_(*conditions)).limit(2)
            ).all()
        except NotFound:
            found = []
        if len(found) != 1:
            message = (
                _("names no %(type)s you may see: %(value)r", type=target, value=text)
                if not found
                else _("names more than one %(type)s: %(value)r", type=target, value=text)
            )
            path = pointer([*where, *_parts(source)])
            raise Unmatched(
                Problem("", path, message), Problem("", path, _unmatched_note(spec, source, text, found))
            )
        return found[0]

    def _paths(self, problems: list[Problem], fields: Mapping[str, Any], where: list[Any]) -> list[Problem]:
        """The records service's problems (at /data/<field>), each at the place it came from."""
        found = []
        for problem in problems:
            parts = problem.path.split("/")
            name = parts[2] if len(parts) > 2 and parts[1] == "data" else parts[1] if len(parts) > 1 else ""
            sources = pointers(fields.get(name, {}).get("from"))
            if sources:
                path = pointer([*where, *_parts(sources[0])])
                found.append(Problem("", path, f"{problem.message} ({name})"))
            else:
                found.append(
                    Problem("", pointer(where) + problem.path if where else problem.path, problem.message)
                )
        return found

    def _record(self, item: IntegrationItem) -> Any:
        if item.record_id is None:
            return None
        try:
            return self.records.get(item.record_type, item.record_id)
        except NotFound:
            return None

    def _final(self, record: Any) -> bool:
        workflow = self.records.catalog.workflows.get(self.type_name)
        return workflow is not None and workflow.state(record.state).final

    def _move(self, record: Any, state: str, data: dict[str, Any], note: str) -> None:
        """Move a record to `state` as the definition says (its act, as a workflow's `set` is)."""
        workflow = self.records.catalog.workflows.get(self.type_name)
        transition = next(
            (t for t in (workflow.transitions.values() if workflow else []) if t.target == state),
            None,
        )
        self.records.move(
            record, state, data, f"transition {transition.name}" if transition else "moved", note
        )

    def _note(self, item: IntegrationItem, action: str, note: str) -> None:
        record = self._record(item)
        if record is not None:
            self.records.note(record, action, note)
            self.outcome.noted.append(record.number)


def _parts(path: str | None) -> list[str]:
    if not path:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _unmatched_note(spec: Any, source: str | None, value: str, found: list[int]) -> str:
    """ "label client=acme-prod matched no customer", in both languages as the history's notes are."""
    parts = _parts(source)
    if len(parts) == 2 and parts[0] == "labels":
        en, zh = f"label {parts[1]}={value}", f"标签 {parts[1]}={value}"
    elif source:
        en = zh = f"{source}={value}"
    else:
        en, zh = f"value {value}", f"固定值 {value}"
    name, title = spec.name, spec.title["zh"]
    if found:
        return f"{en} matched more than one {name} · {zh} 匹配到多个{title}"
    return f"{en} matched no {name} · {zh} 未匹配到任何{title}"


def _time_or_none(text: str) -> dt.datetime | None:
    try:
        return parse_time(text)
    except ValueError:
        return None


def raise_problems(problems: list[Problem]) -> None:
    if problems:
        raise Invalid(_("The payload is not valid: nothing was written."), problems)

"""SLA clocks on tickets: read from each ticket's history, kept on the ticket, escalated once.

A record type with an `sla` policy has its clocks read again whenever one of
its records changes (in the same transaction, so lists and filters are right
at once) and whenever the scheduler finds a record whose `sla_next_check` has
come (to warn and escalate in time while nobody touches it). The reading is a
pure function of the record's history (`itpm.sla.clock.read_clocks`); what is
kept on the record is its summary for lists and filters (`sla_due`,
`sla_status`, `sla_breached`), each clock's reading (`sla_clocks`) and when
to look again (`sla_next_check`).

A warning or a breach puts an `sla_warning` or `sla_breach` event in the
outbox once per clock and target: the policy's escalation actions and any
automation on those triggers run from it. Their idempotency key names the
record, the clock and the target, so two readers that both saw the breach
still escalate once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from itpm.models import RecordEvent
from itpm.sla.calendar import business_time_between
from itpm.sla.clock import CLOCKS, FIRST_RESPONSE, Clock, ClockReading, SlaPolicy, Terms, read_clocks

ON_TRACK, AT_RISK, PAUSED, BREACHED, MET = "on_track", "at_risk", "paused", "breached", "met"
STATUS_TITLES = {
    ON_TRACK: {"en": "On track", "zh": "正常"},
    AT_RISK: {"en": "At risk", "zh": "即将超时"},
    PAUSED: {"en": "Paused", "zh": "已暂停"},
    BREACHED: {"en": "Breached", "zh": "已超时"},
    MET: {"en": "Met", "zh": "已达成"},
}
CLOCK_TITLES = {
    "first_response": {"en": "first response", "zh": "首次响应"},
    "resolution": {"en": "resolution", "zh": "解决"},
}
#: The workflow state categories that stop (or, once reopened, have paused) the resolution clock.
FINAL_CATEGORIES = ("done", "cancelled")


def read_ticket(
    records: Any,
    record: Any,
    policy: SlaPolicy,
    now: dt.datetime,
    history: Sequence[tuple[dt.datetime, Sequence[dict[str, Any]]]] | None = None,
) -> dict[str, ClockReading]:
    """Each clock the policy runs on the record, read as of `now` from its history [(moment, changes)]:
    `history` when given (a record about to be inserted), else the record's."""
    type_name = record.__record_type__
    catalog = records.catalog
    workflow = catalog.workflows.get(type_name)
    rows = history if history is not None else records.fresh_history(record)  # one created here: at hand
    if rows is None:
        rows = records.session.execute(
            select(RecordEvent.at, RecordEvent.changes)
            .where(RecordEvent.record_type == type_name, RecordEvent.record_id == record.id)
            .order_by(RecordEvent.id)
        ).all()
    start = record.created_at
    initial = workflow.initial if workflow else record.state
    states: list[tuple[dt.datetime, str]] = [(start, initial)]
    priority_path = f"/data/{policy.priority_field}"
    priority: Any = None
    client: int | None = None
    terms_values: list[tuple[dt.datetime, Any, int | None]] = []
    for at, changes in rows:
        moment = max(at, start)
        changed = False
        for change in changes or ():
            if change["path"] == "/state":
                states.append((moment, change["new"]))
            elif change["path"] == priority_path:
                priority, changed = change["new"], True
            elif change["path"] == "/client":
                client, changed = change["new"], True
        if changed or not terms_values:
            terms_values.append((moment, priority, client))
    numbers = (
        _client_numbers(records, {c for _, _, c in terms_values if c is not None})
        if policy.client_targets
        else {}
    )
    finals = (
        frozenset(s.name for s in workflow.states.values() if s.category in FINAL_CATEGORIES)
        if workflow
        else frozenset()
    )
    now = max(now, start)
    clocks = {}
    for clock in CLOCKS:
        timeline = _terms_timeline(policy, clock, terms_values, numbers, finals)
        if timeline:
            (_, first), changes = timeline[0], timeline[1:]
            clocks[clock] = Clock(first, _stopped_at(clock, states, policy, finals), changes)
    return read_clocks(states, clocks, now=now)


def _terms_timeline(
    policy: SlaPolicy,
    clock: str,
    values: list[tuple[dt.datetime, Any, int | None]],
    numbers: dict[int, str],
    finals: frozenset[str],
) -> list[tuple[dt.datetime, Terms]]:
    """The terms in force over time; a priority without a target keeps the terms before it."""
    timeline: list[tuple[dt.datetime, Terms]] = []
    known = policy.known_terms  # the same few for every ticket: worked out once
    for moment, priority, client in values:
        if priority is None:
            continue
        key = (clock, str(priority), numbers.get(client) if client else None, finals)
        if key not in known:
            terms = policy.terms(*key[:3])
            if terms is not None and clock != FIRST_RESPONSE:
                # resolved and reopened: the time it stood resolved is not counted
                terms = dataclasses.replace(terms, pausing_states=terms.pausing_states | finals)
            known[key] = terms
        terms = known[key]
        if terms is None:
            continue
        if timeline and timeline[-1][1] == terms:
            continue
        timeline.append((moment, terms))
    if timeline:  # the first terms known count from the ticket's creation on
        timeline[0] = (values[0][0], timeline[0][1])
    return timeline


def _stopped_at(
    clock: str, states: list[tuple[dt.datetime, str]], policy: SlaPolicy, finals: frozenset[str]
) -> dt.datetime | None:
    if clock == FIRST_RESPONSE:
        initial = states[0][1]
        responded = policy.response_states or None
        return next((m for m, s in states[1:] if (s in responded if responded else s != initial)), None)
    current = states[-1][1]
    if current not in finals:
        return None
    entered = states[-1][0]
    for moment, state in reversed(states):
        if state != current:
            break
        entered = moment
    return entered


def _client_numbers(records: Any, ids: set[int]) -> dict[int, str]:
    from itpm.records.fields import CLIENT_TYPE

    if not ids or CLIENT_TYPE not in records.catalog.record_types:
        return {}
    known = records.known_client_numbers
    if known is not None and ids <= known.keys():
        return {i: known[i] for i in ids}
    model = records.model(CLIENT_TYPE)
    with records.session.no_autoflush:  # a client's number does not wait on what is being written
        found = dict(records.session.execute(select(model.id, model.number).where(model.id.in_(ids))).all())
    if known is not None:
        known.update(found)
    return found


#: A warning or a breach due on a clock: (kind, clock, reading, target minutes), put in the outbox once.
Alert = tuple[str, str, ClockReading, int]


def refresh_clocks(records: Any, record: Any, now: dt.datetime) -> None:
    """Read the record's clocks again and keep the result on it; put due warnings and breaches in the outbox."""
    policy = records.catalog.sla_policies.get(record.__record_type__)
    if policy is None:
        return
    values, alerts = clock_values(records, record, policy, now)
    send_alerts(records, record, policy, alerts)
    changed = {column: value for column, value in values.items() if getattr(record, column) != value}
    if not changed:
        return
    table = type(record).__table__  # not a change of the record: its version and history stay as they are
    records.session.execute(update(table).where(table.c.id == record.id).values(**changed))
    for column, value in changed.items():
        set_committed_value(record, column, value)


def clock_values(
    records: Any,
    record: Any,
    policy: SlaPolicy,
    now: dt.datetime,
    history: Sequence[tuple[dt.datetime, Sequence[dict[str, Any]]]] | None = None,
) -> tuple[dict[str, Any], list[Alert]]:
    """The SLA columns of the record as its clocks read now (from `history`, else its own: `read_ticket`),
    and the warnings and breaches that came due and were not sent yet."""
    readings = read_ticket(records, record, policy, now, history)
    before = record.sla_clocks or {}
    clocks: dict[str, Any] = {}
    alerts: list[Alert] = []
    for name, reading in readings.items():
        target = _minutes(reading.target)
        sent = list(before.get(name, {}).get("sent", []))
        running = not reading.is_stopped
        if running and reading.breached and f"breach:{target}" not in sent:
            sent += [f"warning:{target}", f"breach:{target}"]
            alerts.append(("sla_breach", name, reading, target))
        elif running and reading.warned and f"warning:{target}" not in sent:
            sent.append(f"warning:{target}")
            alerts.append(("sla_warning", name, reading, target))
        due, warn_at = _iso(reading.due_at), _iso(reading.warn_at)
        clocks[name] = {
            "target": target,
            "elapsed": _minutes(reading.elapsed),
            "paused": _minutes(reading.paused),
            "due": due,
            "warn_at": warn_at,
            "warned": warn_at if reading.warned else None,  # a warning or a breach came at its moment
            "breached": due if reading.breached else None,
            "is_paused": reading.is_paused,
            "is_stopped": reading.is_stopped,
            "sent": sorted(set(sent)),
            **({"around_the_clock": True} if reading.calendar == policy.all_hours else {}),
        }
    active = next((readings[n] for n in CLOCKS if n in readings and not readings[n].is_stopped), None)
    values = {
        "sla_clocks": clocks or None,
        "sla_due": active.due_at if active else None,
        "sla_breached": any(r.breached for r in readings.values()) if readings else None,
        "sla_status": _status(readings.values(), active) if readings else None,
        "sla_next_check": _next_check(readings, clocks),
    }
    return values, alerts


def send_alerts(records: Any, record: Any, policy: SlaPolicy, alerts: list[Alert]) -> None:
    """Put the warnings and breaches of `clock_values` in the outbox (the record has its id by now)."""
    if records.silent:  # an import of history: the outbox takes nothing (`Records.emit`), so nothing is said
        return
    for kind, name, reading, target in alerts:
        _emit(records, record, kind, name, reading, policy, target)


def _status(readings: Iterable[ClockReading], active: ClockReading | None) -> str:
    readings = list(readings)
    if any(r.breached for r in readings):
        return BREACHED
    if active is None:
        return MET
    if active.is_paused:
        return PAUSED
    return AT_RISK if active.warned else ON_TRACK


def _next_check(readings: dict[str, ClockReading], clocks: dict[str, Any]) -> dt.datetime | None:
    """The next moment a running clock warns or breaches that has not been escalated yet."""
    moments = []
    for name, reading in readings.items():
        if reading.is_stopped or reading.is_paused:
            continue
        sent = clocks[name]["sent"]
        target = clocks[name]["target"]
        if reading.warn_at is not None and f"warning:{target}" not in sent:
            moments.append(reading.warn_at)
        if reading.due_at is not None and f"breach:{target}" not in sent:
            moments.append(reading.due_at)
    return min(moments) if moments else None


def _emit(
    records: Any, record: Any, kind: str, clock: str, reading: ClockReading, policy: SlaPolicy, target: int
) -> None:
    zone = policy.calendar.zone
    due = (
        reading.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") + f" ({zone.key})"
        if reading.due_at
        else ""
    )
    share = f"{policy.warning_share:.0%}" if policy.warning_share else ""
    records.emit(
        record,
        kind,
        {
            "clock": clock,
            "target_minutes": target,
            "due_at": _iso(reading.due_at),
            # one escalation per record, clock and target, however many readers saw it
            "key": f"{kind}:{record.__record_type__}:{record.id}:{clock}:{target}",
            "values": {"clock": CLOCK_TITLES[clock], "due": due, "share": share},
        },
    )


def time_left(
    policy: SlaPolicy, due: dt.datetime, now: dt.datetime, around_the_clock: bool = False
) -> dt.timedelta:
    """Business time (or, for a clock that runs around the clock, all time) from now until due;
    negative once it is past."""
    calendar = policy.all_hours if around_the_clock else policy.calendar
    if now <= due:
        return business_time_between(calendar, now, due)
    return -business_time_between(calendar, due, now)


def due_time_left(record: Any, policy: SlaPolicy, now: dt.datetime) -> dt.timedelta | None:
    """Time left until the record's `sla_due`, counted as `sla_summary` counts its clock's: `sla_due` is
    the due time of the first clock still running, so on that clock's calendar (all hours for one that
    runs around the clock). Lists show this, the record page and the API the clock's `minutes_left`."""
    if record.sla_due is None:
        return None
    clocks = record.sla_clocks or {}
    kept = next((clocks[n] for n in CLOCKS if n in clocks and not clocks[n]["is_stopped"]), {})
    return time_left(policy, record.sla_due, now, bool(kept.get("around_the_clock")))


def _minutes(value: dt.timedelta) -> int:
    return int(value.total_seconds() // 60)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def duration_text(minutes: int, lang: str) -> str:
    """Minutes as people read them: 2 h 30 min, 45 min (business time, so no days: a day's hours vary)."""
    minutes = abs(int(minutes))
    hours, rest = divmod(minutes, 60)
    if lang == "zh":
        return (f"{hours} 小时 " if hours else "") + (f"{rest} 分钟" if rest or not hours else "").strip()
    return ((f"{hours} h " if hours else "") + (f"{rest} min" if rest or not hours else "")).strip()


def sla_summary(record: Any, policy: SlaPolicy | None, now: dt.datetime) -> dict[str, Any] | None:
    """The SLA of a record as the API and the detail page give it; None without a policy or clocks."""
    if policy is None or not record.sla_clocks:
        return None
    clocks = {}
    for name in CLOCKS:
        kept = record.sla_clocks.get(name)
        if kept is None:
            continue
        due = dt.datetime.fromisoformat(kept["due"]) if kept.get("due") else None
        running = not kept["is_stopped"] and not kept["is_paused"]
        around = bool(kept.get("around_the_clock"))
        left = _minutes(time_left(policy, due, now, around)) if running and due is not None else None
        overdue = running and due is not None and due <= now
        if kept["is_stopped"]:
            status = BREACHED if kept.get("breached") else MET
        elif kept["is_paused"]:
            status = PAUSED
        elif overdue or kept.get("breached"):
            status = BREACHED
        else:
            status = AT_RISK if kept.get("warned") else ON_TRACK
        clocks[name] = {
            "target_minutes": kept["target"],
            "elapsed_minutes": kept["elapsed"]
            if not running
            else kept["target"] - (left if left is not None else 0),
            "paused_minutes": kept["paused"],
            "due": kept.get("due"),
            "minutes_left": left,
            "overdue": overdue,
            "status": status,
            "around_the_clock": around,
        }
    return {
        "status": record.sla_status,
        "due": _iso(record.sla_due),
        "breached": bool(record.sla_breached),
        "clocks": clocks,
    }

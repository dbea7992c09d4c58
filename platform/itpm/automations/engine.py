"""Running automations: each outbox event, each due delayed action, each schedule tick.

Every action of an automation for an event has a key (event, automation,
action). An action that changes records is done in one transaction with its
key's `ActionRun` row, so a job run twice changes the records once; one that
sends (e-mail, webhook) goes through functions that send once per key. A
failing action is retried with backoff and, when its attempts are used up,
shown on the jobs page with its error and a retry button. Automations that
react to automations stop at a depth, so no rule can loop forever.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import traceback
from collections.abc import Callable
from functools import cached_property
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from itpm.access import Actor
from itpm.automations.spec import AutomationSpec, Event
from itpm.catalog import Catalog
from itpm.db import utcnow
from itpm.forecast.flags import PLAIN
from itpm.models import ActionRun, OutboxEvent, Person
from itpm.records.fields import INTEGER, NUMBER
from itpm.records.service import NotFound, RecordError, Records
from itpm.records.values import format_number
from itpm.runtime import Runtime
from itpm.texts import in_both
from itpm.workflows.engine import Workflows

log = logging.getLogger(__name__)

#: Events caused by automations reacting to automations go this deep, no deeper.
MAX_DEPTH = 3
#: Minutes to wait before each retry of a failed action.
BACKOFF = (1, 5, 30, 120, 720)
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
#: What a notification says in place of a field its reader may not see.
HIDDEN_VALUE = "—"


def fill(template: str, values: dict[str, Any]) -> str:
    """Put values in {name} placeholders (nothing else is read: no attributes, no format specs)."""
    return PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if values.get(m.group(1)) is not None else m.group(0), template
    )


def fill_value(value: Any, values: dict[str, Any]) -> Any:
    """A value of a created record: "{project}" alone is the field's own value (a number stays a number)."""
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value)
    if whole and whole.group(1) in values:
        return values[whole.group(1)]
    return fill(value, values)


class Automations:
    """The automations of an installation, run by whatever runs jobs (a worker, or this process)."""

    def __init__(self, runtime: Runtime, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.runtime = runtime
        self.clock = clock
        #: While handling events: the events of the changes this handling makes, handled next by this same job.
        self._followups: list[Event] | None = None
        self._teams: dict[str, list[tuple[Any, ...]]] = {}
        #: The events being handled, and the keys of the runs they have already: no query per action.
        self._runs_of: set[int] = set()
        self._runs: set[str] = set()
        #: While running the actions of many events together (`_run_together`).
        self._batch: _Batch | None = None

    @cached_property
    def catalog(self) -> Catalog:
        """The definitions in force, read once per job (a job is short; the next one sees a new revision)."""
        return self.runtime.catalog()

    # --- events ------------------------------------------------------------

    def handle(self, event_id: int) -> None:
        self.handle_many([event_id])

    def handle_many(self, event_ids: list[int]) -> int:
        """Run every automation the events start, oldest event first; how many events were handled.

        The events the actions cause (an assignment is an update) are claimed
        when written and handled next by this same job: no second trip through
        the queue. A job that dies half-way is run again and does nothing twice
        (keys); what it had claimed and not handled is sent again by the
        dispatcher (`jobs.resend_lost`).
        """
        with self.runtime.session() as session:
            rows = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.id.in_(event_ids), OutboxEvent.handled_at.is_(None))
                .order_by(OutboxEvent.id)
            ).all()
            events = [_event(row) for row in rows]
        automations = list(self.catalog.automations.values())
        handled, self._followups = 0, []
        try:
            while events:
                with self.runtime.session() as session:  # what was done for these already (a job run again)
                    self._runs_of = {e.id for e in events}
                    self._runs = set(
                        session.scalars(select(ActionRun.key).where(ActionRun.event_id.in_(self._runs_of)))
                    )
                # an SLA escalation is keyed by what it escalates, not by which reader put it in the outbox
                keyed = ("sla_warning", "sla_breach", "forecast_flagged")
                work = [
                    (
                        automation,
                        event,
                        (event.kind in keyed and event.payload.get("key")) or f"event:{event.id}",
                    )
                    for event in events
                    if event.depth < MAX_DEPTH
                    for automation in automations
                    if automation.starts_on(event)
                ]
                self._run_all(work)
                # what the actions caused: handled now (with these) when no automation starts on it
                caused, self._followups = self._followups, []
                later = [
                    e for e in caused if e.depth < MAX_DEPTH and any(a.starts_on(e) for a in automations)
                ]
                waiting = {e.id for e in later}
                # the events' notices, and those of what they caused that no automation starts on
                self._notices([*events, *(e for e in caused if e.id not in waiting)])
                done = [e.id for e in events] + [e.id for e in caused if e.id not in waiting]
                with self.runtime.session() as session:
                    session.execute(
                        update(OutboxEvent).where(OutboxEvent.id.in_(done)).values(handled_at=self.clock())
                    )
                    session.commit()
                handled += len(done)
                events = later
        finally:
            self._followups, self._runs_of = None, set()
        return handled

    def _run_all(self, work: list[tuple[AutomationSpec, Event, str]]) -> None:
        """Each automation's actions for its event, in order: runs of automations that only change
        records go together in one transaction (`_run_together`), the others one action at a time."""
        together: list[tuple[AutomationSpec, Event, str]] = []
        for item in [*work, None]:
            if item is not None and _writes_records_only(item[0]):
                together.append(item)
                continue
            if together:
                self._run_together(together)
                together = []
            if item is not None:
                self._run_for_record(*item)

    def _run_together(self, work: list[tuple[AutomationSpec, Event, str]]) -> None:
        """The actions of many events in one transaction: their records read in one query per type, the
        team loads once, the history, outbox and action runs written together, one commit.

        Any failure (an action's, or a record changed by someone else meanwhile) rolls the whole of it
        back, and the work is done again one action at a time, each in its own transaction: the failing
        one is kept and retried by itself, the others are done; nothing is done twice (keys).
        """
        caused: list[Event] | None = None
        with self.runtime.session() as session:
            self._batch = _Batch(session)
            try:
                self._preload(work)
                for item in work:
                    if self._run_for_record(*item) == "failed":
                        raise _Abandoned()
                session.flush()
                rows = [row for r in self._batch.records.values() for row in r.emitted]
                caused = [_event(row) for row in sorted(rows, key=lambda row: row.id) if row.dispatched_at]
                session.commit()
            except Exception as error:  # noqa: BLE001 - done again action by action, where failures are kept
                session.rollback()
                caused = None
                if not isinstance(error, _Abandoned):
                    log.info("a batch of %d actions is done again one by one: %s", len(work), error)
            finally:
                self._batch = None
        if caused is None:
            for item in work:
                self._run_for_record(*item)
        elif self._followups is not None:
            self._followups.extend(caused)

    def _preload(self, work: list[tuple[AutomationSpec, Event, str]]) -> None:
        """The records the batch's work is about, read in one query per record type."""
        batch = self._batch
        assert batch is not None
        wanted: dict[str, set[int]] = {}
        for automation, event, _prefix in work:
            if automation.record_type and event.record_id is not None:
                wanted.setdefault(automation.record_type, set()).add(event.record_id)
        records = self._records(batch.session, 0)
        for type_name, ids in wanted.items():
            try:
                model = records.model(type_name)
                query = records.query(type_name).where(model.id.in_(sorted(ids)))
            except RecordError:
                continue  # a type no longer published: each action finds it gone
            for record in batch.session.scalars(query):
                batch.loaded[(type_name, record.id)] = record

    def _notices(self, events: list[Event]) -> None:
        """The platform's own notices of the events (assignment, approval asked, mention, client reply,
        SLA warning to the group's lead): each once per event and person (`itpm.automations.notices`).
        One session for them all, their records read in one query per type, the in-app notifications
        written together (`gathered`)."""
        from itpm.automations.notices import addressed, concerns, read_people, send_notices
        from itpm.notifications import gathered

        concerned = [e for e in events if e.depth < MAX_DEPTH and concerns(e)]
        if not concerned:
            return
        with self.runtime.session() as session:
            loaded: dict[tuple[str, int], Any] = {}
            wanted: dict[str, set[int]] = {}
            for event in concerned:
                wanted.setdefault(event.record_type, set()).add(event.record_id)
            records = self._records(session, 0)
            for type_name, ids in wanted.items():
                try:
                    query = records.query(type_name).where(records.model(type_name).id.in_(sorted(ids)))
                except RecordError:
                    continue  # no longer published: its events tell nobody
                loaded.update(((type_name, r.id), r) for r in session.scalars(query))
            read_people(session, [person for event in concerned for person in addressed(event)])
            with gathered(session):
                for event in concerned:
                    record = loaded.get((event.record_type, event.record_id))
                    if record is not None:
                        send_notices(
                            self._records(session, event.depth),
                            self.runtime.settings,
                            event,
                            self.clock(),
                            record,
                        )

    def _records(self, session: Session, depth: int, actor: Actor | None = None) -> Records:
        batch = self._batch
        if batch is not None and session is batch.session and actor is None:
            if depth not in batch.records:
                batch.records[depth] = records = self._new_records(session, depth)
                records.deferred = True
                records.known_nameable, records.known_organisations = batch.nameable, batch.organisations
            return batch.records[depth]
        return self._new_records(session, depth, actor)

    def _new_records(self, session: Session, depth: int, actor: Actor | None = None) -> Records:
        records = Records(
            session,
            self.catalog,
            actor or Actor.system(),
            clock=self.clock,
            timezone=self.runtime.settings.timezone,
        )
        records.depth = depth + 1
        if self._followups is not None:
            records.claimed_at = self.clock()
        return records

    def _run_for_record(
        self, automation: AutomationSpec, event: Event | None, prefix: str, record_id: int | None = None
    ) -> str:
        """The automation's actions on the record (if its condition holds), each once by its key;
        the outcome of the last action (done, failed, skipped).

        The condition is read in the transaction of the first action done now
        (one reading of the record, not two); delayed actions only wait.
        """
        record_id = record_id if record_id is not None else (event.record_id if event else None)
        checked, outcome = False, "done"
        for index, action in enumerate(automation.actions):
            key = f"{prefix}:{automation.name}:{index}"
            spec = {
                "automation": automation.name,
                "index": index,
                "record_id": record_id,
                "event_id": event.id if event else None,
                "depth": event.depth if event else 0,
            }
            if "after" in action:
                if not checked and not self._condition_holds(automation, event, record_id):
                    return "skipped"
                checked = True
                self._delay(key, automation, action, spec)
            else:
                outcome = self.run_action(key, spec, check=not checked)
                checked = True
                if outcome == "skipped":
                    return outcome
        return outcome

    def _condition_holds(
        self, automation: AutomationSpec, event: Event | None, record_id: int | None
    ) -> bool:
        if automation.record_type is None:
            return True
        with self.runtime.session() as session:
            records = self._records(session, event.depth if event else 0)
            try:
                record = records.get(automation.record_type, record_id)
            except RecordError:
                return False  # deleted since
            return self._holds(records, automation, record)

    def _holds(self, records: Records, automation: AutomationSpec, record: Any) -> bool:
        workflows = Workflows(records)
        if "condition" in automation.body and not workflows.holds(automation.body["condition"], record):
            return False
        return "expression" not in automation.body or workflows.holds(
            {"expression": automation.body["expression"]}, record
        )

    def _delay(
        self, key: str, automation: AutomationSpec, action: dict[str, Any], spec: dict[str, Any]
    ) -> None:
        with self.runtime.session() as session:
            if session.scalar(select(ActionRun.id).where(ActionRun.key == key)):
                return
            due = self.clock() + dt.timedelta(minutes=action["after"]["minutes"])
            session.add(
                ActionRun(
                    key=key,
                    automation=automation.name,
                    action=action["do"],
                    event_id=spec["event_id"],
                    status="pending",
                    due_at=due,
                    spec=spec,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()

    # --- actions -----------------------------------------------------------

    def run_action(self, key: str, spec: dict[str, Any], check: bool = False) -> str:
        """Do one action once: its key's run is marked done in the same transaction (done, failed, skipped).

        With `check`, the automation's condition is read first, in the same
        transaction; "skipped" when it does not hold (or the record is gone).
        """
        catalog = self.catalog
        automation = catalog.automations.get(spec["automation"])
        if automation is None or spec["index"] >= len(automation.actions):
            return "skipped"
        action = automation.actions[spec["index"]]
        if self._batch is not None:
            return self._run_in_batch(key, spec, check, automation, action)
        with self.runtime.session() as session:
            known_new = spec.get("event_id") in self._runs_of and key not in self._runs
            run = None if known_new else session.scalar(select(ActionRun).where(ActionRun.key == key))
            if run is not None and run.status == "done":
                return "done"
            run = run or _new_run(session, key, automation, action, spec)
            run.status, run.attempts, run.started_at = "running", (run.attempts or 0) + 1, self.clock()
            # the event itself is read only by the actions that tell of it
            needs_event = spec.get("event_id") and action["do"] in ("notify", "webhook")
            event = session.get(OutboxEvent, spec["event_id"]) if needs_event else None
            records = self._records(session, spec.get("depth", 0))
            try:
                record = None
                if automation.record_type and spec.get("record_id"):
                    try:
                        record = records.get(automation.record_type, spec["record_id"])
                    except RecordError:
                        if not check:
                            raise
                        session.rollback()
                        return "skipped"  # deleted since the event
                if check and record is not None and not self._holds(records, automation, record):
                    session.rollback()
                    return "skipped"
                result = self._perform(records, automation, action, record, key, event)
                run.status, run.finished_at, run.error, run.due_at = "done", self.clock(), "", None
                run.spec = {**spec, **({"result": result} if result else {})}
                session.flush()
                caused = [_event(row) for row in records.emitted if row.dispatched_at is not None]
                session.commit()
                if self._followups is not None:
                    self._followups.extend(caused)
                return "done"
            except IntegrityError:
                session.rollback()  # another worker did it at the same moment: done once
                return "done"
            except Exception as error:  # noqa: BLE001 - any failure is kept, shown and retried
                session.rollback()
                self._failed(key, automation, action, spec, error)
                return "failed"

    def _run_in_batch(
        self, key: str, spec: dict[str, Any], check: bool, automation: AutomationSpec, action: dict[str, Any]
    ) -> str:
        """`run_action` inside a batch's transaction (`_run_together`): nothing is flushed or committed
        here; "failed" (nothing kept) when the action cannot be done, and the batch is done again one by one."""
        batch = self._batch
        assert batch is not None
        session = batch.session
        known_new = spec.get("event_id") in self._runs_of and key not in self._runs
        run = None if known_new else session.scalar(select(ActionRun).where(ActionRun.key == key))
        if run is not None and run.status == "done":
            return "done"
        records = self._records(session, spec.get("depth", 0))
        record = None
        if automation.record_type and spec.get("record_id"):
            record = batch.loaded.get((automation.record_type, spec["record_id"]))
            if record is None:
                return "skipped" if check else "failed"  # deleted since the event
        if check and record is not None and not self._holds(records, automation, record):
            return "skipped"
        try:
            result = self._perform(records, automation, action, record, key, None)
        except Exception as error:  # noqa: BLE001 - done again by itself, where the failure is kept
            log.info("automation %s action %s is done again by itself: %s", automation.name, key, error)
            return "failed"
        run = run or _new_run(session, key, automation, action, spec)
        run.status, run.attempts, run.started_at = "done", (run.attempts or 0) + 1, self.clock()
        run.finished_at, run.error, run.due_at = self.clock(), "", None
        run.spec = {**spec, **({"result": result} if result else {})}
        return "done"

    def _failed(
        self,
        key: str,
        automation: AutomationSpec,
        action: dict[str, Any],
        spec: dict[str, Any],
        error: Exception,
    ) -> None:
        log.warning("automation %s action %s failed: %s", automation.name, key, error)
        with self.runtime.session() as session:
            run = session.scalar(select(ActionRun).where(ActionRun.key == key))
            if run is None:
                run = _new_run(session, key, automation, action, spec)
                run.attempts = 1
            run.status = "failed"
            run.finished_at = self.clock()
            run.error = "".join(traceback.format_exception_only(type(error), error)).strip()[:4000]
            attempt = max(run.attempts or 1, 1)
            run.due_at = (
                self.clock() + dt.timedelta(minutes=BACKOFF[attempt - 1]) if attempt <= len(BACKOFF) else None
            )
            session.commit()

    def _perform(
        self,
        records: Records,
        automation: AutomationSpec,
        action: dict[str, Any],
        record: Any,
        key: str,
        event: OutboxEvent | None,
    ) -> dict[str, Any] | None:
        kind = action["do"]
        if kind == "set":
            records.update(record.__record_type__, record.id, action["fields"], record.version, loaded=record)
        elif kind == "comment":
            text = action["text"]
            records.add_comment(record.__record_type__, record.id, f"{text['zh']}\n{text['en']}")
        elif kind == "create":
            values = self._values(records, record) if record is not None else {}
            data = {n: fill_value(v, values) for n, v in action["data"].items()}
            if record is not None and "link" in action:
                data[action["link"]] = record.id
            created = records.create(action["record_type"], data)
            return {"created": created.id}
        elif kind == "assign":
            person = self._assignee(records, automation, action, record)
            if person is None:
                raise RuntimeError("nobody in the team can take it now")
            records.update(
                record.__record_type__, record.id, {}, record.version, {"assignee": person}, loaded=record
            )
            return {"assigned": person}
        elif kind == "transition":
            Workflows(records).take(record.__record_type__, record.id, action["name"])
        elif kind == "notify":
            self._notify(records, action, record, key, event)
        elif kind == "webhook":
            self._webhook(records, action, record, key, event)
        elif kind == "report":
            return self._report(records, action, record, key)
        return None

    def _values(self, records: Records, record: Any) -> dict[str, Any]:
        data = records.data(record)
        spec = records.spec(record.__record_type__)
        title = next((data.get(n) for n in ("title", "name", "subject") if data.get(n)), record.number)
        path = f"/records/{spec.name}/show/{record.id}"
        return {
            **data,
            "number": record.number,
            "title": title,
            "state": record.state,
            "link": path,  # inside the app; e-mails make it absolute with ITPM_BASE_URL
        }

    def _told(self, records: Records, record: Any) -> dict[str, Any]:
        """`_values` as a message tells them: numbers grouped (money as its form shows it: ¥26,200.00), a
        choice by its label (in the reader's language)."""
        values = self._values(records, record)
        spec = records.spec(record.__record_type__)
        form = records.catalog.forms.get(spec.name)
        widgets = {e.field: e.widget for e in form.entries} if form is not None else {}
        for name, fld in spec.fields.items():
            value = values.get(name)
            if value is None or isinstance(value, bool):
                continue
            if fld.choices:
                values[name] = next((labels for choice, labels in fld.choices if choice == value), value)
            elif fld.kind in (INTEGER, NUMBER):
                values[name] = format_number(value, widgets.get(name))
        return values

    # --- assignment --------------------------------------------------------

    def _team(self, session: Session, name: str) -> list[Any]:
        """The active members of a team (`itpm.planning.service.Member`), read once per job."""
        from itpm.planning.service import members_of_team

        if name not in self._teams:
            try:
                self._teams[name] = members_of_team(session, name)
            except LookupError as error:
                raise RuntimeError(str(error)) from None
        return self._teams[name]

    def _assignee(
        self, records: Records, automation: AutomationSpec, action: dict[str, Any], record: Any
    ) -> int | None:
        from itpm.automations.assignment import next_assignee
        from itpm.planning.service import candidates as team_candidates

        team_name = None
        if "by" in action:
            value = records.data(record).get(action["by"]["field"])
            team_name = action["by"]["teams"].get(str(value)) if value is not None else None
        team_name = team_name or action.get("team")
        if team_name is None:
            raise RuntimeError(f"no team for {action['by']['field']} = {value!r}, and no default team")
        session = records.session
        people = self._team(session, team_name)
        if not people:
            return None
        now = self.clock()
        batch = self._batch
        if batch is not None and team_name in batch.candidates:
            candidates = batch.candidates[team_name]
        else:
            candidates = team_candidates(
                session, records.catalog, people, now, self.runtime.settings.timezone
            )
            if batch is not None:
                batch.team_read(team_name, candidates, records)
        needed = ()
        if action.get("strategy") == "skills" and action.get("skills_from"):
            skill = records.data(record).get(action["skills_from"])
            needed = (str(skill),) if skill else ()
        strategy = action.get("strategy", "round_robin")
        previous = None
        if batch is not None and automation.name in batch.last_assigned:
            previous = batch.last_assigned[automation.name]
        elif strategy == "round_robin":  # whom this rule gave work to last
            last = session.scalar(
                select(ActionRun.spec)
                .where(
                    ActionRun.automation == automation.name,
                    ActionRun.status == "done",
                    ActionRun.action == "assign",
                )
                .order_by(ActionRun.finished_at.desc(), ActionRun.id.desc())
                .limit(1)
            )
            previous = (last or {}).get("result", {}).get("assigned")
        chosen = next_assignee(
            candidates,
            strategy,
            now=now,
            last_assigned=previous,
            needed_skills=needed,
        )
        if batch is not None and chosen is not None:
            batch.assigned(automation.name, team_name, chosen.id, record, records)
        return chosen.id if chosen else None

    # --- notifications, webhooks, reports ----------------------------------

    def recipients(self, records: Records, recipients: list[Any], record: Any) -> list[Person]:
        """The people a notification goes to (active ones, each once)."""
        from itpm.workflows.engine import Workflows as _Workflows

        session = records.session
        ids: list[int] = []
        for recipient in recipients:
            if recipient == "assignee" and record is not None and record.assignee_id:
                ids.append(record.assignee_id)
            elif recipient == "owner" and record is not None and record.owner_id:
                ids.append(record.owner_id)
            elif recipient == "creator" and record is not None and record.created_by_id:
                ids.append(record.created_by_id)
            elif isinstance(recipient, dict) and "field" in recipient and record is not None:
                ids += _Workflows(records)._field_approvers(
                    records.spec(record.__record_type__), recipient["field"], record
                )
            elif isinstance(recipient, dict) and "role" in recipient:
                ids += self._role_readers(records, recipient["role"], record)
            elif isinstance(recipient, dict) and "user" in recipient:
                found = session.scalar(select(Person.id).where(Person.username == recipient["user"]))
                if found:
                    ids.append(found)
        unique = list(dict.fromkeys(ids))
        return (
            list(session.scalars(select(Person).where(Person.id.in_(unique), Person.active.is_(True))))
            if unique
            else []
        )

    def _role_readers(self, records: Records, role: str, record: Any) -> list[int]:
        """People holding `role` who may read the record (notifications never show a record to whom may not see it)."""
        from flask_appbuilder.security.sqla.models import Role

        people = records.session.scalars(
            select(Person).join(Person.roles).where(Role.name == role, Person.active.is_(True))
        )
        if record is None:
            return [p.id for p in people]
        spec = records.spec(record.__record_type__)
        found = []
        for person in people:
            team = (
                list(records.session.scalars(select(Person.id).where(Person.team_id == person.team_id)))
                if person.team_id
                else []
            )
            if records.access.allows(records.actor_of(person), spec, record, "read", team):
                found.append(person.id)
        return found

    def _notify(
        self, records: Records, action: dict[str, Any], record: Any, key: str, event: OutboxEvent | None
    ) -> None:
        from itpm.notifications import notify

        people = self.recipients(records, action["to"], record)
        values = self._told(records, record) if record is not None else {}
        values.update(
            (event.payload or {}).get("values", {}) if event is not None else {}
        )  # an SLA event's due time
        # each reader is told only the fields their roles show them: one message per set of hidden fields
        flagged = (
            (event.payload or {}).get("new")
            if event is not None and event.kind == "forecast_flagged"
            else None
        )
        audiences: dict[tuple[frozenset[str], tuple[str, str] | None], list[Person]] = {}
        for person in people:
            actor = Actor.of(person)
            hidden = (
                records.access.hidden_fields(actor, records.spec(record.__record_type__))
                if record is not None
                else frozenset()
            )
            told = None if flagged is None else self._flags_told(records, person, hidden, flagged, event)
            audiences.setdefault((hidden, told), []).append(person)
        for (hidden, told), readers in audiences.items():
            shown = {n: HIDDEN_VALUE if n in hidden else v for n, v in values.items()}
            if values.get("title") in [values.get(n) for n in hidden]:  # the title is a hidden field's value
                shown["title"] = values.get("number", "")
            if told is not None:
                shown["flags"] = dict(zip(("en", "zh"), told, strict=True))
            notify(
                records.session,
                self.runtime.settings,
                readers,
                key,
                action["subject"],
                action.get("body", {"en": "", "zh": ""}),
                shown,
                values.get("link", "/"),
                tuple(action.get("channels", ("app", "email"))),
                now=self.clock(),
                automation=key.rsplit(":", 2)[-2] if key.count(":") >= 2 else "",
                kind="sla"
                if event is not None and event.kind in ("sla_warning", "sla_breach")
                else "automation",
            )

    @staticmethod
    def _flags_told(
        records: Records, person: Person, hidden: frozenset[str], flagged: list[str], event: OutboxEvent
    ) -> tuple[str, str]:
        """The new forecast flags as one reader is told them, in English and Chinese.

        A flag's reason names budgets, costs, tasks, milestones, risks and bookings. It is told whole to
        staff who read every field of the project and may read the records it names with their titles;
        anyone else is told what was flagged, in plain words and without a figure (`PLAIN`)."""
        reasons = {
            code: (message, values, named)
            for code, message, values, named in (event.payload or {}).get("reasons", [])
        }
        actor = records.actor_of(person)
        reader = (
            Records(records.session, records.catalog, actor)
            if actor.client_id is None and not hidden
            else None
        )

        def readable(named: list[list[Any]]) -> bool:
            for type_name, record_id in named:
                try:
                    spec = reader.spec(type_name)
                except NotFound:  # a type the reader cannot use (another department's pilot, one removed)
                    return False
                if "title" in reader.access.hidden_fields(actor, spec):
                    return False
                model = reader.model(type_name)
                found = reader.query(type_name).with_only_columns(model.id).where(model.id == record_id)
                if reader.session.scalar(found) is None:
                    return False
            return True

        told = [
            in_both(reasons[code][0], reasons[code][1])
            if reader is not None and code in reasons and readable(reasons[code][2])
            else PLAIN.get(code, {"en": code, "zh": code})
            for code in flagged
        ]
        return "; ".join(t["en"] for t in told), "；".join(t["zh"] for t in told)

    def _webhook(
        self, records: Records, action: dict[str, Any], record: Any, key: str, event: OutboxEvent | None
    ) -> None:
        import os

        from itpm.webhooks import deliver

        data = {
            "event_id": event.id if event else None,
            "changes": (event.payload or {}).get("changes", []) if event else [],
            "record": records.as_json(record) if record is not None else None,
        }
        secret = os.environ.get(action["secret_env"], "") if action.get("secret_env") else None
        platform = action.get("chat")
        if platform:  # a team chat's group robot: a message in its own format, not the event
            from itpm import chat
            from itpm.notifications import absolute_link, fill, in_language

            lang = action.get("lang", "zh")
            values = self._told(records, record) if record is not None else {}
            values.update((event.payload or {}).get("values", {}) if event is not None else {})
            shown = dict(values)  # a group of the company's staff, named by the rule
            if event is not None and event.kind == "forecast_flagged":  # each new flag's reason, in `lang`
                reasons = (event.payload or {}).get("reasons", [])
                shown["flags"] = ("；" if lang == "zh" else "; ").join(
                    in_both(message, figures)[lang] for _code, message, figures, _named in reasons
                )
            link = absolute_link(values.get("link", ""), self.runtime.settings.base_url)
            shown["link"] = link
            data = chat.message(
                platform,
                " ".join(fill(in_language(action["subject"], lang), shown, lang).split()),
                fill(in_language(action.get("body", ""), lang), shown, lang).strip(),
                link,
                lang,
            )
        # the delivery log keeps it from here: retries with backoff (`retry_due`), each attempt recorded
        deliver(
            records.session,
            key=key,
            url=action["url"],
            event=event.kind if event else "schedule",
            data=data,
            secret=secret,
            now=self.clock(),
            allow=self.runtime.settings.webhook_allow,
            chat=platform,
        )

    def _report(self, records: Records, action: dict[str, Any], record: Any, key: str) -> dict[str, Any]:
        """Render the report for each audience (its readers' rights and language), keep each PDF, send it."""
        from itpm.notifications import language_of, notify
        from itpm.reports.service import render_report, report_attachments, store_report

        today = self.clock().astimezone(records.zone).date()
        previous = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        special = {
            "{id}": record.id if record is not None else None,
            "{previous_month}": previous,
            "{this_month}": today.strftime("%Y-%m"),
        }
        params = {
            n: special.get(v, v) if isinstance(v, str) else v for n, v in action.get("params", {}).items()
        }
        people = self.recipients(records, action["to"], record) if "to" in action else []
        # Each reader gets a PDF rendered with rights like theirs (a client's leaves out the risk
        # register its project manager's shows): one rendering per sight and language.
        audiences: dict[tuple[Any, ...], list[Person]] = {}
        for person in people:
            actor = Actor.of(person)
            sight = (actor.roles, actor.department_id, actor.team_id, actor.client_id, language_of(person))
            audiences.setdefault(sight, []).append(person)
        if not audiences:  # nobody to tell: kept with the installation's rights (for admins)
            audiences[((), None, None, None, action.get("lang", "zh"))] = []
        files = {}
        for sight, readers in audiences.items():
            renderer = self._records(records.session, 0, Actor.of(readers[0])) if readers else records
            try:
                rendered = render_report(renderer, action["report"], params, sight[-1], now=self.clock())
            except RecordError as error:  # they may not report on it: they are not sent it
                log.warning("report %s not sent to %s: %s", action["report"], readers, error.message)
                continue
            stored = store_report(renderer, rendered, self.runtime.settings.instance_path)
            records.session.flush()
            files[sight] = stored.id
        records.session.commit()  # the PDFs are kept before anyone is told of them
        title = records.catalog.configuration.get("report", action["report"]).body["title"]
        for number, (sight, readers) in enumerate(audiences.items()):
            lang = sight[-1]
            if readers and sight in files:
                notify(
                    records.session,
                    self.runtime.settings,
                    readers,
                    f"{key}:{lang}:{number}",
                    {"en": "Report: {report}", "zh": "报告：{report}"},
                    {"en": "The report {report} is ready: {link}", "zh": "报告“{report}”已生成：{link}"},
                    {"report": title},
                    f"/reports/file/{files[sight]}",
                    now=self.clock(),
                    automation=key.rsplit(":", 2)[-2],
                    # the PDF goes with the e-mail of who may download it, when it is small enough
                    attachments=report_attachments(
                        records, readers, files[sight], self.runtime.settings.instance_path
                    ),
                )
        return {"files": sorted(files.values())}

    # --- schedules and retries ---------------------------------------------

    def run_due_actions(self) -> int:
        """Delayed actions whose time has come, and failed ones due for a retry."""
        now = self.clock()
        with self.runtime.session() as session:
            due = session.execute(
                select(ActionRun.key, ActionRun.spec).where(
                    ActionRun.due_at.is_not(None),
                    ActionRun.due_at <= now,
                    or_(ActionRun.status == "pending", ActionRun.status == "failed"),
                )
            ).all()
        for key, spec in due:
            self.run_action(key, spec)
        return len(due)

    def run_schedules(self, since: dt.datetime, until: dt.datetime) -> int:
        """Scheduled automations that fire in (since, until]: once per record that holds (or once)."""
        fired = 0
        for automation in self.catalog.automations.values():
            if not automation.enabled or not automation.scheduled:
                continue
            for moment in automation.fire_times(since, until):
                prefix = f"schedule:{moment.isoformat()}"
                if automation.record_type is None:
                    self._run_for_record(automation, None, prefix)
                else:
                    with self.runtime.session() as session:
                        records = self._records(session, 0)
                        model = records.model(automation.record_type)
                        ids = list(
                            session.scalars(records.query(automation.record_type).with_only_columns(model.id))
                        )
                    for record_id in ids:
                        self._run_for_record(automation, None, f"{prefix}:{record_id}", record_id)
                fired += 1
        return fired

    def retry(self, key: str) -> str:
        """An admin's retry of a failed action (the jobs page's button)."""
        with self.runtime.session() as session:
            run = session.scalar(select(ActionRun).where(ActionRun.key == key))
            if run is None:
                return "missing"
            spec = dict(run.spec)
        return self.run_action(key, spec)


#: What an automation may do to be run with others in one transaction: change records, nothing sent.
TOGETHER = frozenset(("set", "assign", "comment", "create", "transition"))


def _writes_records_only(automation: AutomationSpec) -> bool:
    return all(a["do"] in TOGETHER and "after" not in a for a in automation.actions)


class _Abandoned(Exception):
    """An action of a batch could not be done: the batch is done again one action at a time."""


class _Batch:
    """What the actions of a batch (`Automations._run_together`) share: their transaction, the records
    read at its start, each team's candidates with their loads (kept up to date as work is given out),
    the people known nameable, and whom each round-robin rule gave work to last."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.records: dict[int, Records] = {}
        self.loaded: dict[tuple[str, int], Any] = {}
        self.candidates: dict[str, list[Any]] = {}
        self.nameable: set[int] = set()
        self.organisations: dict[int, int | None] = {}
        self.last_assigned: dict[str, int | None] = {}

    def team_read(self, team: str, candidates: list[Any], records: Records) -> None:
        """A team's candidates, read once: they and who of them may be named are known from now on."""
        from itpm.people import nameable_people

        ids = [c.id for c in candidates]
        self.candidates[team] = candidates
        self.nameable |= nameable_people(self.session, records.actor, ids)
        if ids:
            self.organisations.update(
                self.session.execute(select(Person.id, Person.client_id).where(Person.id.in_(ids))).all()
            )

    def assigned(self, automation: str, team: str, person: int, record: Any, records: Records) -> None:
        """The record goes to `person`: their open items grow by one, its former assignee's shrink."""
        import dataclasses

        self.last_assigned[automation] = person
        spec = records.spec(record.__record_type__)
        workflow = records.catalog.workflows.get(spec.name)
        state = workflow.states.get(record.state) if workflow else None
        if state is None or state.final:
            return  # not open work: nobody's load changes
        if "estimate" in spec.planning:  # planned hours move too: read again when next needed
            self.candidates.pop(team, None)
            return
        changes = {person: 1}
        if record.assignee_id is not None and record.assignee_id != person:
            changes[record.assignee_id] = -1
        self.candidates[team] = [
            dataclasses.replace(
                c, load=dataclasses.replace(c.load, open_items=c.load.open_items + changes[c.id])
            )
            if c.id in changes
            else c
            for c in self.candidates[team]
        ]


def _new_run(
    session: Session, key: str, automation: AutomationSpec, action: dict[str, Any], spec: dict[str, Any]
) -> ActionRun:
    run = ActionRun(
        key=key,
        automation=automation.name,
        action=action["do"],
        event_id=spec.get("event_id"),
        status="running",
        spec=spec,
        attempts=0,
    )
    session.add(run)
    return run


def _event(row: OutboxEvent) -> Event:
    return Event(row.id, row.kind, row.record_type, row.record_id, dict(row.payload), row.depth)


def unhandled_events(session: Session, limit: int = 500) -> list[int]:
    """Events no automation has handled yet, oldest first."""
    return list(
        session.scalars(
            select(OutboxEvent.id)
            .where(OutboxEvent.handled_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
    )


def undispatched_events(session: Session, limit: int = 500) -> list[int]:
    return list(
        session.scalars(
            select(OutboxEvent.id)
            .where(and_(OutboxEvent.dispatched_at.is_(None), OutboxEvent.handled_at.is_(None)))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
    )

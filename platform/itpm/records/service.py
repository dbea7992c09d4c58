"""The records service: read, create, change and delete records of any published type.

Every caller (HTML views, the REST API, the command line, workers) goes through
here, so the rules are written once: validation against the type's schema and
form, references that must exist and be visible, numbering, optimistic
locking, history, and the rows and fields the actor may touch (`Access`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _
from sqlalchemy import and_, bindparam, func, insert, or_, select, true, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import Select

from itpm.access import Access, Actor
from itpm.audit.capture import rows_written
from itpm.catalog import Catalog
from itpm.db import utcnow
from itpm.definitions.problems import Problem, pointer
from itpm.models import Comment, Department, OutboxEvent, Person, RecordEvent, StoredFile
from itpm.people import nameable_people, names_of, of_other_organisations
from itpm.records.attachments import acceptable_files, link_files
from itpm.records.fields import (
    CLIENT_TYPE,
    EDITABLE_SYSTEM,
    FILE,
    FILE_LIST,
    ID_MAX,
    REF,
    REF_LIST,
    USER,
    USER_LIST,
    RecordTypeSpec,
)
from itpm.records.list_fields import ListFields
from itpm.records.numbering import next_number, next_numbers, take_ids
from itpm.records.trees import above, with_organisations
from itpm.records.validation import empty, read_only_changes
from itpm.records.values import to_column, to_json
from itpm.sla.tickets import Alert, clock_values, refresh_clocks, send_alerts, sla_summary


class RecordError(Exception):
    """A request about records that cannot be carried out; `status` is its HTTP status."""

    status = 400

    def __init__(self, message: Any, problems: Sequence[Problem] = ()) -> None:
        super().__init__(str(message))
        self.message = message
        self.problems = list(problems)

    def as_json(self) -> dict[str, Any]:
        """The answer's body for the API: the message, and each problem where it is."""
        body: dict[str, Any] = {"message": str(self.message)}
        if self.problems:
            body["errors"] = [p.as_json() for p in self.problems]
        return body


class NotFound(RecordError):
    status = 404


class Forbidden(RecordError):
    status = 403


class Invalid(RecordError):
    status = 422


class Conflict(RecordError):
    """The record changed since the version the change was based on."""

    status = 409

    def __init__(self, message: Any, current: dict[str, Any]) -> None:
        super().__init__(message)
        self.current = current

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "current": self.current}


class Records:
    def __init__(
        self,
        session: Session,
        catalog: Catalog,
        actor: Actor,
        access: Access | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.session = session
        self.catalog = catalog
        self.access = access or catalog.access
        self.actor = with_organisations(session, catalog, self.access, actor)  # once per actor, not per row
        #: How many events led to the changes made here (an automation's changes are one deeper).
        self.depth = 0
        #: Set by a worker that handles the events of its own changes itself: they are claimed as sent.
        self.claimed_at: dt.datetime | None = None
        #: The outbox rows written here.
        self.emitted: list[OutboxEvent] = []
        #: Set by an import of history: its changes go into the records' history but not the outbox, so no
        #: automation, notification or SLA escalation fires for them (`itpm.records.imports`).
        self.silent = False
        #: Set by an import that looked them up with this actor's sight: records (by type) and people known
        #: to be visible and nameable, so that 100,000 rows naming the same few do not ask again row by row.
        self.known_visible: dict[str, set[int]] | None = None
        self.known_nameable: set[int] | None = None
        #: The client organisation of people named (None: staff), and the client and department of parents.
        self.known_organisations: dict[int, int | None] | None = None
        self.known_parents: dict[tuple[str, int], tuple[int | None, int | None]] | None = None
        #: The numbers of client organisations (their SLA terms are by number), by id.
        self.known_client_numbers: dict[int, str] | None = None
        #: The history of the records created here, as written (their SLA clocks read it, not the database).
        self._fresh: dict[tuple[str, int], list[tuple[dt.datetime, list[dict[str, Any]]]]] = {}
        self._team_members: list[int] | None = None
        #: While `create_many` writes: its records' history lines, written together at its end.
        self.history_lines: list[dict[str, Any]] | None = None
        #: Set by an automation job that writes many records in one transaction: an update is not flushed
        #: at once (its rows go to the database together at the job's flush; a stale version fails there).
        self.deferred = False
        #: Set (to a list) by an import that reads its next chunk while this one is written: `create_many`
        #: keeps its inserts here, in order, for `write_waiting` to run (on the import's writing thread,
        #: the session then being that thread's alone). PostgreSQL only: the new records' ids are taken
        #: before their insert there. None: written at once.
        self.waiting_writes: list[Callable[[], None]] | None = None
        self.clock = clock
        self.zone = ZoneInfo(timezone)

    # --- reading ------------------------------------------------------------

    def actor_of(self, person: Person) -> Actor:
        """Someone else as an actor, as the records service for them would see them (their organisations
        below their own looked up): to ask `Access.allows` about a record in hand on their behalf."""
        return with_organisations(self.session, self.catalog, self.access, Actor.of(person))

    def spec(self, type_name: str) -> RecordTypeSpec:
        """A record type the actor can use; a pilot of other departments does not exist for them."""
        spec = self.catalog.record_types.get(type_name)
        if spec is None or not self.access.enabled(self.actor, spec):
            raise NotFound(_("There is no record type %(name)s.", name=type_name))
        return spec

    def model(self, type_name: str) -> Any:
        return self.catalog.models.models[type_name]

    def finished(self, type_name: str, state: str | None) -> bool:
        """Whether `state` is one a record of the type is finished in (closed, done, cancelled...)."""
        workflow = self.catalog.workflows.get(type_name)
        return workflow is not None and state in workflow.final_states

    def title(self, type_name: str, row: Any) -> str:
        """How the record is named (its title, name or subject) as the actor may read it; "" when that
        field is hidden from them or the type has none."""
        spec = self.spec(type_name)
        hidden = self.access.hidden_fields(self.actor, spec)
        name = next((n for n in ("title", "name", "subject") if n in spec.fields and n not in hidden), None)
        return str(getattr(row, spec.fields[name].column) or "") if name else ""

    def scope(self, type_name: str, action: str = "read") -> Any:
        """The condition selecting the rows of `type_name` the actor may `action`."""
        return self.access.rows(self.actor, self.spec(type_name), self.model(type_name).__table__, action)

    def query(self, type_name: str, action: str = "read") -> Select[Any]:
        """The records of `type_name` the actor may `action`, as a query to refine."""
        return select(self.model(type_name)).where(self.scope(type_name, action))

    def list_fields(self, type_name: str) -> ListFields:
        """The fields of `type_name` the actor may list, filter, sort, search and export on."""
        return self.access.list_fields(self.actor, self.spec(type_name))

    def search_condition(self, type_name: str, words: str) -> Any:
        """Records whose number or search fields (those the actor may read) contain every word of `words`."""
        spec = self.spec(type_name)
        model = self.model(type_name)
        columns = [
            model.number,
            *[getattr(model, spec.fields[n].column) for n in self.list_fields(type_name).search],
        ]
        conditions = []
        for word in words.split()[:8]:
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(or_(*[column.ilike(pattern, escape="\\") for column in columns]))
        return and_(*conditions) if conditions else true()

    def lookup_ids(self, type_name: str, ids: Iterable[int]) -> list[tuple[int, str]]:
        """Labels of the records among `ids` the actor may see (a picker's current choices)."""
        try:
            self.spec(type_name)
        except NotFound:
            return []
        model = self.model(type_name)
        rows = self.session.scalars(self.query(type_name).where(model.id.in_(list(ids))))
        return [(row.id, str(row)) for row in rows]

    def lookup(self, type_name: str, words: str, limit: int = 20) -> list[tuple[int, str]]:
        """Records to pick from (a reference picker's type-ahead): visible ones matching `words`."""
        model = self.model(type_name)
        rows = self.session.scalars(
            self.query(type_name)
            .where(self.search_condition(type_name, words))
            .order_by(model.id.desc())
            .limit(limit)
        )
        return [(row.id, str(row)) for row in rows]

    def get(self, type_name: str, record_id: int, action: str = "read", load: Iterable[str] = ()) -> Any:
        """One record (with the relations in `load`); NotFound when it does not exist or the actor may not see it."""
        self.spec(type_name)  # an unknown type (or a pilot of other departments) is NotFound too
        model = self.model(type_name)
        query = (
            self.query(type_name, action)
            .where(model.id == record_id)
            .options(*self.load_options(type_name, load))
        )
        record = self.session.scalar(query)
        if record is None:
            if action != "read" and self.session.scalar(self.query(type_name).where(model.id == record_id)):
                raise Forbidden(_("You may not %(action)s this record.", action=action))
            raise NotFound(_("There is no %(type)s with id %(id)s.", type=type_name, id=record_id))
        return record

    def page(
        self,
        type_name: str,
        where: Iterable[Any] = (),
        order: Sequence[Any] = (),
        page: int = 0,
        page_size: int = 25,
        load: Iterable[str] = (),
        action: str = "read",
    ) -> tuple[int, list[Any]]:
        """A page of records with the total count; the relations in `load` come in one query each."""
        model = self.model(type_name)
        query = self.query(type_name, action)
        for condition in where:
            query = query.where(condition)
        count = self.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        rows = self.session.scalars(
            query.order_by(*order, model.id.desc())
            .offset(page * page_size)
            .limit(page_size)
            .options(*self.load_options(type_name, load))
        ).all()
        return count or 0, list(rows)

    def relations(self, type_name: str) -> list[str]:
        """The related objects a record of `type_name` can load: people, department, client, references."""
        model = self.model(type_name)
        names = ["assignee", "owner", "created_by", "updated_by", "department", "client"]
        names += [f.name for f in self.spec(type_name).fields.values() if f.kind in (REF, USER)]
        return [name for name in names if hasattr(model, name)]

    def load_options(self, type_name: str, names: Iterable[str] | None = None) -> list[Any]:
        """Eager loads of the named relations (all by default): one query each, whatever the page size."""
        model = self.model(type_name)
        known = self.relations(type_name)
        wanted = known if names is None else [n for n in names if n in known]
        return [selectinload(getattr(model, name)) for name in wanted]

    def data(self, record: Any) -> dict[str, Any]:
        """The defined fields of a record in their JSON form (hidden fields left out)."""
        spec = self.spec(record.__record_type__)
        hidden = self.access.hidden_fields(self.actor, spec)
        return {
            name: to_json(field, getattr(record, field.column))
            for name, field in spec.fields.items()
            if name not in hidden
        }

    def as_json(self, record: Any) -> dict[str, Any]:
        """A record as the API gives it: system fields at the top, defined fields under data."""
        return {
            "id": record.id,
            "type": record.__record_type__,
            "number": record.number,
            "state": record.state,
            "version": record.version,
            "department": record.department_id,
            "client": record.client_id,
            "owner": record.owner_id,
            "assignee": record.assignee_id,
            "created_by": record.created_by_id,
            "created_at": to_json_datetime(record.created_at),
            "updated_by": record.updated_by_id,
            "updated_at": to_json_datetime(record.updated_at),
            "flags": record.flags or [],
            "data": self.data(record),
            **(
                {"sla": sla_summary(record, policy, self.clock())}
                if (policy := self.catalog.sla_policies.get(record.__record_type__))
                else {}
            ),
        }

    def history(self, type_name: str, record_id: int) -> list[dict[str, Any]]:
        """The record's changes, newest first, without the fields the actor may not see."""
        self.get(type_name, record_id)
        hidden = {
            pointer(["data", name]) for name in self.access.hidden_fields(self.actor, self.spec(type_name))
        }
        events = list(
            self.session.scalars(
                select(RecordEvent)
                .where(RecordEvent.record_type == type_name, RecordEvent.record_id == record_id)
                .order_by(RecordEvent.id.desc())
            )
        )
        # who acted, by name; a person of an organisation the actor may not see is named by neither
        names = names_of(self.session, self.actor, {e.actor_id for e in events if e.actor_id is not None})
        return [
            {
                "at": to_json_datetime(event.at),
                "actor": event.actor if names.get(event.actor_id, event.actor) else None,
                "actor_name": names.get(event.actor_id, event.actor),
                "action": event.action,
                "note": event.note,
                "changes": [c for c in event.changes if c["path"] not in hidden],
            }
            for event in events
        ]

    def comments(self, type_name: str, record_id: int) -> list[Comment]:
        """The record's comments, oldest first; a client organisation's user never reads an internal one."""
        self.get(type_name, record_id)
        query = select(Comment).where(Comment.record_type == type_name, Comment.record_id == record_id)
        if self.actor.client_id is not None and not self.actor.is_system:
            query = query.where(Comment.internal.is_(False))
        return list(self.session.scalars(query.order_by(Comment.id)))

    def authors(self, comments: Iterable[Comment]) -> dict[int, str | None]:
        """The names the comments' authors are shown with, by author id ("蒋宁 Jiang Ning", not a login
        name); None for a person the actor may not see (`itpm.people`: another organisation's user), who
        is named neither by name nor by login name. One query."""
        return names_of(self.session, self.actor, {c.author_id for c in comments if c.author_id is not None})

    def files(self, type_name: str, record_id: int) -> list[StoredFile]:
        """The record's files the actor may read: its attachments but those of fields hidden from them, and
        the reports rendered with no more rights than theirs (a project manager's report shows the risk
        register, which the client may not read)."""
        self.get(type_name, record_id)
        hidden = self.access.hidden_fields(self.actor, self.spec(type_name))
        files = self.session.scalars(
            select(StoredFile)
            .where(
                StoredFile.record_type == type_name,
                StoredFile.record_id == record_id,
                StoredFile.deleted.is_(False),
            )
            .order_by(StoredFile.id)
        )
        types = list(self.catalog.record_types.values())
        sights: dict[str, bool] = {}  # a report's versions share a few renderers: each judged once

        def readable(stored: StoredFile) -> bool:
            if stored.field in hidden:
                return False
            if stored.rendered_as is None:
                return True
            key = json.dumps(stored.rendered_as, sort_keys=True)
            if key not in sights:
                sights[key] = self.access.sees_all_of(self.actor, Actor.from_json(stored.rendered_as), types)
            return sights[key]

        return [f for f in files if readable(f)]

    def related(
        self, type_name: str, record_id: int, limit: int = 20
    ) -> list[tuple[RecordTypeSpec, str, int, list[Any]]]:
        """Records of other types that refer to this one (a project's tasks and tickets), visible ones only."""
        self.get(type_name, record_id)
        found = []
        for spec, field in self.catalog.referring_fields(type_name):
            if not self.access.enabled(self.actor, spec):
                continue
            if field in self.access.hidden_fields(self.actor, spec):
                continue  # a reference one may not read does not tell which records hold it
            model = self.model(spec.name)
            column = getattr(model, spec.fields[field].column)
            count, rows = self.page(spec.name, where=[column == record_id], page_size=limit)
            if count:
                found.append((spec, field, count, rows))
        return found

    # --- writing ------------------------------------------------------------

    def problems(
        self, type_name: str, data: dict[str, Any], system: dict[str, Any], record_id: int | None = None
    ) -> list[Problem]:
        """What saving `data` would be refused for, without saving anything."""
        spec = self.spec(type_name)
        try:
            if record_id is None:
                self._check_writable(spec, data, system, creating=True)
                values = self._system_values(spec, system)
                self._validate(spec, self._with_defaults(spec, data), values)
            else:
                record = self.get(type_name, record_id, "write")
                stored = self._stored_data(record)
                before = self._system_of(record)
                self._check_writable(spec, data, system, creating=False, stored=stored, before=before)
                values = self._system_values(spec, system, before)
                self._validate(spec, {**stored, **data}, {**before, **values}, stored)
        except RecordError as error:
            return error.problems
        return []

    def create(
        self,
        type_name: str,
        data: dict[str, Any],
        system: dict[str, Any] | None = None,
        imported: dict[str, Any] | None = None,
    ) -> Any:
        """Create a record from `data` (defined fields, JSON form) and `system` fields it may set.

        `imported`: what an import of history keeps as its source says (`number`, `state`, `created_at`,
        `updated_at`, checked by the importer); the history then says "imported" instead of "created".
        """
        spec = self.spec(type_name)
        record, data = self._new_record(spec, data, system, imported)
        if record.number is None:
            when = record.created_at.astimezone(self.zone).date()
            record.number = next_number(self.session, spec.name, spec.numbering, when)
        self.session.add(record)
        # its SLA clocks are read before the insert and go in with it (not an UPDATE after), as in
        # `create_many`; a client organisation's history names its own id: after
        lines = self._creation_lines(spec, record, imported) if spec.name != CLIENT_TYPE else None
        alerts = self._clocks_of_new(spec, record, lines, self.clock()) if lines is not None else None
        self.session.flush()
        self._created(spec, record, data, imported, lines, alerts)
        return record

    def create_many(
        self,
        type_name: str,
        rows: Sequence[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]],
    ) -> list[Any]:
        """Create many records at once (an import's chunk), each row `(data, system, imported)` checked as
        `create` checks one: the answer has, in the rows' order, the new record or the `RecordError` that
        refused the row (a refused row writes nothing). The accepted rows are numbered with one upsert per
        period and inserted together by one executemany (Core, not the ORM's unit of work: the records
        answered are not in the session; read one again to change it); their history lines and SLA clocks
        are written in bulk, and on SQLite their audit entries (PostgreSQL's triggers write its own)."""
        spec = self.spec(type_name)
        made: list[Any] = []
        for data, system, imported in rows:
            try:
                made.append(self._new_record(spec, data, system, imported))
            except RecordError as error:
                made.append(error)
        new = [record for record, _data in (m for m in made if not isinstance(m, RecordError))]
        table = self.model(spec.name).__table__
        take_ids(self.session, table, new)
        # Their history and SLA clocks are worked out before the insert: the clocks' columns go in with it
        # (not one UPDATE per record after). A client organisation's history names its own id: after.
        early = spec.name != CLIENT_TYPE
        # Kept waiting (`waiting_writes`) only where nothing below reads the new rows back: the insert, with
        # the records' numbers (their counter's row stays locked until the commit: it is taken last), and
        # their history.
        later = self._later if early else _at_once

        def numbered_and_inserted() -> None:
            unnumbered = [record for record in new if record.number is None]
            dates = [record.created_at.astimezone(self.zone).date() for record in unnumbered]
            for record, number in zip(
                unnumbered, next_numbers(self.session, spec.name, spec.numbering, dates), strict=True
            ):
                record.number = number
            self._insert_rows(table, new)

        if not early:
            numbered_and_inserted()
        now = self.clock()  # one moment for the chunk's clocks
        written: list[tuple[Any, dict[str, Any], Any, Any]] = []
        for outcome, (_data, _system, imported) in zip(made, rows, strict=True):
            if isinstance(outcome, RecordError):
                continue
            record, data = outcome
            lines = self._creation_lines(spec, record, imported) if early else None
            alerts = self._clocks_of_new(spec, record, lines, now) if lines is not None else None
            written.append((record, data, imported, (lines, alerts)))
        if early:
            later(numbered_and_inserted)
        else:  # a client organisation is its own client (as `_created` says)
            self._own_clients(table, new)
        self.history_lines = []
        try:
            for record, data, imported, (lines, alerts) in written:
                self._created(spec, record, data, imported, lines, alerts)
            if self.history_lines:
                history = self.history_lines
                later(lambda: self.session.execute(insert(RecordEvent), history))  # one executemany
        finally:
            self.history_lines = None
        return [m if isinstance(m, RecordError) else m[0] for m in made]

    def _later(self, write: Callable[[], None]) -> None:
        """Write now, or when `write_waiting` runs if writes are kept waiting (`waiting_writes`)."""
        if self.waiting_writes is None:
            write()
        else:
            self.waiting_writes.append(write)

    def write_waiting(self) -> None:
        """Run the writes kept waiting (`waiting_writes`), in their order; later ones wait again."""
        while self.waiting_writes:
            self.waiting_writes.pop(0)()

    def _clocks_of_new(
        self, spec: RecordTypeSpec, record: Any, lines: list[tuple[Any, ...]], now: dt.datetime
    ) -> list[Alert] | None:
        """The SLA columns of a record not yet inserted, set on it from the history it will have; the
        warnings and breaches to send once it has its id (None without an SLA policy)."""
        policy = self.catalog.sla_policies.get(spec.name)
        if policy is None:
            return None
        values, alerts = clock_values(
            self, record, policy, now, [(at, changes) for _a, changes, at, _e in lines]
        )
        for column, value in values.items():
            setattr(record, column, value)
        return alerts

    def _insert_rows(self, table: Any, records: list[Any]) -> None:
        """Insert new (transient) records with one executemany; each gets its id (taken before on
        PostgreSQL; on SQLite the ones it gave them, in their order). Audited as the ORM's flush audits them."""
        if not records:
            return
        self.session.flush()  # what the session holds goes first, as a flush would order it
        states = [record.__dict__ for record in records]
        # one set of columns for the executemany: those any record sets (no column has a default)
        names = [column.name for column in table.columns if any(column.name in state for state in states)]
        rows = [{name: state.get(name) for name in names} for state in states]
        connection = self.session.connection()
        connection.execute(insert(table), rows)
        if any(row.get("id") is None for row in rows):
            # SQLite gives the rows of one statement consecutive ids (the largest there is, plus one), and
            # no one else writes while this transaction does: the last one's is the connection's last
            # (a RETURNING of them in order would insert them one statement each).
            last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
            for record, row, record_id in zip(
                records, rows, range(last - len(rows) + 1, last + 1), strict=True
            ):
                record.id = row["id"] = record_id
        rows_written(self.session, table, "create", rows)

    def _own_clients(self, table: Any, records: list[Any]) -> None:
        """New client organisations' own client id is their id: one executemany, audited as an update, a
        second version as `create`'s flush of it makes."""
        rows = [{"_id": r.id, "client_id": r.id, "version": r.version + 1} for r in records]
        before = [{"id": record.id, "client_id": record.client_id} for record in records]
        self.session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values(client_id=bindparam("client_id"), version=bindparam("version")),
            rows,
        )
        rows_written(
            self.session,
            table,
            "update",
            [{"id": r["_id"], "client_id": r["client_id"]} for r in rows],
            before,
        )
        for record, row in zip(records, rows, strict=True):
            set_committed_value(record, "client_id", record.id)
            set_committed_value(record, "version", row["version"])

    def _new_record(
        self,
        spec: RecordTypeSpec,
        data: dict[str, Any],
        system: dict[str, Any] | None,
        imported: dict[str, Any] | None,
    ) -> tuple[Any, dict[str, Any]]:
        """A new record of `spec` (not yet added to the session) once every rule allows it: fields the
        actor may write, defaults, validation, the rows they may create, the people of the client; and
        its data with the defaults."""
        if not self.access.can(self.actor, spec, "create"):
            raise Forbidden(_("You may not create %(type)s records.", type=spec.name))
        system = dict(system or {})
        self._check_writable(spec, data, system, creating=True)
        data = self._with_defaults(spec, data)
        values = self._system_values(spec, system)
        self._validate(spec, data, values)
        model = self.model(spec.name)
        imported = imported or {}
        now = imported.get("created_at") or self.clock()
        record = model(
            state=imported.get("state") or self.catalog.initial_state(spec.name),
            version=1,
            created_at=now,
            updated_at=imported.get("updated_at") or now,
            created_by_id=self.actor.id,
            updated_by_id=self.actor.id,
            owner_id=values.get("owner", self.actor.id),
            assignee_id=values.get("assignee"),
            client_id=values.get("client", self.actor.client_id),
            department_id=values.get("department", self.actor.department_id),
            number=imported.get("number"),
        )
        for name, value in data.items():
            field = spec.fields[name]
            setattr(record, field.column, to_column(field, value))
        self._inherit(spec, record)
        self._check_people_of_the_client(spec, record, data, values, {}, None)
        if not self.access.allows(self.actor, spec, record, "create", self.team()):
            raise Forbidden(
                _(
                    "You may not create this record: its client, department or people are outside what you may create."
                )
            )
        return record, data

    def _created(
        self,
        spec: RecordTypeSpec,
        record: Any,
        data: dict[str, Any],
        imported: dict[str, Any] | None,
        lines: list[tuple[Any, ...]] | None = None,
        alerts: list[Alert] | None = None,
    ) -> None:
        """What follows a new record's insert: its files, its history, its events and SLA clocks (read as
        the history says, or already read before the insert: `lines` and their `alerts`)."""
        self._fresh[(spec.name, record.id)] = []
        link_files(self.session, spec, record, data, {})
        if spec.name == CLIENT_TYPE:
            record.client_id = record.id
        for action, changes, at, emit_as in lines or self._creation_lines(spec, record, imported):
            self._event(spec, record, action, changes, emit_as=emit_as, at=at, clocks=False)
        policy = self.catalog.sla_policies.get(spec.name)
        if policy is None:
            return
        if alerts is None:
            refresh_clocks(self, record, self.clock())
        else:
            send_alerts(self, record, policy, alerts)

    def _creation_lines(
        self, spec: RecordTypeSpec, record: Any, imported: dict[str, Any] | None
    ) -> list[tuple[str, list[dict[str, Any]], dt.datetime, str | None]]:
        """A new record's history: (action, changes, moment, event): "created" now, or "imported" when
        its source says, and a second line for the state it came in (its SLA clocks stop there)."""
        changes = [
            {"path": pointer(["data", n]), "old": None, "new": v}
            for n, v in self.data(record).items()
            if v is not None
        ]
        changes += [
            {"path": f"/{n}", "old": None, "new": getattr(record, f"{n}_id")}
            for n in EDITABLE_SYSTEM
            if getattr(record, f"{n}_id") is not None
        ]
        changes.sort(key=lambda change: change["path"])
        if imported is None:
            return [("created", changes, self.clock(), None)]
        # "imported" in its history, when its source says; automations hear of a creation, if asked
        initial = self.catalog.initial_state(spec.name)
        lines = [("imported", changes, record.created_at, "created")]
        if record.state != initial:
            change = {"path": "/state", "old": initial, "new": record.state}
            lines.append(("imported", [change], imported.get("state_at") or record.created_at, None))
        return lines

    def update(
        self,
        type_name: str,
        record_id: int,
        data: dict[str, Any],
        version: int | None,
        system: dict[str, Any] | None = None,
        loaded: Any = None,
        imported: dict[str, Any] | None = None,
    ) -> Any:
        """Change the fields named in `data` (null clears one) of a record last seen at `version`.

        `loaded`: the record, when the caller has just read it in this session (not read again).
        `imported`: an import's `state` and `updated_at`, kept as its source says; the history says "imported".
        """
        spec = self.spec(type_name)
        system = dict(system or {})
        if version is None:
            raise Invalid(
                _("A change must say which version it is based on."),
                [Problem("", "/version", _("is required"))],
            )
        if loaded is not None and loaded.id == record_id and loaded.__record_type__ == type_name:
            record = loaded
            if not self.access.allows(self.actor, spec, record, "write", self.team()):
                raise Forbidden(_("You may not %(action)s this record.", action="write"))
        else:
            record = self.get(type_name, record_id, "write")
        if record.version != version:
            raise Conflict(
                _(
                    "%(number)s was changed by someone else (now version %(version)s); your change was not saved.",
                    number=record.number,
                    version=record.version,
                ),
                self.as_json(record),
            )
        stored = self._stored_data(record)
        before_system = self._system_of(record)
        self._check_writable(spec, data, system, creating=False, stored=stored, before=before_system)
        before = self.data(record)
        merged = {**stored, **data}
        values = {**before_system, **self._system_values(spec, system, before_system)}
        self._validate(spec, merged, values, stored)
        self._check_tree(spec, record, data)
        for name, value in data.items():
            field = spec.fields[name]
            setattr(record, field.column, to_column(field, value))
        for name in EDITABLE_SYSTEM:
            if name in system:
                setattr(record, f"{name}_id", values.get(name))
        self._inherit(spec, record)
        self._check_people_of_the_client(spec, record, data, values, stored, before_system)
        if not self.access.allows(self.actor, spec, record, "write", self.team()):
            raise Forbidden(_("This change would move the record out of what you may change."))
        after = self.data(record)
        changes = [
            {"path": pointer(["data", n]), "old": before.get(n), "new": after.get(n)}
            for n in after
            if before.get(n) != after.get(n)
        ]
        changes += [
            {"path": f"/{n}", "old": before_system[n], "new": getattr(record, f"{n}_id")}
            for n in EDITABLE_SYSTEM
            if before_system[n] != getattr(record, f"{n}_id")
        ]
        imported = imported or {}
        if imported.get("state") and imported["state"] != record.state:
            changes.append({"path": "/state", "old": record.state, "new": imported["state"]})
            record.state = imported["state"]
        if not changes:
            return record
        record.updated_at = imported.get("updated_at") or self.clock()
        record.updated_by_id = self.actor.id
        record.flags = None
        try:
            if not self.deferred:
                self.session.flush()
        except StaleDataError as error:
            self.session.rollback()
            current = self.get(type_name, record_id)
            raise Conflict(
                _(
                    "%(number)s was changed by someone else (now version %(version)s); your change was not saved.",
                    number=current.number,
                    version=current.version,
                ),
                self.as_json(current),
            ) from error
        link_files(self.session, spec, record, data, stored)
        if imported:
            self._event(spec, record, "imported", changes, emit_as="updated", at=imported.get("updated_at"))
        else:
            self._event(spec, record, "updated", changes)
        return record

    def move(self, record: Any, state: str, data: dict[str, Any], action: str, note: str = "") -> Any:
        """Write a transition: the fields it brings or sets, and the new state, as one new version.

        The workflow engine calls this once it has decided the transition may be taken
        (by its roles and conditions, or its approval chain); the data is validated
        like any change, without the actor's write rows (a client's sign-off moves a
        record they may not edit).
        """
        spec = self.spec(record.__record_type__)
        before = self.data(record)
        before_state = record.state
        stored = self._stored_data(record)
        merged = {**stored, **data}
        self._validate(spec, merged, self._system_of(record), stored)
        for name, value in data.items():
            field = spec.fields[name]
            setattr(record, field.column, to_column(field, value))
        record.state = state
        record.updated_at = self.clock()
        record.updated_by_id = self.actor.id
        self.session.flush()
        link_files(self.session, spec, record, data, stored)
        after = self.data(record)
        changes = [{"path": "/state", "old": before_state, "new": state}] if before_state != state else []
        changes += [
            {"path": pointer(["data", n]), "old": before.get(n), "new": after.get(n)}
            for n in after
            if before.get(n) != after.get(n)
        ]
        self._event(spec, record, action, changes, note)
        return record

    def note(self, record: Any, action: str, note: str) -> None:
        """A line in a record's history that changes nothing (an approval decision, a request)."""
        self._event(self.spec(record.__record_type__), record, action, [], note)

    def delete(self, type_name: str, record_id: int, version: int | None = None) -> None:
        spec = self.spec(type_name)
        record = self.get(type_name, record_id, "delete")
        if version is not None and record.version != version:
            raise Conflict(
                _("%(number)s was changed by someone else; it was not deleted.", number=record.number),
                self.as_json(record),
            )
        for other, field in self.catalog.referring_fields(type_name):
            model = self.model(other.name)
            count = self.session.scalar(
                select(func.count()).where(getattr(model, other.fields[field].column) == record_id)
            )
            if count:
                raise Conflict(
                    _(
                        "%(number)s cannot be deleted: %(count)s %(type)s record(s) refer to it.",
                        number=record.number,
                        count=count,
                        type=other.name,
                    ),
                    self.as_json(record),
                )
        self._event(spec, record, "deleted", [{"path": "/number", "old": record.number, "new": None}])
        self.session.delete(record)
        self.session.flush()

    def add_comment(self, type_name: str, record_id: int, body: str, internal: bool = False) -> Comment:
        """A comment on a record; whoever it mentions (@username) and, for a client's reply, the assignee
        are told (`itpm.automations.notices`, from the outbox event written here). An internal one is for
        staff: a client organisation's user may not write one, and is not told of one."""
        record = self.get(type_name, record_id)
        if internal and self.actor.client_id is not None:
            raise Forbidden(_("A client's user cannot write internal comments."))
        text = body.strip()
        if not text:
            raise Invalid(_("A comment cannot be empty."), [Problem("", "/body", _("must not be empty"))])
        if len(text) > 20_000:
            raise Invalid(
                _("A comment may be at most 20,000 characters."), [Problem("", "/body", _("is too long"))]
            )
        comment = Comment(
            record_type=type_name,
            record_id=record_id,
            author_id=self.actor.id,
            author=self.actor.username,
            body=text,
            internal=internal,
        )
        self.session.add(comment)
        self.session.flush()
        self.emit(
            record,
            "commented",
            {
                "comment": comment.id,
                "mentions": mentions(text),
                "by_client": self.actor.client_id is not None,
                **({"internal": True} if internal else {}),
            },
        )
        return comment

    def attach(self, type_name: str, record_id: int, file_ids: Iterable[int]) -> list[StoredFile]:
        """Files the actor has just uploaded for this type join a record they may read, as attachments of
        no field (so they follow the record's own rights, like a comment: whoever may comment may attach).
        Any other id, a file another record holds or someone else's upload, is refused and nothing moves."""
        record = self.get(type_name, record_id)
        ids = [i for i in file_ids if isinstance(i, int) and not isinstance(i, bool)]
        if not ids:
            return []
        fresh = select(StoredFile.id).where(StoredFile.id.in_(ids), StoredFile.record_id.is_(None))
        taken = acceptable_files(self.session, self.actor, type_name, ids) & set(self.session.scalars(fresh))
        missing = sorted(set(ids) - taken)
        if missing:
            raise Invalid(
                _("The files could not be attached."),
                [
                    Problem(
                        "",
                        "/files",
                        _(
                            "file %(ids)s is not a new upload of yours for this record",
                            ids=", ".join(map(str, missing)),
                        ),
                    )
                ],
            )
        rows = list(
            self.session.scalars(select(StoredFile).where(StoredFile.id.in_(ids)).order_by(StoredFile.id))
        )
        for row in rows:
            row.record_type, row.record_id, row.field = type_name, record.id, None
        self.note(record, "attached", ", ".join(r.filename for r in rows))
        self.session.flush()
        return rows

    # --- rules --------------------------------------------------------------

    def team(self) -> list[int]:
        """The ids of the actor's team members (for the team scope of records in hand)."""
        if self._team_members is None:
            team_id = self.actor.team_id
            self._team_members = (
                list(self.session.scalars(select(Person.id).where(Person.team_id == team_id)))
                if team_id
                else []
            )
        return self._team_members

    def check_writable(self, record: Any, data: dict[str, Any]) -> None:
        """Refuse the fields in `data` the actor may not write on `record` (a transition's form asks here)."""
        spec = self.spec(record.__record_type__)
        self._check_writable(spec, data, {}, creating=False, stored=self._stored_data(record))

    def _check_writable(
        self,
        spec: RecordTypeSpec,
        data: dict[str, Any],
        system: dict[str, Any],
        creating: bool,
        stored: dict[str, Any] | None = None,
        before: dict[str, Any] | None = None,
    ) -> None:
        """Refuse fields the actor may not write: by their roles, or marked readOnly in the schema
        (people may send a readOnly value back unchanged; only the system changes one). A system
        field (owner, assignee, client, department) read-only for the actor keeps the value it has
        (`before`), or on creation the one the record would get without it."""
        if not isinstance(data, dict):
            raise Invalid(_("data must be an object."), [Problem("", "/data", _("must be an object"))])
        unknown = [n for n in system if n not in EDITABLE_SYSTEM]  # the state moves by transitions only
        problems = [Problem("", f"/{n}", _("cannot be set")) for n in unknown]
        read_only = self.access.read_only_fields(self.actor, spec) | self.access.hidden_fields(
            self.actor, spec
        )
        unchanged = before if before is not None else self._system_defaults()
        refused = [
            Problem("", pointer(["data", n]), _("is read-only for you")) for n in data if n in read_only
        ]
        refused += [
            Problem("", f"/{n}", _("is read-only for you"))
            for n, value in system.items()
            if n in read_only and n in EDITABLE_SYSTEM and value != unchanged.get(n)
        ]
        problems += refused
        if not self.actor.is_system:
            before = stored if stored is not None else self._with_defaults(spec, {})
            for name, value in data.items():
                if name in spec.fields and name not in read_only:
                    problems += [
                        Problem("", pointer(["data", *where]), _("is read-only"))
                        for where in read_only_changes(
                            spec.fields[name].schema, value, before.get(name), [name]
                        )
                    ]
        if problems:
            forbidden = refused or any(p.path.startswith("/data/") for p in problems)
            raise (Forbidden if forbidden else Invalid)(_("Some fields cannot be written."), problems)

    def _system_defaults(self) -> dict[str, Any]:
        """The system fields a new record gets when the request names none."""
        return {
            "owner": self.actor.id,
            "assignee": None,
            "client": self.actor.client_id,
            "department": self.actor.department_id,
        }

    def _system_of(self, record: Any) -> dict[str, Any]:
        return {n: getattr(record, f"{n}_id") for n in EDITABLE_SYSTEM}

    def _with_defaults(self, spec: RecordTypeSpec, data: dict[str, Any]) -> dict[str, Any]:
        defaults = {
            n: f.schema["default"] for n, f in spec.fields.items() if "default" in f.schema and n not in data
        }
        return {**defaults, **data}

    def _stored_data(self, record: Any) -> dict[str, Any]:
        spec = self.spec(record.__record_type__)
        return {name: to_json(field, getattr(record, field.column)) for name, field in spec.fields.items()}

    def _system_values(
        self, spec: RecordTypeSpec, system: dict[str, Any], before: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The system fields given, checked: people exist, are active and the actor may see them (`itpm.people`),
        a client and department exist. A value the record already has (`before`) is kept as it is."""
        values: dict[str, Any] = {}
        problems = []
        for name in EDITABLE_SYSTEM:
            if name not in system:
                continue
            value = system[name]
            if value is None:
                values[name] = None
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(Problem("", f"/{name}", _("must be an id (an integer)")))
                continue
            if before is not None and value == before.get(name):
                values[name] = value
                continue
            if not 1 <= value <= ID_MAX:  # no such id, and no column could hold it
                problems.append(
                    Problem(
                        "", f"/{name}", _("must be at least %(limit)s; got %(value)s", limit=1, value=value)
                    )
                    if value < 1
                    else Problem(
                        "",
                        f"/{name}",
                        _("must be at most %(limit)s; got %(value)s", limit=ID_MAX, value=value),
                    )
                )
                continue
            if name in ("owner", "assignee") and not self._nameable([value]):
                problems.append(
                    Problem("", f"/{name}", _("there is no active user with id %(id)s", id=value))
                )
            elif name == "department" and self.session.get(Department, value) is None:
                problems.append(Problem("", f"/{name}", _("there is no department with id %(id)s", id=value)))
            elif name == "client" and not self._visible(CLIENT_TYPE, [value]):
                problems.append(Problem("", f"/{name}", _("there is no client with id %(id)s", id=value)))
            values[name] = value
        if problems:
            raise Invalid(_("The record has problems."), problems)
        return values

    def _check_tree(self, spec: RecordTypeSpec, record: Any, data: dict[str, Any]) -> None:
        """A record of a tree (`parent`) is never its own ancestor: its new parent is not itself nor below it."""
        new = data.get(spec.parent) if spec.parent else None
        if (
            new is None
            or not isinstance(new, int)
            or record.id not in above(self.session, self.catalog, spec, new)
        ):
            return
        raise Invalid(
            _("The record has problems."),
            [
                Problem(
                    "",
                    pointer(["data", spec.parent]),
                    _(
                        "cannot be %(number)s itself or a record below it: %(number)s would be its own ancestor",
                        number=record.number,
                    ),
                )
            ],
        )

    def _validate(
        self,
        spec: RecordTypeSpec,
        data: dict[str, Any],
        system: dict[str, Any],
        stored: dict[str, Any] | None = None,
    ) -> None:
        """Check `data` against the type's rules; references must name records the actor may see,
        except those the record already held (`stored`): a change keeps what it does not touch."""
        problems = self.catalog.validators[spec.name].problems(data, system)
        bad = {p.path for p in problems}
        for name, field in spec.fields.items():
            if field.kind not in CHECKED_IDS:
                continue
            value = data.get(name)
            path = pointer(["data", name])
            if empty(value) or any(b == path or b.startswith(f"{path}/") for b in bad):
                continue  # a problem with the value (or an item of it) is told already
            held = (stored or {}).get(name)
            kept = set(held if isinstance(held, list) else [held])
            ids = [i for i in (value if isinstance(value, list) else [value]) if i not in kept]
            if not ids:
                continue
            if field.kind in (REF, REF_LIST):
                missing = sorted(set(ids) - self._visible(field.target, ids))
                if missing:
                    problems.append(
                        Problem(
                            "",
                            path,
                            _(
                                "there is no %(type)s with id %(ids)s",
                                type=field.target,
                                ids=", ".join(map(str, missing)),
                            ),
                        )
                    )
            elif field.kind in (USER, USER_LIST):
                missing = sorted(set(ids) - self._nameable(ids))
                if missing:
                    problems.append(
                        Problem(
                            "",
                            path,
                            _("there is no active user with id %(ids)s", ids=", ".join(map(str, missing))),
                        )
                    )
            elif field.kind in (FILE, FILE_LIST):
                missing = sorted(set(ids) - acceptable_files(self.session, self.actor, spec.name, ids))
                if missing:
                    problems.append(
                        Problem(
                            "",
                            path,
                            _(
                                "file %(ids)s is neither in this field nor a new upload of yours",
                                ids=", ".join(map(str, missing)),
                            ),
                        )
                    )
        if problems:
            raise Invalid(_("The record has problems."), problems)

    def _check_people_of_the_client(
        self,
        spec: RecordTypeSpec,
        record: Any,
        data: dict[str, Any],
        system: dict[str, Any],
        stored: dict[str, Any],
        before: dict[str, Any] | None,
    ) -> None:
        """Refuse a client organisation's user newly named on a record of another organisation (or of none):
        as owner, assignee or in a person field. When the record moves to another client, everyone on it counts."""
        moved = before is not None and before.get("client") != record.client_id
        named: dict[str, list[int]] = {}
        for name in ("owner", "assignee"):
            value = getattr(record, f"{name}_id")
            if value is not None and (moved or (name in system and value != (before or {}).get(name))):
                named[f"/{name}"] = [value]
        for name, field in spec.fields.items():
            if field.kind not in (USER, USER_LIST):
                continue
            value = data.get(name, stored.get(name) if moved else None)
            ids = [i for i in (value if isinstance(value, list) else [value]) if isinstance(i, int)]
            held = stored.get(name)
            kept = set() if moved else set(held if isinstance(held, list) else [held])
            if ids := [i for i in ids if i not in kept]:
                named[pointer(["data", name])] = ids
        everyone = {i for ids in named.values() for i in ids}
        known = self.known_organisations or {}
        if everyone <= known.keys():
            foreign = {
                i
                for i in everyone
                if known[i] is not None and (record.client_id is None or known[i] != record.client_id)
            }
        else:
            foreign = of_other_organisations(self.session, everyone, record.client_id)
        problems = [
            Problem(
                "",
                path,
                _(
                    "user %(ids)s belongs to another client organisation than this record",
                    ids=", ".join(str(i) for i in ids if i in foreign),
                ),
            )
            for path, ids in named.items()
            if foreign & set(ids)
        ]
        if problems:
            raise Invalid(_("The record has problems."), problems)

    def _visible(self, type_name: str | None, ids: Iterable[int]) -> set[int]:
        """Which of `ids` are records of `type_name` the actor may see."""
        if type_name not in self.catalog.record_types or not self.access.enabled(
            self.actor, self.catalog.record_types[type_name]
        ):
            return set()
        ids = set(ids)
        known = (self.known_visible or {}).get(type_name, set()) & ids
        if known == ids:
            return known
        model = self.model(type_name)
        query = self.query(type_name).with_only_columns(model.id).where(model.id.in_(list(ids - known)))
        return known | set(self.session.scalars(query))

    def _nameable(self, ids: Iterable[int]) -> set[int]:
        """Which of `ids` are active people the actor may name (`itpm.people`)."""
        ids = set(ids)
        known = (self.known_nameable or set()) & ids
        return known if known == ids else known | nameable_people(self.session, self.actor, ids - known)

    def _inherit(self, spec: RecordTypeSpec, record: Any) -> None:
        """A record that belongs to another (a task to its project) takes its client and department."""
        if not spec.belongs_to:
            return
        field = spec.fields[spec.belongs_to]
        parent_id = getattr(record, field.column)
        if parent_id is None:
            return
        if self.known_parents is not None and (field.target, parent_id) in self.known_parents:
            record.client_id, record.department_id = self.known_parents[(field.target, parent_id)]
            return
        parent_model = self.model(field.target)
        row = self.session.execute(
            select(parent_model.client_id, parent_model.department_id).where(parent_model.id == parent_id)
        ).one_or_none()
        if row is not None:
            record.client_id, record.department_id = row.client_id, row.department_id
            if self.known_parents is not None:
                self.known_parents[(field.target, parent_id)] = (row.client_id, row.department_id)

    def _event(
        self,
        spec: RecordTypeSpec,
        record: Any,
        action: str,
        changes: list[dict[str, Any]],
        note: str = "",
        emit_as: str | None = None,
        at: dt.datetime | None = None,
        clocks: bool = True,
    ) -> None:
        """A line in the record's history, and the same change in the outbox for automations
        (as `emit_as`: an import's line says "imported", its event "created" or "updated")."""
        changes = sorted(changes, key=lambda change: change["path"])
        if self.actor.via and not note:
            note = self.actor.via
        at = at or self.clock()
        if (spec.name, record.id) in self._fresh:
            self._fresh[(spec.name, record.id)].append((at, changes))
        line = {
            "record_type": spec.name,
            "record_id": record.id,
            "at": at,
            "actor_id": self.actor.id,
            "actor": self.actor.username,
            "action": action,
            "changes": changes,
            "note": note,
        }
        if self.history_lines is not None:
            self.history_lines.append(line)
        else:
            self.session.add(RecordEvent(**line))
        if emit_as or action in ("created", "updated", "deleted"):
            kind = emit_as or action
            self.emit(record, kind, {"action": kind, "changes": changes, "note": note})
        elif action.startswith(
            ("transition ", "rejected ")
        ):  # a move: a transition, or a rejection's way back
            self.emit(
                record,
                "transition",
                {"action": action, "changes": changes, "note": note, "transition": action.split(" ", 1)[1]},
            )
        if clocks and action != "deleted" and self._moves_clocks(spec, action, changes):
            refresh_clocks(self, record, self.clock())

    def _moves_clocks(self, spec: RecordTypeSpec, action: str, changes: list[dict[str, Any]]) -> bool:
        """Whether a change can move the record's SLA clocks: its creation, or a change of state, client or
        of the field that sets the targets. Other edits (an assignee, a description) leave them as they are;
        the scheduler reads them again when a warning or a breach comes due."""
        policy = self.catalog.sla_policies.get(spec.name)
        if policy is None:
            return False
        if action in ("created", "imported"):
            return True
        moving = {"/state", "/client", f"/data/{policy.priority_field}"}
        return any(change["path"] in moving for change in changes)

    def fresh_history(self, record: Any) -> list[tuple[dt.datetime, list[dict[str, Any]]]] | None:
        """The history (moment, changes) of a record created by this service, oldest first; None for others."""
        return self._fresh.get((record.__record_type__, record.id))

    def forget_fresh(self) -> None:
        """Let go of the histories kept (an import does after each chunk: memory stays flat)."""
        self._fresh.clear()

    def emit(self, record: Any, kind: str, payload: dict[str, Any]) -> None:
        """Put an event about the record in the outbox, in this transaction: it is never lost, nor sent unsaved.

        Nothing when the changes are `silent` (an import of history that asked for no automations)."""
        if self.silent:
            return
        row = OutboxEvent(
            kind=kind,
            record_type=record.__record_type__,
            record_id=record.id,
            payload={
                **payload,
                "number": record.number,
                "state": record.state,
                "actor": self.actor.username,
                "actor_id": self.actor.id,
            },
            depth=self.depth,
            created_at=self.clock(),
            dispatched_at=self.claimed_at,
        )
        self.session.add(row)
        self.emitted.append(row)
        if self.claimed_at is None:
            self.session.info["itpm_outbox"] = True  # the app's dispatcher sends it after the commit


#: The kinds of field whose values are ids that must name something the actor may use.
CHECKED_IDS = frozenset({REF, REF_LIST, USER, USER_LIST, FILE, FILE_LIST})

#: "@username" in a comment: a name of letters, digits, _, . and -, not inside an e-mail address.
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_][A-Za-z0-9_.\-]{0,63})")


def mentions(text: str) -> list[str]:
    """The usernames a comment mentions, each once, in order (a sentence's full stop is not a name's)."""
    return list(dict.fromkeys(name.rstrip(".-") for name in MENTION.findall(text)))[:20]


def to_json_datetime(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _at_once(write: Callable[[], None]) -> None:
    write()

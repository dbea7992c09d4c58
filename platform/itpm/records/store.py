"""Storage of records: a real table per record type, and its model, built per revision.

`RecordModels` turns the published record types of one definitions revision
into SQLAlchemy tables and mapped classes, in a registry of their own (a new
revision never mutates the classes an older app still serves). The tables
themselves are created and altered when a record type is published
(`itpm.records.schema_changes`), never when a model is built.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, foreign, registry, relationship

from itpm.db import JSONType, UTCDateTime
from itpm.models import Department, Person, StoredFile
from itpm.records.fields import (
    BOOLEAN,
    CLIENT_TYPE,
    DATE,
    DATETIME,
    ENUM,
    FILE,
    INTEGER,
    NUMBER,
    REF,
    RICHTEXT,
    TEXT,
    USER,
    FieldSpec,
    RecordTypeSpec,
)

#: Indexed system columns of every record table.
SYSTEM_INDEXES = (
    "state",
    "client_id",
    "department_id",
    "assignee_id",
    "owner_id",
    "created_at",
    "updated_at",
    "sla_due",
    "sla_next_check",
)


def constraint_name(prefix: str, table: str, column: str) -> str:
    """An index or constraint name within PostgreSQL's 63 characters, stable for its inputs."""
    name = f"{prefix}_{table}_{column}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:54]}_{digest}"


def column_type(field: FieldSpec) -> Any:
    if field.kind in (TEXT, RICHTEXT, ENUM):
        return Text()
    if field.kind == INTEGER:
        return BigInteger()
    if field.kind == NUMBER:
        return Numeric(20, 4, asdecimal=False)
    if field.kind == BOOLEAN:
        return Boolean()
    if field.kind == DATE:
        return Date()
    if field.kind == DATETIME:
        return UTCDateTime()
    if field.kind in (REF, USER, FILE):
        return Integer()
    return JSONType


def field_column(field: FieldSpec) -> Column:
    """The column of a defined field; references carry their foreign key."""
    foreign_key = None
    if field.kind == REF:
        foreign_key = ForeignKey(f"rec_{field.target}.id")
    elif field.kind == USER:
        foreign_key = ForeignKey(Person.__table__.c.id)
    elif field.kind == FILE:
        foreign_key = ForeignKey(StoredFile.__table__.c.id)
    args = [foreign_key] if foreign_key is not None else []
    return Column(field.column, column_type(field), *args, nullable=True)


def system_columns() -> list[Column]:
    users = Person.__table__.c.id
    return [
        Column("id", Integer, primary_key=True),
        Column("number", String(64), nullable=True),
        Column("state", String(40), nullable=False),
        Column("version", Integer, nullable=False),
        Column("department_id", Integer, ForeignKey(Department.__table__.c.id), nullable=True),
        Column("client_id", Integer, nullable=True),
        Column("owner_id", Integer, ForeignKey(users), nullable=True),
        Column("assignee_id", Integer, ForeignKey(users), nullable=True),
        Column("created_by_id", Integer, ForeignKey(users), nullable=True),
        Column("updated_by_id", Integer, ForeignKey(users), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        #: Problems found when a stricter definition was published: [{"path", "message"}].
        Column("flags", JSONType, nullable=True),
        *sla_columns(),
    ]


def sla_columns() -> list[Column]:
    """The SLA clocks of a record whose type has an SLA policy (`itpm.sla.tickets`), empty otherwise."""
    return [
        #: When the running clock is due (first response, then resolution); empty while paused or stopped.
        Column("sla_due", UTCDateTime(), nullable=True),
        #: on_track, at_risk (warned), paused, breached, met.
        Column("sla_status", String(20), nullable=True),
        Column("sla_breached", Boolean, nullable=True),
        #: Each clock's reading: {"first_response": {"target", "elapsed", "paused", "due", ...}, ...}
        Column("sla_clocks", JSONType, nullable=True),
        #: When the clocks must be read again to warn or escalate in time (the scheduler's index).
        Column("sla_next_check", UTCDateTime(), nullable=True),
    ]


def index_columns(spec: RecordTypeSpec) -> list[str]:
    """The columns of a record table that get an index."""
    columns = list(SYSTEM_INDEXES)
    for name in spec.indexed:
        field = spec.fields.get(name)
        column = field.column if field else _system_column(name)
        if column and column not in columns:
            columns.append(column)
    for field in spec.fields.values():  # references are joined on: always indexed
        if field.kind == REF and field.column not in columns:
            columns.append(field.column)
    return columns


def _system_column(name: str) -> str | None:
    from itpm.records.fields import SYSTEM

    return SYSTEM[name][0] if name in SYSTEM else None


def build_table(spec: RecordTypeSpec, metadata: MetaData) -> Table:
    table = Table(
        spec.table_name,
        metadata,
        *system_columns(),
        *(field_column(f) for f in spec.fields.values()),
    )
    # What the audit capture seals under the data subject's key (`itpm.privacy.keys`): columns, and whose.
    personal = tuple(sorted(spec.fields[name].column for name in spec.personal_fields))
    table.info["personal"] = (personal, spec.subject_column) if personal else None
    Index(constraint_name("uq", spec.table_name, "number"), table.c.number, unique=True)
    for column in index_columns(spec):
        Index(constraint_name("ix", spec.table_name, column), table.c[column])
    return table


class RecordModels:
    """The tables and mapped classes of the record types of one revision."""

    def __init__(self, specs: Iterable[RecordTypeSpec]) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.registry = registry(metadata=MetaData())

        class Base(DeclarativeBase):
            registry = self.registry
            metadata = self.registry.metadata

        self.base = Base
        self.tables = {name: build_table(spec, self.registry.metadata) for name, spec in self.specs.items()}
        self.models: dict[str, type] = {}
        for name, spec in self.specs.items():
            self.models[name] = self._model(spec)
        self.registry.configure(cascade=True)

    def _model(self, spec: RecordTypeSpec) -> type:
        table = self.tables[spec.name]
        attributes: dict[str, Any] = {
            "__table__": table,
            "__mapper_args__": {"version_id_col": table.c.version},
            "__record_type__": spec.name,
            "__str__": _label(spec),
            "department": relationship(Department, foreign_keys=[table.c.department_id], lazy="raise_on_sql"),
        }
        for system in ("owner", "assignee", "created_by", "updated_by"):
            attributes[system] = relationship(
                Person, foreign_keys=[table.c[f"{system}_id"]], lazy="raise_on_sql"
            )
        if CLIENT_TYPE in self.specs:
            attributes["client"] = relationship(
                f"Record_{CLIENT_TYPE}",
                primaryjoin=lambda: foreign(table.c.client_id) == self.tables[CLIENT_TYPE].c.id,
                # a customer is its own client: without remote_side the mapper reads that as a list
                remote_side=[self.tables[CLIENT_TYPE].c.id] if spec.name == CLIENT_TYPE else None,
                uselist=False,
                viewonly=True,
                lazy="raise_on_sql",
            )
        for field in spec.fields.values():
            if field.kind == REF and field.target in self.specs:
                attributes[field.name] = relationship(
                    f"Record_{field.target}",
                    foreign_keys=[table.c[field.column]],
                    remote_side=[self.tables[field.target].c.id] if field.target == spec.name else None,
                    lazy="raise_on_sql",
                )
            elif field.kind == USER:
                attributes[field.name] = relationship(
                    Person, foreign_keys=[table.c[field.column]], lazy="raise_on_sql"
                )
        return type(f"Record_{spec.name}", (self.base,), attributes)


#: The models of the last few sets of record type definitions, by their text: the mapped classes depend
#: on nothing else (no engine, no app), so every app of the same definitions shares them. Building them
#: takes about a second; an app is built per revision in each process, and per test.
_SHARED: OrderedDict[str, RecordModels] = OrderedDict()
_SHARED_SIZE = 4
_SHARED_LOCK = threading.Lock()


def shared_models(bodies: list[dict[str, Any]], specs: Mapping[str, RecordTypeSpec]) -> RecordModels:
    """The models of these record type definitions (`bodies`, whose specs are `specs`), built once."""
    key = hashlib.sha256(
        json.dumps(sorted(bodies, key=lambda body: body["name"]), sort_keys=True, default=str).encode()
    ).hexdigest()
    with _SHARED_LOCK:
        models = _SHARED.get(key)
        if models is None:
            models = _SHARED[key] = RecordModels(specs.values())
            while len(_SHARED) > _SHARED_SIZE:
                _SHARED.popitem(last=False)
        _SHARED.move_to_end(key)
        return models


def _label(spec: RecordTypeSpec) -> Any:
    """How a record reads where it is named: its number and its title (or name)."""
    display = next((n for n in ("title", "name", "subject") if n in spec.fields), None)

    def label(record: Any) -> str:
        text = getattr(record, display, None) if display else None
        return f"{record.number} {text}" if text else str(record.number or record.id)

    return label

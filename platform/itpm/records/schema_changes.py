"""What publishing record types does to their tables, planned, previewed and applied.

A publish creates the tables of new types and alters existing ones in the
publishing transaction: new fields become columns; a removed field keeps its
column and data until an admin purges it; a renamed field (x-renamed-from)
carries its data over; a type change among the defined conversions copies the
data into a new column (the old one is kept, archived); any other type change
is refused, naming the field. Records that break a stricter rule are counted
and sampled before publishing, and flagged when the admin proceeds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import Column, MetaData, Table, inspect, literal_column, null, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, CreateColumn, CreateIndex, CreateTable

from itpm.definitions.checks import Configuration
from itpm.definitions.problems import DefinitionError, Problem, pointer
from itpm.records.fields import RecordTypeSpec
from itpm.records.store import build_table, constraint_name, field_column, index_columns
from itpm.records.validation import RecordValidator

#: Type changes that keep the data, with how each backend converts a value.
CONVERSIONS: dict[tuple[str, str], dict[str, str]] = {
    ("integer", "number"): {"postgresql": "CAST({old} AS NUMERIC(20, 4))", "sqlite": "CAST({old} AS REAL)"},
    ("integer", "text"): {"postgresql": "CAST({old} AS TEXT)", "sqlite": "CAST({old} AS TEXT)"},
    ("number", "text"): {"postgresql": "CAST(trim_scale({old}) AS TEXT)", "sqlite": "CAST({old} AS TEXT)"},
    ("boolean", "text"): {"postgresql": "CASE WHEN {old} THEN 'true' WHEN NOT {old} THEN 'false' END", "sqlite": "CASE {old} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"},
    ("date", "text"): {"postgresql": "to_char({old}, 'YYYY-MM-DD')", "sqlite": "{old}"},
    ("date", "datetime"): {"postgresql": "CAST({old} AS TIMESTAMP)", "sqlite": "{old} || ' 00:00:00.000000'"},
    ("text", "json"): {"postgresql": "CASE WHEN {old} IS NULL THEN NULL ELSE jsonb_build_array({old}) END", "sqlite": "CASE WHEN {old} IS NULL THEN NULL ELSE json_array({old}) END"},
}  # fmt: skip

#: The storage a column's database type tells (to reuse a column a removed field left).
_STORAGE_OF_SQL = {
    "TEXT": "text", "VARCHAR": "text", "BIGINT": "integer", "INTEGER": "ref", "NUMERIC": "number",
    "REAL": "number", "BOOLEAN": "boolean", "DATE": "date", "DATETIME": "datetime",
    "TIMESTAMP": "datetime", "TIMESTAMP WITHOUT TIME ZONE": "datetime", "JSON": "json", "JSONB": "json",
}  # fmt: skip


@dataclass
class Violations:
    count: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TypePlan:
    """What publishing one record type will do."""

    name: str
    create: bool = False
    steps: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    violations: Violations = field(default_factory=Violations)
    # (sql ops) applied in order
    ops: list[tuple[str, Any]] = field(default_factory=list)
    #: Where each field's value is before the publish: an SQL expression over the table as it
    #: is, or None when the publish adds its column (the preview reads these, never new columns).
    sources: dict[str, str | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "record_type": self.name,
            "create": self.create,
            "steps": [str(s) for s in self.steps],
            "problems": [p.as_json() for p in self.problems],
            "violations": {"count": self.violations.count, "sample": self.violations.sample},
        }


def _specs(configuration: Configuration) -> dict[str, RecordTypeSpec]:
    return {d.name: RecordTypeSpec(d.body) for d in configuration.of_kind("record_type")}


def plan_changes(connection: Connection, before: Configuration, after: Configuration) -> list[TypePlan]:
    """What publishing `after` over `before` does to the record tables (nothing is changed)."""
    old_specs, new_specs = _specs(before), _specs(after)
    inspector = inspect(connection)
    existing_tables = set(inspector.get_table_names())
    metadata = MetaData()  # every table of `after`, so new tables' references resolve
    tables = {name: build_table(spec, metadata) for name, spec in new_specs.items()}
    plans = []
    for name, spec in new_specs.items():
        old = old_specs.get(name)
        if old is not None and old.body == spec.body:
            continue
        plan = TypePlan(name)
        file = f"schemas/{name}.json"
        if spec.table_name not in existing_tables:
            plan.create = True
            plan.steps.append(_("create the table %(table)s", table=spec.table_name))
            plan.ops.append(("create", tables[name]))
        else:
            columns = {c["name"]: c for c in inspector.get_columns(spec.table_name)}
            _plan_columns(plan, spec, old, columns, file, connection.dialect.name)
            _plan_indexes(plan, spec, {i["name"] for i in inspector.get_indexes(spec.table_name)})
        plans.append(plan)
    return plans


def _plan_columns(
    plan: TypePlan,
    spec: RecordTypeSpec,
    old: RecordTypeSpec | None,
    columns: dict[str, Any],
    file: str,
    dialect: str,
) -> None:
    old_fields = old.fields if old else {}

    def archive(column: str) -> str:
        target = f"{column}__old{len([c for c in columns if c.startswith(column + '__old')]) + 1}"
        plan.ops.append(("rename", (column, target)))
        columns[target] = columns.pop(column)
        return target

    for name, new in spec.fields.items():
        path = pointer(["schema", "properties", name])
        renamed_from = new.schema.get("x-renamed-from")
        previous = old_fields.get(renamed_from) if renamed_from else old_fields.get(name)
        if renamed_from and previous is not None and previous.column in columns:
            if previous.storage != new.storage:
                plan.problems.append(
                    Problem(file, path, _("a renamed field cannot change its type in the same publish"))
                )
                continue
            if new.column in columns:
                archive(new.column)
            plan.ops.append(("rename", (previous.column, new.column)))
            plan.sources[name] = _quoted(previous.column)
            columns[new.column] = columns.pop(previous.column)
            plan.steps.append(
                _("rename the field %(old)s to %(new)s, keeping its data", old=renamed_from, new=name)
            )
            continue
        if previous is not None and new.column in columns and previous.storage != new.storage:
            conversion = CONVERSIONS.get((previous.storage, new.storage))
            if (
                previous.kind != new.kind
                and previous.target != new.target
                and "ref" in (previous.storage, new.storage)
            ):
                conversion = None
            if conversion is None:
                plan.problems.append(
                    Problem(
                        file,
                        pointer(["schema", "properties", name, "type"]),
                        _(
                            "the field %(name)s cannot change from %(old)s to %(new)s; allowed changes: %(allowed)s",
                            name=name,
                            old=previous.kind,
                            new=new.kind,
                            allowed=", ".join(f"{a}→{b}" for a, b in CONVERSIONS),
                        ),
                    )
                )
                continue
            plan.sources[name] = conversion[dialect].format(old=_quoted(new.column))
            old_column = archive(new.column)
            plan.ops.append(("add", field_column(new)))
            plan.ops.append(("convert", (new.column, conversion[dialect].format(old=old_column))))
            plan.steps.append(
                _(
                    "convert the field %(name)s from %(old)s to %(new)s",
                    name=name,
                    old=previous.kind,
                    new=new.kind,
                )
            )
            continue
        if previous is not None and previous.kind in ("ref", "ref_list") and previous.target != new.target:
            plan.problems.append(
                Problem(
                    file,
                    pointer(["schema", "properties", name, "x-ref"]),
                    _("a reference cannot change the record type it refers to"),
                )
            )
            continue
        if new.column in columns:
            leftover = _STORAGE_OF_SQL.get(str(columns[new.column]["type"]).split("(")[0].upper())
            expected = "ref" if new.storage == "ref" else new.storage
            if previous is None and leftover is not None and leftover != expected:
                archive(new.column)
            else:
                if previous is None:
                    plan.steps.append(_("bring back the kept data of the field %(name)s", name=name))
                plan.sources[name] = _quoted(new.column)
                continue
        plan.sources[name] = None
        plan.ops.append(("add", field_column(new)))
        plan.steps.append(_("add the field %(name)s", name=name))
    for name in old_fields:
        if name not in spec.fields and not any(
            f.schema.get("x-renamed-from") == name for f in spec.fields.values()
        ):
            plan.steps.append(_("stop showing the field %(name)s; its data is kept until purged", name=name))


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _plan_indexes(plan: TypePlan, spec: RecordTypeSpec, existing: set[str]) -> None:
    wanted = {constraint_name("ix", spec.table_name, c): c for c in index_columns(spec)}
    for name, column in wanted.items():
        if name not in existing:
            plan.ops.append(("index", (name, column)))
    for name in existing:
        if (
            name.startswith(constraint_name("ix", spec.table_name, "")[:-1])
            and name not in wanted
            and not name.startswith("uq_")
        ):
            plan.ops.append(("drop_index", name))


def apply_plans(session: Session, plans: Iterable[TypePlan]) -> None:
    connection = session.connection()
    dialect = connection.dialect.name
    plans = list(plans)
    foreign_keys = []
    for plan in plans:
        for op, arg in plan.ops:
            if op == "create":
                if dialect == "sqlite":
                    connection.execute(CreateTable(arg))
                else:
                    connection.execute(CreateTable(arg, include_foreign_key_constraints=[]))
                    foreign_keys.extend(arg.foreign_key_constraints)
                for index in arg.indexes:
                    connection.execute(CreateIndex(index))
            elif op == "rename":
                old, new = arg
                connection.execute(text(f'ALTER TABLE rec_{plan.name} RENAME COLUMN "{old}" TO "{new}"'))
            elif op == "add":
                _add_column(connection, f"rec_{plan.name}", arg)
            elif op == "convert":
                column, expression = arg
                connection.execute(text(f'UPDATE rec_{plan.name} SET "{column}" = {expression}'))
            elif op == "index":
                name, column = arg
                connection.execute(text(f'CREATE INDEX "{name}" ON rec_{plan.name} ("{column}")'))
            elif op == "drop_index":
                connection.execute(text(f'DROP INDEX "{arg}"'))
    for constraint in foreign_keys:
        connection.execute(AddConstraint(constraint))


def _add_column(connection: Connection, table_name: str, column: Column) -> None:
    """ALTER TABLE ... ADD COLUMN, with its reference inline on SQLite (which cannot add one later)."""
    table = Table(table_name, MetaData(), column._copy())
    added = table.c[column.name]
    ddl = str(CreateColumn(added).compile(dialect=connection.dialect))
    fk = next(iter(added.foreign_keys), None)
    if fk is not None and connection.dialect.name == "sqlite":
        ddl += f" REFERENCES {fk.target_fullname.rsplit('.', 1)[0]} (id)"
    connection.execute(text(f"ALTER TABLE {table_name} ADD COLUMN {ddl}"))
    if fk is not None and connection.dialect.name != "sqlite":
        target_table, target_column = fk.target_fullname.rsplit(".", 1)
        name = constraint_name("fk", table_name, column.name)
        connection.execute(
            text(
                f'ALTER TABLE {table_name} ADD CONSTRAINT "{name}" FOREIGN KEY ("{column.name}") REFERENCES {target_table} ({target_column})'
            )
        )


def find_violations(
    session: Session,
    spec: RecordTypeSpec,
    validator: RecordValidator,
    flag: bool,
    sample: int = 5,
    sources: dict[str, str | None] | None = None,
) -> Violations:
    """Records that break `spec`'s rules: counted, sampled, and (with `flag`) flagged until edited.

    With `sources` (a plan's, before it is applied), each field is read from where its value is
    now, and a field whose column the publish would add reads as empty.
    """
    table = build_table(spec, MetaData())
    columns = [table.c.id, table.c.number]
    for f in spec.fields.values():
        if sources is None or f.name not in sources:
            columns.append(table.c[f.column])
        elif sources[f.name] is None:
            columns.append(null().label(f.column))
        else:
            columns.append(literal_column(sources[f.name], type_=table.c[f.column].type).label(f.column))
    found = Violations()
    flagged: dict[int, list[dict[str, str]]] = {}
    clear: list[int] = []
    for row in session.execute(select(*columns).order_by(table.c.id)).mappings():
        data = {f.name: row[f.column] for f in spec.fields.values()}
        problems = validator.stored_problems(data)
        if problems:
            found.count += 1
            as_json = [{"path": p.path, "message": str(p.message)} for p in problems]
            if len(found.sample) < sample:
                found.sample.append({"id": row["id"], "number": row["number"], "problems": as_json})
            flagged[row["id"]] = as_json
        else:
            clear.append(row["id"])
    if flag:
        for record_id, problems in flagged.items():
            session.execute(update(table).where(table.c.id == record_id).values(flags=problems))
        if clear:
            session.execute(
                update(table).where(table.c.id.in_(clear), table.c.flags.is_not(None)).values(flags=None)
            )
    return found


def preview(session: Session, before: Configuration, after: Configuration) -> list[TypePlan]:
    """What publishing would do, with the records each changed type would flag; nothing is written."""
    plans = plan_changes(session.connection(), before, after)
    specs = _specs(after)
    for plan in plans:
        if not plan.create and not plan.problems:
            spec = specs[plan.name]
            plan.violations = find_violations(
                session, spec, RecordValidator(spec), flag=False, sources=plan.sources
            )
    return plans


def publish_hook(session: Session, before: Configuration, after: Configuration) -> None:
    """The registry's publish hook: alter the record tables, or refuse the publish."""
    plans = plan_changes(session.connection(), before, after)
    problems = [p for plan in plans for p in plan.problems]
    if problems:
        raise DefinitionError(problems)
    apply_plans(session, plans)
    specs = _specs(after)
    for plan in plans:
        if not plan.create:
            spec = specs[plan.name]
            find_violations(session, spec, RecordValidator(spec), flag=True)


def kept_columns(connection: Connection, spec: RecordTypeSpec) -> list[str]:
    """Columns of a record table that no field uses any more: data kept from removed or converted fields."""
    inspector = inspect(connection)
    if spec.table_name not in inspector.get_table_names():
        return []
    used = {c.name for c in build_table(spec, MetaData()).columns}
    columns = inspector.get_columns(spec.table_name)
    nulled = set()
    if connection.dialect.name == "sqlite":  # reference columns SQLite could only empty: nothing kept in them
        for column in (c["name"] for c in columns if c["name"] not in used):
            if connection.execute(text(f'SELECT count("{column}") FROM {spec.table_name}')).scalar() == 0:
                nulled.add(column)
    return sorted(c["name"] for c in columns if c["name"] not in used and c["name"] not in nulled)


def purge_columns(session: Session, spec: RecordTypeSpec, columns: Iterable[str]) -> list[str]:
    """Delete the kept data of removed fields (the columns named, which must be kept ones)."""
    connection = session.connection()
    kept = set(kept_columns(connection, spec))
    unknown = sorted(set(columns) - kept)
    if unknown:
        raise DefinitionError(
            [
                Problem(
                    f"schemas/{spec.name}.json",
                    "/",
                    _("%(names)s hold no kept data of %(type)s", names=", ".join(unknown), type=spec.name),
                )
            ]
        )
    inspector = inspect(connection)
    indexes = inspector.get_indexes(spec.table_name)
    references = {c for fk in inspector.get_foreign_keys(spec.table_name) for c in fk["constrained_columns"]}
    purged = []
    for column in columns:
        for index in indexes:
            if column in index["column_names"]:
                connection.execute(text(f'DROP INDEX "{index["name"]}"'))
        if connection.dialect.name == "sqlite" and column in references:
            # SQLite cannot drop a column that holds a reference; its data goes, the empty column stays.
            connection.execute(text(f'UPDATE {spec.table_name} SET "{column}" = NULL'))
        else:
            connection.execute(text(f'ALTER TABLE {spec.table_name} DROP COLUMN "{column}"'))
        purged.append(column)
    return purged

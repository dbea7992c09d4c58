"""Who is acting, and what they may see and do: the one place every path asks.

Views, the API, exports, reports, pickers and notifications all reach records
through `itpm.records.service.Records`, which asks `Access` for the rows an
actor may touch (as a SQL condition, or for one record in hand) and the fields
they may read or write. The rules are the published `role` definitions:

- per record type (or `*` for every type without its own entry), each action
  (read, create, write, delete, approve, export, import, report) applies to rows:
  own (created by the person), assigned (to them), team (created by, owned by or
  assigned to someone of their team), department, client (their client
  organisation), client_tree (their client organisation and the organisations
  below it: its child organisations, theirs, and so on), all; whoever may read a
  type also reads the records whose approval chain asks them to decide;
- per field: hidden, or read-only (the system references owner, assignee,
  client and department may be read-only too);
- abilities over the whole system (manage definitions, users, audit, jobs).

What a client may see is declared by the record types, for every role at once:
a client organisation's user reads only the records whose `client_visible` field
is true (when the type names one), and never a field marked `x-internal`.

A person with several roles gets the union of their rows, and of each field
the least restriction among the roles that let them read the type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from itpm.records.fields import EDITABLE_SYSTEM, RecordTypeSpec
from itpm.records.list_fields import ListFields, list_fields

ACTIONS = ("read", "create", "write", "delete", "approve", "export", "import", "report")
SCOPES = ("own", "assigned", "team", "department", "client", "client_tree", "all")
ABILITIES = (
    "manage_definitions",
    "manage_users",
    "read_audit",
    "manage_personal_data",  # subject-access exports and erasures of people (`itpm.privacy`)
    "administer_jobs",
    "manage_department",
    "view_portal",  # open the client portal as a client organisation sees it (read-only)
)
HIDDEN, READ_ONLY = "hidden", "read_only"


@dataclass(frozen=True)
class Actor:
    """A person (or the system) acting: identity and where they belong."""

    id: int | None
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    department_id: int | None = None
    team_id: int | None = None
    client_id: int | None = None
    #: The name of the person's department (pilots are enabled by department name).
    department: str | None = None
    #: The installation itself (automations, commands): every row, field and ability.
    is_system: bool = False
    #: An integration token's scope, (record type, action) pairs: the person's rights, no more
    #: (and no abilities). None: the person's whole rights.
    limits: frozenset[tuple[str, str]] | None = None
    #: Where the actor's changes come from, for the records' history ("integration alertmanager").
    via: str = ""
    #: The client organisations the `client_tree` scope reads: the person's own and every one below it
    #: (looked up once per actor: `itpm.records.trees.with_organisations`; None: not yet, their own only).
    client_tree: frozenset[int] | None = None

    @classmethod
    def system(cls) -> Actor:
        """Automations and commands acting for the installation itself."""
        return cls(None, "system", is_system=True)

    def as_json(self) -> dict[str, Any]:
        """What a report rendered by this actor remembers of them (`from_json` reads it back)."""
        return {
            "id": self.id,
            "username": self.username,
            "roles": sorted(self.roles),
            "department_id": self.department_id,
            "team_id": self.team_id,
            "client_id": self.client_id,
            "department": self.department,
            "is_system": self.is_system,
            **({"limits": sorted(self.limits), "via": self.via} if self.limits is not None else {}),
            **({"client_tree": sorted(self.client_tree)} if self.client_tree is not None else {}),
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Actor:
        limits, tree = body.get("limits"), body.get("client_tree")
        return cls(
            **{
                **body,
                "roles": frozenset(body.get("roles", ())),
                "limits": None if limits is None else frozenset(tuple(pair) for pair in limits),
                "client_tree": None if tree is None else frozenset(tree),
            }
        )

    @property
    def organisations(self) -> frozenset[int]:
        """The client organisations whose rows the `client_tree` scope gives (none for staff)."""
        if self.client_id is None:
            return frozenset()
        return self.client_tree if self.client_tree is not None else frozenset({self.client_id})

    @classmethod
    def of(cls, user: Any) -> Actor:
        """The actor for a Flask-AppBuilder user (an `itpm.models.Person`)."""
        return cls(
            id=user.id,
            username=user.username,
            roles=frozenset(role.name for role in user.roles),
            department_id=getattr(user, "department_id", None),
            team_id=getattr(user, "team_id", None),
            client_id=getattr(user, "client_id", None),
            department=user.department.name if getattr(user, "department", None) else None,
        )


class Access:
    """The rules of the published roles, asked about one actor and record type at a time."""

    def __init__(self, roles: Mapping[str, dict[str, Any]], approved: Iterable[str] = ()) -> None:
        self.roles = roles
        #: The record types whose workflows have approval chains (their approvers read what they decide).
        self.approved = frozenset(approved)
        self._field_rules: dict[tuple[Any, ...], dict[str, str]] = {}
        #: The fields of each restriction, by the same key and the restriction (asked for every record written).
        self._restricted: dict[tuple[Any, ...], frozenset[str]] = {}

    # --- what a person holds -------------------------------------------------

    def _entries(self, actor: Actor, spec: RecordTypeSpec) -> list[dict[str, Any]]:
        """Each of the actor's roles' rules for this record type (its own entry, else `*`)."""
        entries = []
        for name in actor.roles:
            records = self.roles.get(name, {}).get("records", {})
            entry = records.get(spec.name, records.get("*"))
            if entry is not None:
                entries.append(entry)
        return entries

    def scopes(self, actor: Actor, spec: RecordTypeSpec, action: str) -> frozenset[str]:
        """The rows (scopes) on which the actor may take `action`."""
        if actor.is_system:
            return frozenset({"all"})
        if actor.limits is not None and (spec.name, action) not in actor.limits:
            return frozenset()
        found: set[str] = set()
        for entry in self._entries(actor, spec):
            rows = entry.get(action)
            if rows is not None:
                found.update([rows] if isinstance(rows, str) else rows)
        return frozenset(found)

    def can(self, actor: Actor, spec: RecordTypeSpec, action: str) -> bool:
        """Whether the actor may take `action` on at least some records of the type."""
        return bool(self.scopes(actor, spec, action))

    def abilities(self, actor: Actor) -> frozenset[str]:
        if actor.is_system:
            return frozenset(ABILITIES)
        if actor.limits is not None:  # an integration's token manages nothing
            return frozenset()
        return frozenset(a for name in actor.roles for a in self.roles.get(name, {}).get("abilities", []))

    def reads_tree(self, actor: Actor) -> bool:
        """Whether any of the actor's roles gives rows by `client_tree` (then their organisations below
        their own are looked up once, before their rows are asked for)."""
        if actor.is_system or actor.client_id is None:
            return False
        for name in actor.roles:
            for entry in self.roles.get(name, {}).get("records", {}).values():
                for rows in entry.values():
                    if rows == "client_tree" or (isinstance(rows, list) and "client_tree" in rows):
                        return True
        return False

    def enabled(self, actor: Actor, spec: RecordTypeSpec) -> bool:
        """Whether the record type exists for the actor: a pilot is there only for its departments.

        Whoever manages definitions sees every type (they configure the pilots).
        """
        if spec.departments is None or "manage_definitions" in self.abilities(actor):
            return True
        return actor.department in spec.departments

    # --- rows --------------------------------------------------------------

    def rows(
        self, actor: Actor, spec: RecordTypeSpec, table: Any, action: str = "read"
    ) -> ColumnElement[bool]:
        """A condition on `table` selecting the rows `actor` may `action` (none: false)."""
        found = self._rows(actor, spec, table, action)
        flag = spec.client_flag
        if actor.client_id is not None and not actor.is_system and flag in spec.fields:
            column = table.c[spec.fields[flag].column]
            return and_(found, column.is_(True))  # a record not for the client is not there for them
        return found

    def _rows(self, actor: Actor, spec: RecordTypeSpec, table: Any, action: str) -> ColumnElement[bool]:
        scopes = self.scopes(actor, spec, action)
        if "all" in scopes:
            return true()
        conditions = [
            c for c in (self._condition(actor, table, scope) for scope in sorted(scopes)) if c is not None
        ]
        if action == "read" and scopes and actor.id is not None and spec.name in self.approved:
            conditions.append(self._asked_to_approve(actor, spec, table))
        return or_(*conditions) if conditions else false()

    def _asked_to_approve(self, actor: Actor, spec: RecordTypeSpec, table: Any) -> ColumnElement[bool]:
        """Records whose approval chain asked the actor (or someone who delegated to them) to decide.

        An approver named by a field of the record (the project's technical lead)
        or by name may stand outside the rows their role reads; they must see
        what they decide. Their role's field rules still apply.
        """
        from itpm.models import ApprovalRequest, ApprovalTask, Delegation, Person

        today = func.current_date()  # a delegate reads what they stand in for while the delegation runs
        delegators = select(Delegation.from_id).where(
            Delegation.to_id == actor.id, Delegation.starts_on <= today, Delegation.ends_on >= today
        )
        if actor.client_id is not None:  # a client's user stands in only for their own organisation
            delegators = delegators.where(
                Delegation.from_id.in_(select(Person.id).where(Person.client_id == actor.client_id))
            )
        whose = [ApprovalTask.approver_id == actor.id, ApprovalTask.decided_by_id == actor.id]
        if self.can(actor, spec, "approve"):  # only one who could hold the step stands in for another
            whose.append(ApprovalTask.approver_id.in_(delegators))
        asked = (
            select(ApprovalRequest.record_id)
            .join(ApprovalTask, ApprovalTask.approval_id == ApprovalRequest.id)
            .where(ApprovalRequest.record_type == spec.name, or_(*whose))
        )
        return table.c.id.in_(asked)

    def _condition(self, actor: Actor, table: Any, scope: str) -> ColumnElement[bool] | None:
        from itpm.models import Person

        c = table.c
        if scope == "own" and actor.id is not None:
            return c.created_by_id == actor.id
        if scope == "assigned" and actor.id is not None:
            return c.assignee_id == actor.id
        if scope == "team" and actor.team_id is not None:
            members = select(Person.id).where(Person.team_id == actor.team_id).scalar_subquery()
            return or_(c.created_by_id.in_(members), c.owner_id.in_(members), c.assignee_id.in_(members))
        if scope == "department" and actor.department_id is not None:
            return c.department_id == actor.department_id
        if scope == "client" and actor.client_id is not None:
            return c.client_id == actor.client_id
        if scope == "client_tree" and actor.client_id is not None:
            return c.client_id.in_(sorted(actor.organisations))
        return None

    def allows(
        self, actor: Actor, spec: RecordTypeSpec, record: Any, action: str, team: Iterable[int] = ()
    ) -> bool:
        """Whether a record in hand (e.g. one about to be written) lies in the actor's rows for `action`.

        `team` holds the ids of the actor's team members (for the team scope).
        """
        scopes = self.scopes(actor, spec, action)
        flag = spec.client_flag
        if actor.client_id is not None and not actor.is_system and flag in spec.fields:
            if getattr(record, spec.fields[flag].column, None) is not True:
                return False
        members = set(team)
        checks = {
            "all": lambda: True,
            "own": lambda: actor.id is not None and record.created_by_id == actor.id,
            "assigned": lambda: actor.id is not None and record.assignee_id == actor.id,
            "team": lambda: (
                bool(members) and bool({record.created_by_id, record.owner_id, record.assignee_id} & members)
            ),
            "department": lambda: (
                actor.department_id is not None and record.department_id == actor.department_id
            ),
            "client": lambda: actor.client_id is not None and record.client_id == actor.client_id,
            "client_tree": lambda: record.client_id in actor.organisations,
        }
        return any(checks[scope]() for scope in scopes)

    # --- fields ------------------------------------------------------------

    def field_rules(self, actor: Actor, spec: RecordTypeSpec) -> dict[str, str]:
        """Each restricted field and its restriction, the least among the roles that may read the type."""
        key = _rules_key(actor, spec)
        rules = self._field_rules.get(key)
        if rules is None:
            rules = self._field_rules[key] = self._least_rules(actor, spec)
        return dict(rules)

    def _least_rules(self, actor: Actor, spec: RecordTypeSpec) -> dict[str, str]:
        readers = [entry for entry in self._entries(actor, spec) if entry.get("read") is not None]
        if not readers:
            return {}
        rank = {HIDDEN: 2, READ_ONLY: 1}
        rules: dict[str, str] = {}
        if actor.client_id is not None and not actor.is_system:
            rules.update(dict.fromkeys(spec.internal_fields, HIDDEN))
        for name in (*spec.fields, *EDITABLE_SYSTEM):
            restrictions = [entry.get("fields", {}).get(name) for entry in readers]
            least = min(restrictions, key=lambda r: rank.get(r, 0))
            if least is not None:
                rules.setdefault(name, least)
        return rules

    def sees_all_of(self, reader: Actor, author: Actor, types: Iterable[RecordTypeSpec]) -> bool:
        """Whether `reader` may read all that `author` could (a report PDF rendered with the author's rights).

        For every type the author reads: the reader reads it everywhere, or in
        the same department, team or client organisation by the same scope
        (rows of one's own or assigned: only the author); and no field hidden
        from the reader was shown to the author. Conservative: when in doubt, no.
        """
        if reader.is_system or (reader.id is not None and reader.id == author.id):
            return True
        for spec in types:
            seen = self.scopes(author, spec, "read")
            if not seen:
                continue
            scopes = self.scopes(reader, spec, "read")
            if "all" not in scopes and not all(_covers(reader, scopes, author, scope) for scope in seen):
                return False
            if not self.hidden_fields(reader, spec) <= self.hidden_fields(author, spec):
                return False
        return True

    def hidden_fields(self, actor: Actor, spec: RecordTypeSpec) -> frozenset[str]:
        return self._fields_of(actor, spec, HIDDEN)

    def read_only_fields(self, actor: Actor, spec: RecordTypeSpec) -> frozenset[str]:
        return self._fields_of(actor, spec, READ_ONLY)

    def _fields_of(self, actor: Actor, spec: RecordTypeSpec, restriction: str) -> frozenset[str]:
        key = (*_rules_key(actor, spec), restriction)
        found = self._restricted.get(key)
        if found is None:
            rules = self.field_rules(actor, spec)
            found = self._restricted[key] = frozenset(n for n, rule in rules.items() if rule == restriction)
        return found

    def list_fields(self, actor: Actor, spec: RecordTypeSpec) -> ListFields:
        """The fields the actor may see as list columns, filter, sort, search and export on: never a hidden one."""
        return list_fields(spec, self.hidden_fields(actor, spec))


def _covers(reader: Actor, scopes: frozenset[str], author: Actor, scope: str) -> bool:
    """Whether the reader's rows include the author's rows of `scope` (department, team, client alike;
    a client organisation's tree includes the organisation's own rows)."""
    if scope in ("client", "client_tree") and "client_tree" in scopes:
        return (
            author.organisations <= reader.organisations
            if scope == "client_tree"
            else (author.client_id in reader.organisations)
        )
    anchor = {"department": "department_id", "team": "team_id", "client": "client_id"}.get(scope)
    if anchor is None:  # own, assigned, all: nobody else's rows are the same
        return False
    mine = getattr(reader, anchor)
    return scope in scopes and mine is not None and mine == getattr(author, anchor)


def _rules_key(actor: Actor, spec: RecordTypeSpec) -> tuple[Any, ...]:
    """What an actor's field rules on a type depend on, as the caches' key: their roles (whose rules are
    fixed for an Access's life), and whether they are a client organisation's user (the type's
    `x-internal` fields are hidden from those, whatever their roles)."""
    return (actor.roles, actor.client_id is not None and not actor.is_system, spec.name, id(spec))

"""Who is acting, and what they may see and do: the one place every path asks.

Views, the API, exports, reports, pickers and notifications all reach records
through `itpm.records.service.Records`, which asks `Access` for the rows an
actor may touch (as a SQL condition) and the fields they may read or write.
Role rules come from the published `role` definitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import true
from sqlalchemy.sql.elements import ColumnElement

from itpm.records.fields import RecordTypeSpec

ACTIONS = ("read", "create", "write", "delete", "approve", "export", "import", "report")


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

    @classmethod
    def system(cls) -> Actor:
        return cls(None, "system", frozenset({"admin"}))

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

    def enabled(self, actor: Actor, spec: RecordTypeSpec) -> bool:
        """Whether the record type exists for the actor: a pilot is there only for its departments.

        Admins see every type (they configure the pilots).
        """
        if spec.departments is None or "admin" in actor.roles:
            return True
        return actor.department in spec.departments

    def rows(
        self, actor: Actor, spec: RecordTypeSpec, table: Any, action: str = "read"
    ) -> ColumnElement[bool]:
        """A condition on `table` selecting the rows `actor` may `action`."""
        return true()

    def hidden_fields(self, actor: Actor, spec: RecordTypeSpec) -> frozenset[str]:
        return frozenset()

    def read_only_fields(self, actor: Actor, spec: RecordTypeSpec) -> frozenset[str]:
        return frozenset()

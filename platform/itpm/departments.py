"""What a department's admin may do, within their own department only.

A person with the `manage_department` ability (given by an admin through a
role) may switch the pilots their department runs on or off, and give the
other people of their department the roles bounded by the department: roles
with no abilities whose every rule reaches only rows the holder's own place
decides (their own, assigned, team's or department's). Everything else, and
their own roles, stays with the admins.
"""

from __future__ import annotations

from typing import Any

from flask_appbuilder.security.sqla.models import Role
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from itpm.access import ACTIONS, Actor
from itpm.catalog import Catalog
from itpm.definitions.registry import Registry
from itpm.models import AuditEntry, Department, Person
from itpm.records.fields import CLIENT_TYPE, RecordTypeSpec

#: The rows a role's rule may reach for a department admin to give it: those of the holder's own
#: place (a person of the department), never every row nor a client organisation's.
DEPARTMENT_SCOPES = frozenset({"own", "assigned", "team", "department"})


def bounded_by_department(body: dict[str, Any]) -> bool:
    """Whether a role definition gives nothing beyond its holder's department.

    No abilities, and every rule of every action on rows of the holder's own
    place. Reading the client organisations is the one exception: staff pick
    a project's client from that directory, whichever department they work in.
    """
    if body.get("abilities"):
        return False
    for type_name, entry in body.get("records", {}).items():
        for action in ACTIONS:
            rows = entry.get(action)
            if rows is None or (action == "read" and type_name == CLIENT_TYPE):
                continue
            if not set([rows] if isinstance(rows, str) else rows) <= DEPARTMENT_SCOPES:
                return False
    return True


class DepartmentRefused(PermissionError):
    """A department admin asked for something outside their department or their right."""


class DepartmentAdministration:
    def __init__(self, session: Session, registry: Registry, catalog: Catalog, actor: Actor) -> None:
        if "manage_department" not in catalog.access.abilities(actor) or actor.department_id is None:
            raise DepartmentRefused(_("You do not administer a department."))
        self.session = session
        self.registry = registry
        self.catalog = catalog
        self.actor = actor
        self.department = session.get(Department, actor.department_id)

    def pilots(self) -> list[tuple[RecordTypeSpec, bool]]:
        """The record types run as pilots, and whether this department runs each."""
        pilots = [spec for spec in self.catalog.record_types.values() if spec.departments is not None]
        return [
            (spec, self.department.name in spec.departments) for spec in sorted(pilots, key=lambda s: s.name)
        ]

    def run_pilot(self, type_name: str, enabled: bool) -> None:
        """Start or stop running a pilot in this department (publishes the record type's new version)."""
        spec = self.catalog.record_types.get(type_name)
        if spec is None or spec.departments is None:
            raise DepartmentRefused(_("%(type)s is not a pilot a department can switch.", type=type_name))
        departments = [d for d in spec.departments if d != self.department.name]
        if enabled:
            departments.append(self.department.name)
        if not departments:
            raise DepartmentRefused(_("A pilot runs in at least one department; ask an admin to end it."))
        body = {**spec.body, "departments": sorted(departments)}
        self.registry.save_draft(body, self.actor.username)
        verb = "start" if enabled else "stop"
        self.registry.publish(
            [("record_type", type_name)], self.actor.username, f"{verb} the pilot in {self.department.name}"
        )

    def people(self) -> list[Person]:
        return list(
            self.session.scalars(
                select(Person).where(Person.department_id == self.department.id).order_by(Person.first_name)
            )
        )

    def assignable_roles(self) -> list[str]:
        """The roles a department admin may give: those bounded by the department."""
        return sorted(name for name, body in self.catalog.roles.items() if bounded_by_department(body))

    def set_roles(self, person_id: int, roles: list[str]) -> None:
        """Give another person of this department exactly these assignable roles (others they hold stay)."""
        person = self.session.get(Person, person_id)
        if person is None or person.department_id != self.department.id:
            raise DepartmentRefused(_("That person is not in your department."))
        if person.id == self.actor.id:
            raise DepartmentRefused(_("Your own roles are given by an admin."))
        assignable = set(self.assignable_roles())
        unknown = sorted(set(roles) - assignable)
        if unknown:
            raise DepartmentRefused(_("You may not give the roles %(roles)s.", roles=", ".join(unknown)))
        kept = [role for role in person.roles if role.name not in assignable]
        given = list(self.session.scalars(select(Role).where(Role.name.in_(roles))))
        person.roles = kept + given
        self.session.add(
            AuditEntry(
                actor=self.actor.username,
                action="person.roles",
                target=person.username,
                detail={"roles": sorted(r.name for r in person.roles), "department": self.department.name},
            )
        )
        self.session.commit()

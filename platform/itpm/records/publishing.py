"""Publishing as the admin sees it: a preview before, a purge of kept data after.

Shared by the admin screens, the API and the command line.
"""

from __future__ import annotations

from collections.abc import Iterable

from itpm.definitions.checks import Configuration
from itpm.definitions.problems import DefinitionError, Problem
from itpm.definitions.registry import Key, Registry
from itpm.models import AuditEntry
from itpm.records.fields import RecordTypeSpec
from itpm.records.schema_changes import TypePlan, preview, purge_columns


def publish_preview(
    registry: Registry, keys: Iterable[Key]
) -> tuple[Configuration, Configuration, list[Problem], list[TypePlan]]:
    """What publishing the drafts of `keys` would do; nothing is written (the session is rolled back)."""
    before, after, problems = registry.pending(list(keys))
    plans = [] if problems else preview(registry.session, before, after)
    registry.session.rollback()
    return before, after, problems, plans


def purge_kept_data(registry: Registry, type_name: str, columns: list[str], actor: str) -> list[str]:
    """Delete the data a record type kept from removed fields, and note it in the audit log."""
    definition = registry.get("record_type", type_name)
    body = registry.published_body(definition)
    if body is None:
        raise DefinitionError([Problem(f"record_type/{type_name}", "/", "is not published")])
    purged = purge_columns(registry.session, RecordTypeSpec(body), columns)
    registry.session.add(
        AuditEntry(
            actor=actor, action="records.purge", target=f"record_type/{type_name}", detail={"columns": purged}
        )
    )
    registry.session.commit()
    return purged

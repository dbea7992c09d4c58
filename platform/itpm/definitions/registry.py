"""The definitions registry: drafts, publishing, versions, restore, diff, import and export.

Every publish is one numbered revision of the whole configuration, made in one
database transaction together with whatever publishing changes elsewhere (the
record store alters its tables through a publish hook): all of it or none.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itpm.db import utcnow
from itpm.definitions.checks import Configuration, check_configuration
from itpm.definitions.documents import Document, canonical_json, write_document
from itpm.definitions.meta import MetaSchemas
from itpm.definitions.problems import DefinitionError, Problem, raise_if
from itpm.models import AuditEntry, Definition, DefinitionVersion, Revision

Key = tuple[str, str]
#: Called inside the publishing transaction with the configurations before and
#: after; raises DefinitionError to refuse the publish.
PublishHook = Callable[[Session, Configuration, Configuration], None]


class NotFound(LookupError):
    """No such definition or version."""


@dataclass
class Held:
    """A pack's definition left unpublished, so as not to replace an admin's work.

    why: "changed" (the admin changed the live version: the pack's new text is now the draft),
    "waiting" (a text the pack brought before still waits as the draft),
    "draft" (the admin has a draft of their own, left alone: the pack's text is not kept),
    "conflict" (it would not fit beside the admin's versions: the pack's text is the draft).
    """

    key: Key
    why: str
    version: int | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class ImportResult:
    drafts: list[Key] = field(default_factory=list)
    unchanged: list[Key] = field(default_factory=list)
    revision: int | None = None
    held: list[Held] = field(default_factory=list)


class Registry:
    def __init__(self, session: Session, meta: MetaSchemas, hooks: Sequence[PublishHook] = ()) -> None:
        self.session = session
        self.meta = meta
        self.hooks = list(hooks)

    # --- reading ------------------------------------------------------------

    def current_revision(self) -> int:
        return self.session.scalar(select(func.max(Revision.id))) or 0

    def get(self, kind: str, name: str) -> Definition:
        definition = self.session.scalar(
            select(Definition).where(Definition.kind == kind, Definition.name == name)
        )
        if definition is None:
            raise NotFound(f"no {kind} named {name!r}")
        return definition

    def list(self, kind: str | None = None) -> list[Definition]:
        query = select(Definition).order_by(Definition.kind, Definition.name)
        if kind:
            query = query.where(Definition.kind == kind)
        return list(self.session.scalars(query))

    def version(self, kind: str, name: str, version: int) -> DefinitionVersion:
        definition = self.get(kind, name)
        found = self.session.scalar(
            select(DefinitionVersion).where(
                DefinitionVersion.definition_id == definition.id,
                DefinitionVersion.version == version,
            )
        )
        if found is None:
            raise NotFound(f"{kind} {name!r} has no version {version}")
        return found

    def published_body(self, definition: Definition) -> dict[str, Any] | None:
        if definition.published_version is None:
            return None
        return self.version(definition.kind, definition.name, definition.published_version).body

    def live(self, at_revision: int | None = None) -> list[Document]:
        """The published configuration (as it was at `at_revision`): the latest version of each definition."""
        if at_revision is None:
            latest = (
                select(DefinitionVersion.body, Definition.kind, Definition.name)
                .join(Definition)
                .where(DefinitionVersion.version == Definition.published_version)
                .order_by(Definition.kind, Definition.name)
            )
        else:
            newest = (
                select(DefinitionVersion.definition_id, func.max(DefinitionVersion.version).label("version"))
                .where(DefinitionVersion.revision_id <= at_revision)
                .group_by(DefinitionVersion.definition_id)
                .subquery()
            )
            latest = (
                select(DefinitionVersion.body, Definition.kind, Definition.name)
                .join(Definition)
                .join(
                    newest,
                    (newest.c.definition_id == DefinitionVersion.definition_id)
                    & (newest.c.version == DefinitionVersion.version),
                )
                .order_by(Definition.kind, Definition.name)
            )
        return [self._document(kind, name, body) for body, kind, name in self.session.execute(latest)]

    def working(self) -> list[Document]:
        """The configuration being edited: each definition's draft, or else its published version."""
        published = {d.key: d for d in self.live()}
        for definition in self.session.scalars(select(Definition).where(Definition.draft.is_not(None))):
            key = (definition.kind, definition.name)
            published[key] = self._document(definition.kind, definition.name, definition.draft)
        return list(published.values())

    def _document(self, kind: str, name: str, body: dict[str, Any]) -> Document:
        return Document(
            self.meta.export_path(kind, name) if kind in self.meta.kinds else f"{kind}/{name}", body
        )

    # --- validating ---------------------------------------------------------

    def problems(self, documents: Sequence[Document], against: str = "working") -> list[Problem]:
        """The problems of `documents`, read beside the working (or live) configuration."""
        context = {d.key: d for d in (self.working() if against == "working" else self.live())}
        for document in documents:
            if document.key:
                context[document.key] = document
        keys = {d.key for d in documents}
        others = [d for k, d in context.items() if k not in keys]
        return check_configuration([*others, *documents], self.meta, only=documents)

    # --- writing ------------------------------------------------------------

    def save_draft(self, body: dict[str, Any], author: str, file: str | None = None) -> Definition:
        """Store `body` as the draft of its definition, if it is valid beside the others."""
        document = Document(file or "", body)
        raise_if(self.problems([document]))
        definition = self._draft(document, author)
        self._audit(author, "definition.draft", definition.key, {})
        self.session.commit()
        return definition

    def discard_draft(self, kind: str, name: str, author: str) -> None:
        definition = self.get(kind, name)
        if definition.published_version is None:
            self.session.delete(definition)
        else:
            definition.draft = None
            self._titles(definition, self.published_body(definition) or {})
        self._audit(author, "definition.discard", f"{kind}/{name}", {})
        self.session.commit()

    def import_documents(
        self,
        documents: Sequence[Document],
        author: str,
        publish: bool = False,
        comment: str = "",
        read_problems: Sequence[Problem] = (),
    ) -> ImportResult:
        """Import definitions as drafts (and publish them): all of them, or none."""
        problems = [*read_problems, *self.problems(documents, "live" if publish else "working")]
        raise_if(problems)
        result = ImportResult()
        changed: list[Key] = []
        for document in documents:
            key = (document.kind, document.name)
            existing = self._find(*key)
            if (
                existing is not None
                and existing.draft is None
                and self.published_body(existing) == document.body
            ):
                result.unchanged.append(key)
                continue
            self._draft(document, author)
            changed.append(key)
        result.drafts = changed
        self._audit(
            author,
            "definition.import",
            f"{len(documents)} files",
            {"changed": [f"{k}/{n}" for k, n in changed]},
        )
        if publish and changed:
            revision = self._publish(changed, author, comment or "import")
            result.revision = revision.id
        self.session.commit()
        return result

    def publish(self, keys: Iterable[Key], author: str, comment: str = "") -> Revision | None:
        """Publish the drafts of `keys` as one revision; None when nothing changed."""
        keys = list(keys)
        for kind, name in keys:
            if self.get(kind, name).draft is None:
                raise DefinitionError([Problem(f"{kind}/{name}", "/", _("has no draft to publish"))])
        revision = self._publish(keys, author, comment)
        self.session.commit()
        return revision

    def restore(
        self, kind: str, name: str, version: int, author: str, comment: str = ""
    ) -> DefinitionVersion:
        """Publish an older version's body again, as a new version."""
        old = self.version(kind, name, version)
        definition = old.definition
        definition.draft = old.body
        revision = self._publish(
            [(kind, name)], author, comment or f"restore version {version}", restored_from=version
        )
        self.session.commit()
        if revision is None:  # the old body is the current one: nothing to do
            return self.version(kind, name, definition.published_version or version)
        return self.version(kind, name, definition.published_version)

    def _find(self, kind: str, name: str) -> Definition | None:
        try:
            return self.get(kind, name)
        except NotFound:
            return None

    def _draft(self, document: Document, author: str) -> Definition:
        definition = self._find(document.kind, document.name)
        if definition is None:
            definition = Definition(kind=document.kind, name=document.name)
            self.session.add(definition)
        definition.draft = document.body
        definition.draft_updated_at = utcnow()
        definition.draft_updated_by = author
        self._titles(definition, document.body)
        self.session.flush()
        return definition

    @staticmethod
    def _titles(definition: Definition, body: dict[str, Any]) -> None:
        title = body.get("title") or {}
        definition.title_en = str(title.get("en", ""))[:200]
        definition.title_zh = str(title.get("zh", ""))[:200]

    def pending(self, keys: Iterable[Key]) -> tuple[Configuration, Configuration, list[Problem]]:
        """The live configuration, what it would be with the drafts of `keys` published, and its problems.

        Nothing is written: this is what a preview shows before the admin publishes.
        """
        before = {d.key: d for d in self.live()}
        after = dict(before)
        for kind, name in keys:
            definition = self.get(kind, name)
            if definition.draft is not None:
                after[(kind, name)] = self._document(kind, name, definition.draft)
        return (
            Configuration(before.values()),
            Configuration(after.values()),
            check_configuration(after.values(), self.meta),
        )

    def _publish(
        self, keys: list[Key], author: str, comment: str, restored_from: int | None = None
    ) -> Revision | None:
        before = {d.key: d for d in self.live()}
        after = dict(before)
        definitions = [self.get(kind, name) for kind, name in keys]
        changed = []
        for definition in definitions:
            key = (definition.kind, definition.name)
            if (
                definition.published_version is not None
                and before.get(key)
                and before[key].body == definition.draft
            ):
                definition.draft = None  # identical to what is live: nothing to publish
                continue
            after[key] = self._document(definition.kind, definition.name, definition.draft)
            changed.append(definition)
        if not changed:
            return None
        raise_if(check_configuration(after.values(), self.meta))
        revision = Revision(author=author, comment=comment)
        self.session.add(revision)
        self.session.flush()
        for definition in changed:
            number = (definition.published_version or 0) + 1
            self.session.add(
                DefinitionVersion(
                    definition=definition,
                    version=number,
                    body=definition.draft,
                    revision_id=revision.id,
                    author=author,
                    comment=comment,
                    restored_from=restored_from,
                )
            )
            self._titles(definition, definition.draft)
            definition.published_version = number
            definition.draft = None
            self._audit(
                author,
                "definition.publish",
                definition.key,
                {
                    "version": number,
                    "revision": revision.id,
                    "comment": comment,
                    "restored_from": restored_from,
                },
            )
        self.session.flush()
        for hook in self.hooks:
            hook(self.session, Configuration(before.values()), Configuration(after.values()))
        return revision

    def _audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        self.session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))

    # --- comparing and exporting --------------------------------------------

    def diff(self, kind: str, name: str, old: int | str | None = None, new: int | str | None = None) -> str:
        """A unified diff between two versions ('draft' is the draft); by default the latest change."""
        definition = self.get(kind, name)
        if old is None and new is None:
            if definition.draft is not None:
                old, new = definition.published_version, "draft"
            else:
                new = definition.published_version
                old = (new - 1) if new and new > 1 else None
        old_text, old_label = self._text(definition, old)
        new_text, new_label = self._text(definition, new)
        return "".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                new_text.splitlines(keepends=True),
                fromfile=f"{kind}/{name} {old_label}",
                tofile=f"{kind}/{name} {new_label}",
            )
        )

    def _text(self, definition: Definition, which: int | str | None) -> tuple[str, str]:
        if which is None:
            return "", "(none)"
        if which == "draft":
            if definition.draft is None:
                raise NotFound(f"{definition.key} has no draft")
            return canonical_json(definition.draft), "draft"
        version = self.version(definition.kind, definition.name, int(which))
        return canonical_json(version.body), f"v{version.version}"

    def export(self, folder: Path) -> list[Path]:
        """Write the published configuration as canonical JSON files under `folder` (with a definition's own files)."""
        return [write_document(folder, document)[0] for document in self.live()]

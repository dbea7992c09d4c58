"""Importing a pack of definitions (the starter pack, a folder of them) without replacing an admin's work.

Each definition remembers the text a pack last brought (`pack_body`). A pack's definition is
published when it is new, or when the live version is still that text (no admin changed it).
When an admin changed it, their version stays live; a newer text from the pack waits beside it
as a draft ("update available from the starter pack"), offered once: discarded, it is not
offered again until the pack changes it once more. An admin's own draft is never replaced. A
pack's definition that would not fit beside the admin's versions (a form naming a field the
admin's record type lacks) waits as a draft too. `itpm init` runs this at every start.

Definitions named in `own` are the admin's own act (`itpm defs import file.json --publish`):
imported and published as given. (This module is the registry's own: it uses its inner steps.)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from itpm.definitions.checks import check_configuration
from itpm.definitions.documents import Document
from itpm.definitions.problems import Problem, raise_if
from itpm.definitions.registry import Held, ImportResult, Key, Registry
from itpm.models import Definition


def import_pack(
    registry: Registry,
    documents: Sequence[Document],
    author: str,
    publish: bool = True,
    comment: str = "",
    read_problems: Sequence[Problem] = (),
    own: Collection[Key] = (),
) -> ImportResult:
    """Import a pack's definitions as drafts (and publish those no admin changed): all of them, or none."""
    raise_if([*read_problems, *registry.problems(documents, "live" if publish else "working")])
    result = ImportResult()
    take: list[Document] = []  # imported (and published) as they are
    for document in documents:
        key = (document.kind, document.name)
        existing = registry._find(*key)
        if existing is None:
            take.append(document)
        elif key in own:
            if existing.draft is None and registry.published_body(existing) == document.body:
                result.unchanged.append(key)
            else:
                take.append(document)
        else:
            why = _why_held(registry, existing, document)
            if why is None:
                take.append(document)
            elif why in ("unchanged", "seen"):  # seen: offered before, and the admin kept theirs
                if why == "unchanged" and existing.pack_body != document.body:
                    existing.pack_body = document.body  # the live version is the pack's text
                result.unchanged.append(key)
            else:
                result.held.append(Held(key, why, existing.published_version))
    if publish:
        take = _fitting(registry, take, result, own)
    for document in take:
        definition = registry._draft(document, author)
        if (document.kind, document.name) not in own:
            definition.pack_body = document.body
    for held in result.held:
        if held.why in ("changed", "conflict"):
            document = next(d for d in documents if (d.kind, d.name) == held.key)
            registry._draft(document, author).pack_body = document.body
    result.drafts = [(d.kind, d.name) for d in take]
    registry._audit(
        author,
        "definition.import",
        f"{len(documents)} files",
        {
            "changed": [f"{k}/{n}" for k, n in result.drafts],
            "held": {f"{h.key[0]}/{h.key[1]}": h.why for h in result.held},
        },
    )
    if publish and take:
        revision = registry._publish(result.drafts, author, comment or "import")
        result.revision = revision.id if revision else None
    registry.session.commit()
    return result


def _why_held(registry: Registry, existing: Definition, document: Document) -> str | None:
    """None when the pack's text is to be taken; else why not (a Held.why, "unchanged" or "seen")."""
    live = registry.published_body(existing)
    if live == document.body:
        return "unchanged"
    admins_draft = existing.draft is not None and existing.draft != existing.pack_body
    if existing.published_version is None or live == existing.pack_body:  # no admin changed it
        return "draft" if admins_draft else None
    if existing.pack_body == document.body:  # offered before
        return "waiting" if existing.draft == document.body else "seen"
    return "draft" if admins_draft else "changed"


def _fitting(
    registry: Registry, take: list[Document], result: ImportResult, own: Collection[Key]
) -> list[Document]:
    """The documents of `take` that publish beside the live versions kept; the others are held.

    The pack itself was checked already: what does not fit is what meets an admin's changes.
    """
    take = list(take)
    live = {d.key: d for d in registry.live()}
    while take:
        after = {**live, **{d.key: d for d in take}}
        problems = check_configuration(after.values(), registry.meta)
        if not problems:
            break
        by_file = {d.file: d for d in take}
        blamed = {by_file[p.file].key for p in problems if p.file in by_file}
        raise_if([p for p in problems if p.file in by_file and by_file[p.file].key in own])
        if not blamed:  # a kept definition breaks: every pack update of an existing one waits
            blamed = {d.key for d in take if d.key in live and d.key not in own} or {d.key for d in take}
        for document in [d for d in take if d.key in blamed]:
            take.remove(document)
            existing = registry._find(*document.key)
            result.held.append(
                Held(
                    document.key,
                    "conflict",
                    existing.published_version if existing else None,
                    [p for p in problems if p.file == document.file],
                )
            )
    return take


def held_lines(result: ImportResult, source: str = "the starter pack") -> list[str]:
    """One line per definition the import left unpublished, for the command line."""
    lines = []
    for held in result.held:
        name = f"{held.key[0]}/{held.key[1]}"
        if held.why == "changed":
            lines.append(
                f"{name}: kept as you changed it (version {held.version} stays live); "
                f"{source}'s update is saved as a draft beside it: review it on the definitions page."
            )
        elif held.why == "draft":
            lines.append(
                f"{name}: kept as you left it, with your draft; {source} has an update, not saved "
                "(publish or discard your draft, then import again to see it)."
            )
        elif held.why == "waiting":
            lines.append(
                f"{name}: {source}'s update still waits as a draft beside version {held.version} "
                "(live), on the definitions page."
            )
        else:
            reason = f" ({held.problems[0]})" if held.problems else ""
            lines.append(
                f"{name}: {source}'s update is saved as a draft, not published: "
                f"it does not fit your changes{reason}."
            )
    return lines

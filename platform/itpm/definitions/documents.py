"""Reading definition files: bytes to JSON documents, with every reading error named.

A definition file holds one JSON object. Files are refused when they are too
big, not UTF-8, not JSON, not an object, or hold the same key twice (JSON
would silently keep the last one).

A definition kept as `<name>/<kind>.json` (`reports/client_status/report.json`)
owns the other files of its folder (a template, a stylesheet, a logo): they
are read into its `files` ({path: text, or {"base64": ...} for binary files}),
stored with it, and written back beside it on export.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _

from itpm.definitions.problems import Problem

#: A definition is a configuration document; one megabyte is far beyond any real one.
MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Document:
    """One definition as read from a file (or received through the API)."""

    file: str
    body: dict[str, Any]

    @property
    def kind(self) -> str | None:
        kind = self.body.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def name(self) -> str | None:
        name = self.body.get("name")
        return name if isinstance(name, str) else None

    @property
    def key(self) -> tuple[str, str] | None:
        return (self.kind, self.name) if self.kind and self.name else None


def canonical_json(body: Any) -> str:
    """The one text of a definition: sorted keys, 2-space indent, UTF-8, final newline."""
    return json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_document(raw: bytes, file: str) -> tuple[Document | None, list[Problem]]:
    """Parse one definition file; on failure, the problems say why."""
    if len(raw) > MAX_BYTES:
        return None, [Problem(file, "/", _too_big(len(raw)))]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [
            Problem(
                file,
                "/",
                _(
                    "the file is not UTF-8 text: byte 0x%(byte)02x at offset %(offset)d",
                    byte=raw[exc.start],
                    offset=exc.start,
                ),
            )
        ]
    return parse_text(text, file)


def _too_big(size: int) -> str:
    return _(
        "the file is %(size).1f MB; a definition may be at most %(limit)d MB",
        size=size / 1024 / 1024,
        limit=MAX_BYTES // 1024 // 1024,
    )


def parse_text(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    try:
        body = json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                file,
                "/",
                _(
                    "invalid JSON at line %(line)d, column %(column)d: %(reason)s",
                    line=exc.lineno,
                    column=exc.colno,
                    reason=exc.msg,
                ),
            )
        ]
    except _DuplicateKey as exc:
        return None, [
            Problem(
                file, "/", _("invalid JSON: the key %(key)r appears twice in one object", key=exc.args[0])
            )
        ]
    except ValueError as exc:
        return None, [Problem(file, "/", _("invalid JSON: %(reason)s", reason=str(exc)))]
    if not isinstance(body, dict):
        return None, [
            Problem(file, "/", _("a definition must be a JSON object, not %(type)s", type=_json_type(body)))
        ]
    return Document(file, body), []


def _json_type(value: Any) -> str:
    names = {
        list: _("an array"),
        str: _("a string"),
        bool: _("a boolean"),
        int: _("a number"),
        float: _("a number"),
    }
    return str(names.get(type(value), _("null")))


def definition_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """The definition files under `paths` (files or folders), in a stable order.

    Meta-schemas (`*.schema.json`) are the engine's, not definitions, and are skipped.
    """
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*.json")) if not p.name.endswith(".schema.json"))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), "/", _("no such file or folder")))
    return files, problems


def read_documents(paths: Iterable[Path | str]) -> tuple[list[Document], list[Problem]]:
    """Read every definition under `paths`; documents that could be read, and the problems."""
    files, problems = definition_files(Path(p) for p in paths)
    documents: list[Document] = []
    for file in files:
        if file.stat().st_size > MAX_BYTES:  # refuse before reading it all
            document, found = None, [Problem(str(file), "/", _too_big(file.stat().st_size))]
        else:
            document, found = parse_document(file.read_bytes(), str(file))
        if document is not None and (file.parent.name, file.stem) == (document.name, document.kind):
            document, more = _with_folder_files(document, file)
            found = [*found, *more]
        problems.extend(found)
        if document is not None:
            documents.append(document)
    return documents, problems


def _with_folder_files(document: Document, file: Path) -> tuple[Document | None, list[Problem]]:
    """The definition with the other files of its folder in `files` (hidden files and JSON left out)."""
    if "files" in document.body:
        return None, [
            Problem(document.file, "/files", _("is read from the files beside the definition; remove it"))
        ]
    files: dict[str, Any] = {}
    size = file.stat().st_size
    for path in sorted(file.parent.rglob("*")):
        relative = path.relative_to(file.parent)
        if not path.is_file() or path.suffix == ".json" or any(p.startswith(".") for p in relative.parts):
            continue
        size += path.stat().st_size
        if size > MAX_BYTES:
            return None, [Problem(str(path), "/", _too_big(size))]
        raw = path.read_bytes()
        try:
            files[relative.as_posix()] = raw.decode("utf-8")
        except UnicodeDecodeError:
            files[relative.as_posix()] = {"base64": base64.b64encode(raw).decode("ascii")}
    return Document(document.file, {**document.body, "files": files} if files else document.body), []


def file_bytes(content: str | dict[str, str]) -> bytes:
    """The bytes of one of a definition's `files`, as they were on disk."""
    if isinstance(content, str):
        return content.encode("utf-8")
    return base64.b64decode(content["base64"])


def write_document(folder: Path, document: Document) -> list[Path]:
    """Write a definition as its canonical file under `folder`, and its own files beside it."""
    path = folder / document.file
    path.parent.mkdir(parents=True, exist_ok=True)
    body = dict(document.body)
    files = body.pop("files", {})
    path.write_text(canonical_json(body), encoding="utf-8")
    written = [path]
    for name, content in sorted(files.items()):
        target = path.parent / name
        if ".." in Path(name).parts or Path(name).is_absolute():  # the meta-schema refuses these names
            raise ValueError(f"{document.file}: /files: {name!r} leaves the definition's folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file_bytes(content))
        written.append(target)
    return written

"""Importing records from CSV and XLSX files, through the records service.

A file is read as a stream (CSV in UTF-8, with or without its byte order mark,
or GB18030/GBK; XLSX in openpyxl's read-only mode), its columns are mapped onto
a record type's fields (by name or title in either language, or by a saved
mapping with value aliases), and each row becomes the JSON a person would send:
references by number or name, people by user name, full name or e-mail,
choices by key or label. `Records` then validates, checks rights, numbers and
writes it, and the history says "imported". A dry run is the same code in a
transaction that is rolled back. A real run commits in chunks, each with its
checkpoint, so a run stopped half-way goes on from there with no duplicates.
Who runs a queued import (a thread of the app, or an RQ worker) is
`itpm.records.import_jobs`'s business.
"""

from __future__ import annotations

import codecs
import contextvars
import csv
import datetime as dt
import gc
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _
from sqlalchemy import func, or_, select

from itpm.access import Actor
from itpm.definitions.problems import Problem
from itpm.models import Department, ImportMapping, ImportRun, Person
from itpm.people import visible_people
from itpm.records.fields import (
    BOOLEAN,
    CLIENT_TYPE,
    DATE,
    DATETIME,
    ENUM,
    ENUM_LIST,
    INTEGER,
    NUMBER,
    REF,
    REF_LIST,
    RICHTEXT,
    SYSTEM_TITLES,
    TEXT,
    USER,
    USER_LIST,
    FieldSpec,
    RecordTypeSpec,
)
from itpm.records.service import Forbidden, Invalid, RecordError, Records
from itpm.records.values import format_datetime, parse_datetime, rich_text_words, to_json
from itpm.texts import Bilingual
from itpm.workflows.spec import NO_WORKFLOW_STATE

#: Rows committed together, with their checkpoint.
CHUNK = 1000
#: What an import's records service learns once for the whole file (`Records.known_visible` and others).
KNOWN = ("known_visible", "known_nameable", "known_organisations", "known_parents", "known_client_numbers")
#: Problems kept on an import's row (the error file has every one).
KEPT_PROBLEMS = 1000
#: The first rows' verdicts a dry run shows.
PREVIEW = 200
#: The largest file taken (bytes).
MAX_IMPORT_BYTES = 200 * 1024 * 1024
#: System fields a file may fill: people and places, and (for an import of history) what its source says.
SYSTEM_TARGETS = ("number", "state", "owner", "assignee", "client", "department", "created_at", "updated_at")
#: Columns only who manages definitions may import: they rewrite a record's history, past its workflow.
HISTORY_TARGETS = ("state", "created_at", "updated_at")
#: What separates the items of a list in one cell.
LIST_SEPARATORS = (";", "；", "、", "\n")
TRUE_WORDS = {"true", "yes", "y", "1", "是", "真", "对", "x", "✓"}
FALSE_WORDS = {"false", "no", "n", "0", "否", "假", "错", ""}
#: A spreadsheet export marks text that would start a formula with a leading quote (`record_export.cell`).
FORMULA_STARTS = frozenset("=+-@＝＋－＠\t\r\n ")

INSERT, UPDATE, UNCHANGED, ERROR = "insert", "update", "unchanged", "error"


class ImportRefused(Invalid):
    """The file, its mapping or its type cannot be imported at all: nothing is written."""


# --- reading files -------------------------------------------------------------------------------


@dataclass
class Source:
    """A file to import: where it is, how it is read."""

    path: Path
    filename: str
    format: str  # csv or xlsx
    encoding: str = ""  # utf-8-sig, utf-8 or gb18030 (a CSV's)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def open_source(path: Path, filename: str | None = None) -> Source:
    """The file at `path`, its format and encoding found out, every byte of it checked to decode.

    ImportRefused names what is wrong and where (an encoding error by line).
    """
    filename = filename or path.name
    if not path.exists() or path.stat().st_size == 0:
        raise ImportRefused(_("%(file)s is empty.", file=filename), [Problem(filename, "", _("is empty"))])
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise ImportRefused(
            _("%(file)s is larger than %(limit)s MB.", file=filename, limit=MAX_IMPORT_BYTES >> 20),
            [Problem(filename, "", _("is too large"))],
        )
    with path.open("rb") as stream:
        head = stream.read(1 << 16)
    if head.startswith(b"PK\x03\x04"):
        return Source(path, filename, "xlsx")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _encoding_refused(filename, 1, _("UTF-16 is not read: save it as CSV UTF-8"))
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif _decodes(head, "utf-8"):
        encoding = "utf-8"
    elif _decodes(head, "gb18030"):
        encoding = "gb18030"
    else:
        line = _bad_line(head, "utf-8")
        raise _encoding_refused(filename, line, _("is neither UTF-8 nor GB18030 (GBK)"))
    _check_decodes(path, filename, encoding)
    return Source(path, filename, "csv", encoding)


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _bad_line(data: bytes, encoding: str) -> int:
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    except UnicodeDecodeError as error:
        return data.count(b"\n", 0, error.start) + 1
    return 1


def _encoding_refused(filename: str, line: int, reason: Any) -> ImportRefused:
    return ImportRefused(
        _("%(file)s cannot be read: line %(line)s %(reason)s.", file=filename, line=line, reason=reason),
        [Problem(filename, f"/line/{line}", reason)],
    )


def _check_decodes(path: Path, filename: str, encoding: str) -> None:
    """Decode the whole file once (streamed): a bad byte far down is refused before anything is written."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 0
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                line = lines + block.count(b"\n", 0, max(error.start, 0)) + 1
                raise _encoding_refused(
                    filename, line, _("is not %(encoding)s", encoding=encoding.replace("-sig", ""))
                ) from error
            lines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise _encoding_refused(filename, lines + 1, _("ends in the middle of a character")) from error


def read_rows(source: Source) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    """The header and the rows (with their row number in the file, the header being row 1), streamed.

    The table ends at its first empty row, as spreadsheets take it (an export's notes follow one).
    """
    if source.format == "xlsx":
        return _xlsx_rows(source)
    stream = source.path.open(encoding=source.encoding, newline="")
    reader = csv.reader(stream)
    try:
        header = [str(h).strip() for h in next(reader)]
    except StopIteration:
        stream.close()
        raise ImportRefused(
            _("%(file)s has no header row.", file=source.filename),
            [Problem(source.filename, "", _("is empty"))],
        ) from None
    except csv.Error as error:
        stream.close()
        raise ImportRefused(
            _("%(file)s: line 1 is not CSV: %(error)s", file=source.filename, error=str(error)),
            [Problem(source.filename, "/line/1", str(error))],
        ) from error

    def rows() -> Iterator[tuple[int, list[Any]]]:
        with stream:
            number = 1
            try:
                for row in reader:
                    number += 1
                    if not any(cell.strip() for cell in row):
                        return
                    yield number, row
            except csv.Error as error:
                raise ImportRefused(
                    _(
                        "%(file)s: row %(row)s is not CSV: %(error)s",
                        file=source.filename,
                        row=number + 1,
                        error=str(error),
                    ),
                    [Problem(source.filename, f"/row/{number + 1}", str(error))],
                ) from error

    return header, rows()


def _xlsx_rows(source: Source) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    import openpyxl  # only for XLSX files
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError) as error:
        raise ImportRefused(
            _("%(file)s is not an XLSX workbook: %(error)s", file=source.filename, error=str(error)),
            [Problem(source.filename, "", _("is not an XLSX workbook"))],
        ) from error
    sheet = book.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    first = next(iterator, None)
    if first is None:
        book.close()
        raise ImportRefused(
            _("%(file)s has no header row.", file=source.filename),
            [Problem(source.filename, "", _("is empty"))],
        )
    header = ["" if h is None else str(h).strip() for h in first]
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for number, row in enumerate(iterator, start=2):
                cells = list(row[: len(header)])
                if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                    return
                yield number, cells
        finally:
            book.close()

    return header, rows()


# --- mappings ------------------------------------------------------------------------------------


@dataclass
class Mapping_:
    """Which column fills which field (None: the column is skipped), and aliases of values by field."""

    columns: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    name: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "values": self.values}


def parse_mapping(body: Any, where: str = "mapping") -> Mapping_:
    """A mapping from its JSON (text or parsed); ImportRefused names every problem by JSON path."""
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError as error:
            raise ImportRefused(
                _("%(where)s is not JSON: %(error)s", where=where, error=str(error)),
                [Problem(where, "", _("is not JSON: %(error)s", error=str(error)))],
            ) from error
    problems = []
    if not isinstance(body, dict):
        raise ImportRefused(
            _("%(where)s must be a JSON object.", where=where), [Problem(where, "", _("must be an object"))]
        )
    for key in body:
        if key not in ("columns", "values", "name", "record_type"):
            problems.append(Problem(where, f"/{key}", _("is not a part of a mapping (columns, values)")))
    columns = body.get("columns", {})
    if not isinstance(columns, dict):
        problems.append(
            Problem(where, "/columns", _("must be an object: column header → field name or null"))
        )
        columns = {}
    for header, target in columns.items():
        if target is not None and not isinstance(target, str):
            problems.append(Problem(where, f"/columns/{_escape(header)}", _("must be a field name or null")))
    values = body.get("values", {})
    if not isinstance(values, dict):
        problems.append(Problem(where, "/values", _("must be an object: field → {alias: value}")))
        values = {}
    for name, aliases in values.items():
        if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
            problems.append(Problem(where, f"/values/{_escape(name)}", _("must be an object of texts")))
    if problems:
        raise ImportRefused(_("%(where)s has problems.", where=where), problems)
    return Mapping_(dict(columns), {k: dict(v) for k, v in values.items()}, body.get("name"))


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def load_mapping(session: Any, name: str) -> Mapping_:
    row = session.scalar(select(ImportMapping).where(ImportMapping.name == name))
    if row is None:
        raise ImportRefused(
            _("There is no saved mapping %(name)s.", name=name), [Problem("mapping", "", _("does not exist"))]
        )
    mapping = parse_mapping(row.body, f"mapping {name}")
    mapping.name = name
    return mapping


def save_mapping(session: Any, name: str, record_type: str, mapping: Mapping_, actor: Actor) -> ImportMapping:
    """Keep `mapping` under `name` for the next file (replacing one of that name)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ImportRefused(
            _("A mapping's name has 1 to 64 characters."), [Problem("mapping", "/name", _("is required"))]
        )
    row = session.scalar(select(ImportMapping).where(ImportMapping.name == name))
    if row is None:
        row = ImportMapping(name=name, record_type=record_type, body={}, updated_by=actor.username)
        session.add(row)
    row.record_type, row.body, row.updated_by = record_type, mapping.as_json(), actor.username
    session.flush()
    return row


def mappings_of(session: Any, record_type: str) -> list[ImportMapping]:
    return list(
        session.scalars(
            select(ImportMapping).where(ImportMapping.record_type == record_type).order_by(ImportMapping.name)
        )
    )


def _words(text: Any) -> str:
    return " ".join(str(text).split()).casefold()


def targets(spec: RecordTypeSpec) -> dict[str, dict[str, str]]:
    """What a column may fill: the type's fields and the system fields, with their titles."""
    found = {name: f.title for name, f in spec.fields.items()}
    for name in SYSTEM_TARGETS:
        found.setdefault(name, SYSTEM_TITLES[name])
    return found


def match_columns(
    spec: RecordTypeSpec,
    header: list[str],
    mapping: Mapping_,
    filename: str,
    hidden: frozenset[str] = frozenset(),
    lenient: bool = False,
    on_screen: bool = False,
) -> list[str | None]:
    """The target of each column: the mapping's, else the field whose name or title (either language) it is.

    ImportRefused names every column that matches nothing, and every target the type does not have.
    `on_screen`: the problems are read on the import screen, where a column is skipped by choosing
    "(skip this column)", not by mapping it to null in the mapping's JSON.
    """
    known = {name: title for name, title in targets(spec).items() if name not in hidden}
    by_words: dict[str, str] = {}
    for name, title in known.items():
        for words in (name, title.get("en", ""), title.get("zh", "")):
            by_words.setdefault(_words(words), name)
    # what an export holds beside the fields (SLA, who wrote it) is the system's to keep: skipped, not refused
    skipped = {
        _words(words)
        for name, title in SYSTEM_TITLES.items()
        if name not in known
        for words in (name, title.get("en", ""), title.get("zh", ""))
    }
    problems = []
    for header_text, target in mapping.columns.items():
        if target is not None and target not in known:
            problems.append(
                Problem(
                    "mapping",
                    f"/columns/{_escape(header_text)}",
                    _("%(field)s is not a field of %(type)s", field=target, type=Bilingual(spec.title)),
                )
            )
    for name in mapping.values:
        if name not in known:
            problems.append(
                Problem(
                    "mapping",
                    f"/values/{_escape(name)}",
                    _("%(field)s is not a field of %(type)s", field=name, type=Bilingual(spec.title)),
                )
            )
    chosen: list[str | None] = []
    seen: dict[str, str] = {}
    for index, text in enumerate(header):
        letter = column_letter(index)
        if text in mapping.columns:
            target = mapping.columns[text]
        elif not text:
            target = None
            problems.append(Problem(filename, f"/columns/{letter}", _("has no header")))
        else:
            target = by_words.get(_words(text))
            if target is None and _words(text) in skipped:
                chosen.append(None)
                continue
            if target is None:
                problems.append(
                    Problem(
                        filename,
                        f"/columns/{letter}",
                        _(
                            'column %(column)s (%(letter)s) matches no field of %(type)s: choose a field for it, or choose "(skip this column)"',
                            column=text,
                            letter=letter,
                            type=Bilingual(spec.title),
                        )
                        if on_screen
                        else _(
                            "column %(column)s (%(letter)s) matches no field of %(type)s: map it to a field, or to null to skip it",
                            column=text,
                            letter=letter,
                            type=Bilingual(spec.title),
                        ),
                    )
                )
        if target is not None and target in seen:
            problems.append(
                Problem(
                    filename,
                    f"/columns/{letter}",
                    _(
                        "column %(column)s fills %(field)s, as column %(other)s does",
                        column=text,
                        field=Bilingual(spec.title_of(target)),
                        other=seen[target],
                    ),
                )
            )
        if target is not None:
            seen[target] = text
        chosen.append(target if target in known else None)
    if problems and not lenient:  # lenient: the screens show the columns to map, with their problems
        raise ImportRefused(
            _("The file's columns do not fit %(type)s.", type=Bilingual(spec.title)), problems
        )
    return chosen


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# --- values --------------------------------------------------------------------------------------


class BadValue(ValueError):
    """A cell that cannot be a value of its field; the message says why."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


AMBIGUOUS = object()


class Resolver:
    """Turns cells into values for one actor: choices, references, people, departments, states.

    References and people are looked up with the actor's sight only (what they could pick on a form),
    in one query per chunk and distinct value, and remembered for the whole import.
    """

    def __init__(self, records: Records, spec: RecordTypeSpec, mapping: Mapping_, zone: ZoneInfo) -> None:
        self.records = records
        self.spec = spec
        self.mapping = mapping
        self.zone = zone
        self._refs: dict[str, dict[str, Any]] = {}
        self._people: dict[str, Any] | None = None
        self._departments: dict[str, Any] | None = None
        self._choices: dict[str, dict[str, Any]] = {}
        workflow = records.catalog.workflows.get(spec.name)
        self.states: dict[str, str] = {}
        if workflow is not None:
            for name, state in workflow.states.items():
                for words in (name, *state.title.values()):
                    self.states.setdefault(_words(words), name)
        else:  # a type without a workflow: its records' one state, as its exports write it
            self.states[_words(NO_WORKFLOW_STATE)] = NO_WORKFLOW_STATE

    def type_title(self, name: str) -> Any:
        """A record type as people call it (its title in their language); its name if there is none."""
        spec = self.records.catalog.record_types.get(name)
        return Bilingual(spec.title) if spec is not None else name

    # choices and plain values

    def alias(self, target: str, value: Any) -> Any:
        aliases = self.mapping.values.get(target)
        if aliases and isinstance(value, str) and value.strip() in aliases:
            return aliases[value.strip()]
        return value

    def value(self, target: str, fld: FieldSpec | None, raw: Any) -> Any:
        """The JSON value of a cell for `target` (a field, or a system field when `fld` is None)."""
        raw = self.alias(target, raw)
        if isinstance(raw, str):
            raw = _unquote(raw).strip()
        if raw is None or raw == "":
            return None
        if fld is None:
            return self.system_value(target, raw)
        kind = fld.kind
        if kind in (TEXT, RICHTEXT):
            return _text(raw)
        if kind == ENUM:
            return self.choice(fld, raw)
        if kind == ENUM_LIST:
            return [self.choice(fld, item) for item in _items(raw)]
        if kind == INTEGER:
            if fld.choices:
                return self.choice(fld, raw)
            return _integer(raw)
        if kind == NUMBER:
            if fld.choices:
                return self.choice(fld, raw)
            return _number(raw)
        if kind == BOOLEAN:
            return _boolean(raw)
        if kind == DATE:
            return _date(raw)
        if kind == DATETIME:
            return format_datetime(_datetime(raw, self.zone))
        if kind == REF:
            return self.reference(fld.target or "", raw)
        if kind == REF_LIST:
            return [self.reference(fld.target or "", item) for item in _items(raw)]
        if kind == USER:
            return self.person(raw)
        if kind == USER_LIST:
            return [self.person(item) for item in _items(raw)]
        raise BadValue(_("%(field)s cannot be imported from a cell", field=Bilingual(fld.title)))

    def choice(self, fld: FieldSpec, raw: Any) -> Any:
        """A choice by its key or a label (either language); the first in the field's order that fits."""
        known = self._choices.get(fld.name)
        if known is None:  # each choice's words once per import, not per row
            known = self._choices[fld.name] = {}
            for key, titles in fld.choices:
                for words in (key, *titles.values()):
                    known.setdefault(_words(words), key)
        text = _words(_text(raw))
        if text in known:
            return known[text]
        offered = ", ".join(str(key) for key, _t in fld.choices)
        raise BadValue(_("%(value)s is not one of %(choices)s", value=_text(raw), choices=offered))

    def system_value(self, target: str, raw: Any) -> Any:
        if target == "number":
            return _text(raw)
        if target in ("owner", "assignee"):
            return self.person(raw)
        if target == "client":
            return self.reference(CLIENT_TYPE, raw)
        if target == "department":
            return self.department(raw)
        if target == "state":
            state = self.states.get(_words(_text(raw)))
            if state is None:
                raise BadValue(
                    _(
                        "%(value)s is not a state of %(type)s",
                        value=_text(raw),
                        type=Bilingual(self.spec.title),
                    )
                )
            return state
        if target in ("created_at", "updated_at"):
            return _datetime(raw, self.zone)
        raise BadValue(_("%(field)s cannot be imported", field=Bilingual(self.spec.title_of(target))))

    # references

    def prefetch(self, target: str, texts: set[str]) -> None:
        """Look up, in one query, the records of `target` the actor sees named by any of `texts`."""
        cache = self._refs.setdefault(target, {})
        wanted = {t for t in texts if t not in cache}
        if not wanted or target not in self.records.catalog.record_types:
            return
        spec = self.records.catalog.record_types[target]
        model = self.records.model(target)
        columns = [model.number] + [
            getattr(model, spec.fields[n].column)
            for n in ("name", "title", "subject", "short_name")
            if n in spec.fields and spec.fields[n].kind == TEXT
        ]
        try:
            query = self.records.query(target)
        except RecordError:
            for t in wanted:
                cache[t] = None
            return
        found: dict[str, set[int]] = {t: set() for t in wanted}
        values = sorted(wanted)
        for start in range(0, len(values), 500):
            part = values[start : start + 500]
            rows = self.records.session.execute(
                query.with_only_columns(model.id, *columns).where(or_(*[c.in_(part) for c in columns]))
            )
            for row in rows:
                record_id, *texts_of = row
                number = texts_of[0]
                if number in found:  # a number names its record alone
                    found[number] = {-record_id}
                for text in texts_of[1:]:
                    if text in found and not any(i < 0 for i in found[text]):
                        found[text].add(record_id)
        known = self.records.known_visible.setdefault(target, set())
        for text, ids in found.items():
            ids = {abs(i) for i in ids}
            known |= ids
            cache[text] = None if not ids else (ids.pop() if len(ids) == 1 else AMBIGUOUS)

    def reference(self, target: str, raw: Any) -> int:
        text = _text(raw)
        self.prefetch(target, {text})
        found = self._refs[target].get(text)
        if (
            found is None and " " in text
        ):  # "PRJ-2024-0001 Core banking upgrade", as pages and exports name it
            number = text.split(" ", 1)[0]
            self.prefetch(target, {number})
            found = self._refs[target].get(number)
        if found is None:
            raise BadValue(
                _("there is no %(type)s %(value)s that you can see", type=self.type_title(target), value=text)
            )
        if found is AMBIGUOUS:
            raise BadValue(
                _(
                    "more than one %(type)s is named %(value)s: use its number",
                    type=self.type_title(target),
                    value=text,
                )
            )
        return found

    # people and departments

    def person(self, raw: Any) -> int:
        if self._people is None:
            self._people = {}
            rows = self.records.session.execute(
                select(
                    Person.id,
                    Person.username,
                    Person.email,
                    Person.first_name,
                    Person.last_name,
                    Person.client_id,
                ).where(Person.active.is_(True), visible_people(self.records.actor))
            )
            nameable = self.records.known_nameable = set()
            organisations = self.records.known_organisations = {}
            for person_id, username, email, first, last, client_id in rows:
                nameable.add(person_id)
                organisations[person_id] = client_id
                names = {
                    username,
                    email,
                    f"{first} {last}",
                    f"{last} {first}",
                    f"{last}{first}",
                    f"{first}{last}",
                }
                for name in names:
                    key = _words(name or "")
                    if not key:
                        continue
                    held = self._people.get(key)
                    self._people[key] = person_id if held in (None, person_id) else AMBIGUOUS
        text = _text(raw)
        found = self._people.get(_words(text))
        if found is None:
            raise BadValue(_("there is no active user %(value)s that you can name", value=text))
        if found is AMBIGUOUS:
            raise BadValue(_("more than one user is called %(value)s: use the user name", value=text))
        return found

    def department(self, raw: Any) -> int:
        if self._departments is None:
            self._departments = {}
            for row in self.records.session.scalars(select(Department)):
                for words in (row.name, row.title_en, row.title_zh):
                    self._departments.setdefault(_words(words), row.id)
        found = self._departments.get(_words(_text(raw)))
        if found is None:
            raise BadValue(_("there is no department %(value)s", value=_text(raw)))
        return found


def _unquote(text: str) -> str:
    """A spreadsheet-safe cell (`'=1+1`, from an export) as it was written."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_STARTS:
        return text[1:]
    return text


def _text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dt.datetime):
        return raw.isoformat(sep=" ")
    if isinstance(raw, dt.date):
        return raw.isoformat()
    return str(raw)


def _items(raw: Any) -> list[str]:
    """The items of a list cell: split at 、 ; ； or line breaks (as exports join them), and at commas only
    when there is none of those (a record's label may hold a comma: "CUS-0001 Acme, Inc.")."""
    text = _text(raw)
    if any(separator in text for separator in LIST_SEPARATORS):
        for separator in LIST_SEPARATORS:
            text = text.replace(separator, "\n")
        items = text.split("\n")
    else:
        items = text.split(",")
    return [item.strip() for item in items if item.strip()]


def _integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise BadValue(_("%(value)s is not a whole number", value=raw))
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    number = _decimal(raw, _("%(value)s is not a whole number", value=_text(raw)))
    if number != number.to_integral_value():
        raise BadValue(_("%(value)s is not a whole number", value=_text(raw)))
    return int(number)


def _number(raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise BadValue(_("%(value)s is not a number", value=raw))
    if isinstance(raw, int | float):
        number = Decimal(str(raw))
    else:
        number = _decimal(raw, _("%(value)s is not a number", value=_text(raw)))
    return int(number) if number == number.to_integral_value() else float(number)


def _decimal(raw: Any, message: Any) -> Decimal:
    text = _text(raw).replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise BadValue(message) from None
    if not number.is_finite():
        raise BadValue(message)
    return number


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = _words(_text(raw))
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise BadValue(_("%(value)s is not yes or no", value=_text(raw)))


def _date(raw: Any) -> str:
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    text = _text(raw).replace("/", "-").replace(".", "-")
    text = text.replace("年", "-").replace("月", "-").replace("日", "")
    try:
        year, month, day = (int(part) for part in text.split(" ")[0].split("-"))
        return dt.date(year, month, day).isoformat()
    except ValueError:
        raise BadValue(_("%(value)s is not a date (YYYY-MM-DD)", value=_text(raw))) from None


def _datetime(raw: Any, zone: ZoneInfo) -> dt.datetime:
    """A moment: ISO 8601 with or without its offset (then in the installation's time zone), or a
    spreadsheet's date and time."""
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, dt.date):
        value = dt.datetime(raw.year, raw.month, raw.day)
    else:
        text = _text(raw).strip().replace("/", "-").replace("Z", "+00:00")
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BadValue(
                _("%(value)s is not a date and time (YYYY-MM-DD HH:MM)", value=_text(raw))
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(dt.UTC)


# --- rows ----------------------------------------------------------------------------------------


@dataclass
class Verdict:
    row: int
    verdict: str  # insert, update, unchanged, error
    problems: list[dict[str, Any]] = field(default_factory=list)
    record_id: int | None = None

    def message(self) -> str:
        return "; ".join(
            f"{p['column'] or p['field'] or ''}: {p['message']}".lstrip(": ") for p in self.problems
        )


@dataclass
class Outcome:
    """What an import did (or a dry run would do)."""

    total: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    preview: list[Verdict] = field(default_factory=list)
    error_rows: set[int] = field(default_factory=set)

    def count(self, verdict: Verdict) -> None:
        self.total += 1
        if verdict.verdict == INSERT:
            self.inserted += 1
        elif verdict.verdict == UPDATE:
            self.updated += 1
        elif verdict.verdict == UNCHANGED:
            self.unchanged += 1
        else:
            self.failed += 1
            self.error_rows.add(verdict.row)
            self.problems.extend({"row": verdict.row, **p} for p in verdict.problems)
        if len(self.preview) < PREVIEW:
            self.preview.append(verdict)

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.total,
            "insert": self.inserted,
            "update": self.updated,
            "unchanged": self.unchanged,
            "error": self.failed,
            "errors": [{**p, "message": str(p["message"])} for p in self.problems[:KEPT_PROBLEMS]],
            "verdicts": [
                {"row": v.row, "verdict": v.verdict, **({"record": v.record_id} if v.record_id else {})}
                for v in self.preview
            ],
        }


class Importer:
    """Imports the rows of one file into one record type as one actor (through `records`)."""

    def __init__(
        self,
        records: Records,
        type_name: str,
        source: Source,
        mapping: Mapping_ | None = None,
        key: str | None = None,
        run_automations: bool = False,
    ) -> None:
        self.records = records
        self.spec = records.spec(type_name)  # NotFound for a type the actor does not have
        self.source = source
        self.mapping = mapping or Mapping_()
        self.key = key or None
        self.run_automations = run_automations
        actor, access = records.actor, records.access
        self.header, rows = read_rows(source)
        rows.close()  # opened again for each pass (`rows`)
        may_create = access.can(actor, self.spec, "create")
        may_write = access.can(actor, self.spec, "write")
        if not may_create and not (self.key and may_write):
            raise Forbidden(
                _("You may not create %(type)s records.", type=Bilingual(self.spec.title)),
                [
                    Problem(
                        source.filename,
                        "",
                        _("you may not create %(type)s records", type=Bilingual(self.spec.title)),
                    )
                ],
            )
        # a field hidden from the actor is not there for them: its column matches nothing, as an unknown one
        hidden = records.access.hidden_fields(records.actor, self.spec)
        self.columns = match_columns(self.spec, self.header, self.mapping, source.filename, hidden)
        problems = []
        closed = access.read_only_fields(actor, self.spec)
        forbidden = False
        manages = "manage_definitions" in access.abilities(actor)
        for index, target in enumerate(self.columns):
            if target is None:
                continue
            where = f"/columns/{column_letter(index)}"
            if target in closed:
                forbidden = True
                problems.append(
                    Problem(
                        source.filename,
                        where,
                        _(
                            "column %(column)s: %(field)s is read-only for you",
                            column=self.header[index],
                            field=Bilingual(self.spec.title_of(target)),
                        ),
                    )
                )
            elif target in self.spec.fields and self.spec.fields[target].schema.get("readOnly"):
                problems.append(
                    Problem(
                        source.filename,
                        where,
                        _(
                            "column %(column)s: %(field)s is read-only",
                            column=self.header[index],
                            field=Bilingual(self.spec.title_of(target)),
                        ),
                    )
                )
            elif (target in HISTORY_TARGETS or (target == "number" and self.key != "number")) and not manages:
                forbidden = True
                problems.append(
                    Problem(
                        source.filename,
                        where,
                        _(
                            "column %(column)s: only who manages definitions imports %(field)s (it rewrites history)",
                            column=self.header[index],
                            field=Bilingual(self.spec.title_of(target)),
                        ),
                    )
                )
            elif target in self.spec.fields and self.spec.fields[target].kind not in IMPORTABLE:
                problems.append(
                    Problem(
                        source.filename,
                        where,
                        _(
                            "column %(column)s: %(field)s cannot be imported from a cell",
                            column=self.header[index],
                            field=Bilingual(self.spec.title_of(target)),
                        ),
                    )
                )
        if self.key is not None:
            if self.key not in self.columns:
                problems.append(
                    Problem(
                        "key",
                        "",
                        _(
                            "the key %(field)s is not a column of the file (or of the mapping)",
                            field=self.key,
                        ),
                    )
                )
            elif self.key != "number" and (
                self.key not in self.spec.fields or self.spec.fields[self.key].kind not in KEY_KINDS
            ):
                problems.append(
                    Problem(
                        "key",
                        "",
                        _(
                            "%(field)s cannot be a key: use number or a text or whole-number field",
                            field=self.key,
                        ),
                    )
                )
        if problems:
            raise (Forbidden if forbidden else ImportRefused)(
                _(
                    "%(file)s cannot be imported into %(type)s.",
                    file=source.filename,
                    type=Bilingual(self.spec.title),
                ),
                problems,
            )
        records.known_visible = {}
        records.known_parents = {}
        records.known_client_numbers = {}
        self.resolver = Resolver(records, self.spec, self.mapping, records.zone)
        self._keyed: dict[Any, Any] = {}
        self._waiting: list[tuple[Verdict, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        self._taken: set[str] = set()
        self._loaded: dict[int, Any] = {}
        self._free: set[str] = set()
        self.manages = manages

    # reading

    def rows(self, skip: int = 0) -> Iterator[tuple[int, list[Any]]]:
        """The file's rows after the first `skip` (a checkpoint)."""
        _header, rows = read_rows(self.source)
        for index, row in enumerate(rows):
            if index >= skip:
                yield row

    def chunks(self, skip: int = 0, size: int = CHUNK) -> Iterator[list[tuple[int, list[Any]]]]:
        chunk: list[tuple[int, list[Any]]] = []
        for row in self.rows(skip):
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    # writing

    def run_chunk(self, chunk: list[tuple[int, list[Any]]]) -> list[Verdict]:
        """Import the rows of `chunk` in the records' session (the caller commits or rolls back)."""
        verdicts = self.read_chunk(chunk)
        write_chunk(self.records)
        return verdicts

    def read_chunk(self, chunk: list[tuple[int, list[Any]]]) -> list[Verdict]:
        """Each row of `chunk` checked and its verdict given: all of `run_chunk` but the inserts that the
        records service keeps waiting (`Records.waiting_writes`, when set) for `write_chunk`."""
        self.records.silent = not self.run_automations
        self._prefetch(chunk)
        verdicts = [self.run_row(number, row) for number, row in chunk]
        self._insert_waiting()
        self._loaded.clear()
        self._keyed = {k: v for k, v in self._keyed.items() if isinstance(v, int)}
        return verdicts

    def overlaps(self) -> bool:
        """Whether a chunk may be read while the one before it is written (`run_import`): not when a row
        may name another of the file (a reference to the type itself), nor for client organisations (each
        is its own client, written at once), nor when automations hear of each record as it is written."""
        if self.run_automations or self.spec.name == CLIENT_TYPE:
            return False
        fields = [self.spec.fields.get(target) for target in self.columns if target is not None]
        return not any(f and f.kind in (REF, REF_LIST) and f.target == self.spec.name for f in fields)

    def keys_of(self, chunk: list[tuple[int, list[Any]]]) -> set[tuple[str, Any]]:
        """The record numbers and key values the rows of `chunk` name. A chunk naming one that the chunk
        before it names is read only once that one is written: its record is then there to change, or its
        number taken."""
        keys = self._keys_named(chunk) if self.key is not None and self.key != "number" else set()
        return {("number", n) for n in self._numbers_named(chunk)} | {("key", k) for k in keys}

    def _numbers_named(self, chunk: list[tuple[int, list[Any]]]) -> set[str]:
        """The record numbers the rows of `chunk` give (their number column, if the file has one)."""
        if "number" not in self.columns:
            return set()
        index = self.columns.index("number")
        return {_unquote(_text(row[index])).strip() for _n, row in chunk if index < len(row) and row[index]}

    def _keys_named(self, chunk: list[tuple[int, list[Any]]]) -> set[Any]:
        """The key values the rows of `chunk` give (a cell that is no value of the key is left out)."""
        index = self.columns.index(self.key)
        found = set()
        for _number, row in chunk:
            try:
                value = self._key_value(row[index] if index < len(row) else None)
            except BadValue:
                continue
            if value is not None:
                found.add(value)
        return found

    def twin(self, session: Any) -> Records:
        """The records service of this import's actor in another session (`use`)."""
        first = self.records
        return Records(session, first.catalog, first.actor, first.access, first.clock, first.zone.key)

    def use(self, records: Records) -> None:
        """Read the next chunk through `records` (`twin`), knowing what was looked up through the other."""
        for name in KNOWN:
            setattr(records, name, getattr(self.records, name))
        self.records = self.resolver.records = records

    def _prefetch(self, chunk: list[tuple[int, list[Any]]]) -> None:
        """One query per referenced type (and one for the keys) for the whole chunk."""
        by_target: dict[str, set[str]] = {}
        for index, target in enumerate(self.columns):
            if target is None:
                continue
            fld = self.spec.fields.get(target)
            ref = (
                CLIENT_TYPE
                if target == "client"
                else fld.target
                if fld and fld.kind in (REF, REF_LIST)
                else None
            )
            if ref is None:
                continue
            texts = by_target.setdefault(ref, set())
            aliases = self.mapping.values.get(target, {})
            for _number, row in chunk:
                cell = row[index] if index < len(row) else None
                if cell is None or cell == "":
                    continue
                cell = aliases.get(cell.strip(), cell) if isinstance(cell, str) else cell
                items = (
                    _items(cell)
                    if fld is not None and fld.kind == REF_LIST
                    else [_text(_unquote(_text(cell)).strip())]
                )
                texts.update(items)
                texts.update(item.split(" ", 1)[0] for item in items if " " in item)
        for target, texts in by_target.items():
            self.resolver.prefetch(target, texts)
        self._taken, self._free = set(), set()
        if "number" in self.columns:  # which numbers the chunk's new rows would take are free: one query
            numbers = self._numbers_named(chunk)
            model = self.records.model(self.spec.name)
            taken = set()
            ordered = sorted(numbers)
            for start in range(0, len(ordered), 500):
                taken |= set(
                    self.records.session.scalars(
                        select(model.number).where(model.number.in_(ordered[start : start + 500]))
                    )
                )
            self._taken, self._free = taken, numbers - taken
        if self.key is not None:
            keys = {value for value in self._keys_named(chunk) if value not in self._keyed}
            if keys:
                model = self.records.model(self.spec.name)
                column = self._key_column(model)
                found: dict[Any, list[int]] = {}
                query = self.records.query(self.spec.name)
                values = sorted(keys, key=str)
                for start in range(0, len(values), 500):  # whole records: an unchanged row reads nothing more
                    for record in self.records.session.scalars(
                        query.where(column.in_(values[start : start + 500]))
                    ):
                        found.setdefault(getattr(record, column.key), []).append(record.id)
                        self._loaded[record.id] = record
                for value in keys:
                    ids = found.get(value, [])
                    self._keyed[value] = None if not ids else ids[0] if len(ids) == 1 else AMBIGUOUS

    def _key_column(self, model: Any) -> Any:
        return model.number if self.key == "number" else getattr(model, self.spec.fields[self.key].column)

    def _key_value(self, cell: Any) -> Any:
        if self.key is None:
            return None
        fld = self.spec.fields.get(self.key)
        value = self.resolver.value(self.key, fld, cell)
        return value

    def run_row(self, number: int, row: list[Any]) -> Verdict:
        """One row: its values, then an insert, an update, nothing (unchanged), or its problems."""
        data: dict[str, Any] = {}
        system: dict[str, Any] = {}
        imported: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        for index, target in enumerate(self.columns):
            if target is None:
                continue
            cell = row[index] if index < len(row) else None
            fld = self.spec.fields.get(target)
            try:
                value = self.resolver.value(target, fld, cell)
            except BadValue as error:
                problems.append(self._problem(target, index, error.message))
                continue
            if fld is not None:
                data[target] = value
            elif target in ("owner", "assignee", "client", "department"):
                system[target] = value
            elif value is not None:
                imported[target] = value
        if problems:
            return Verdict(number, ERROR, problems)
        existing = None
        if self.key is not None:
            key_value = imported.get("number") if self.key == "number" else data.get(self.key)
            if key_value is None:
                return Verdict(
                    number,
                    ERROR,
                    [self._problem(self.key, self.columns.index(self.key), _("is required: it is the key"))],
                )
            found = self._keyed.get(key_value)
            if isinstance(found, Verdict):  # an earlier row of this chunk creates it: an update of that
                self._insert_waiting()
                self.records.write_waiting()
                found = self._keyed.get(key_value)
            if found is AMBIGUOUS:
                return Verdict(
                    number,
                    ERROR,
                    [
                        self._problem(
                            self.key, self.columns.index(self.key), _("more than one record has this key")
                        )
                    ],
                )
            if found is not None:
                existing = found
        if existing is None:
            # A creation checks everything before it writes anything: a refused row leaves nothing behind.
            # It waits to be inserted with the chunk's other new rows (`_insert_waiting`).
            try:
                imported = self._new(data, imported)
            except RecordError as error:
                return Verdict(number, ERROR, self._problems_of(error))
            verdict = Verdict(number, INSERT)
            self._waiting.append(
                (verdict, {k: v for k, v in data.items() if v is not None}, system, imported)
            )
            if self.key is not None:
                self._keyed[imported.get("number") if self.key == "number" else data.get(self.key)] = verdict
            return verdict
        savepoint = self.records.session.begin_nested()  # a change is refused after its values are set
        try:
            verdict = self._update(number, existing, data, system, imported)
            savepoint.commit()
            return verdict
        except RecordError as error:
            savepoint.rollback()
            return Verdict(number, ERROR, self._problems_of(error))

    def _insert_waiting(self) -> None:
        """Create the new rows waiting (`run_row`) at once (`Records.create_many`): each gets its record
        or, when the records service refuses it, its problems."""
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return
        made = self.records.create_many(self.spec.name, [(d, s, i) for _v, d, s, i in waiting])
        for (verdict, *_row), record in zip(waiting, made, strict=True):
            if isinstance(record, RecordError):
                verdict.verdict, verdict.problems = ERROR, self._problems_of(record)
            else:
                verdict.record_id = record.id
        for key, value in self._keyed.items():
            if isinstance(value, Verdict):
                self._keyed[key] = value.record_id  # None (not found: a later row creates it) if refused

    def _new(self, data: dict[str, Any], imported: dict[str, Any]) -> dict[str, Any]:
        """What a new row keeps of its source's history, once the importer's own checks pass."""
        if not self.records.access.can(self.records.actor, self.spec, "create"):
            raise Forbidden(_("You may not create %(type)s records.", type=Bilingual(self.spec.title)))
        if "number" in imported and not self.manages:
            raise Invalid(
                _("no such record"),
                [
                    Problem(
                        "",
                        "/number",
                        _("no %(type)s you may change has this number", type=Bilingual(self.spec.title)),
                    )
                ],
            )
        data = {k: v for k, v in data.items() if v is not None}
        if "number" in imported and self._number_taken(imported["number"]):
            raise Invalid(_("number taken"), [Problem("", "/number", _("is already used by another record"))])
        if "state" in imported:  # it came in that state at the latest moment the row names, if any
            created = imported.get("created_at")
            moments = (
                [
                    moment
                    for name, value in data.items()
                    if self.spec.fields[name].kind == DATETIME
                    and (created is None or (moment := _datetime(value, self.records.zone)) >= created)
                ]
                if created
                else []
            )
            imported = {**imported, "state_at": imported.get("updated_at") or max(moments, default=created)}
        return imported

    def _number_taken(self, number: str) -> bool:
        """Whether a record (any, seen or not) already has this number: a creation would fail on it."""
        if number in self._taken:
            return True
        if number in self._free:
            self._free.discard(number)
            self._taken.add(number)  # this row takes it
            return False
        model = self.records.model(self.spec.name)
        return self.records.session.scalar(select(model.id).where(model.number == number)) is not None

    def _update(
        self,
        number: int,
        record_id: int,
        data: dict[str, Any],
        system: dict[str, Any],
        imported: dict[str, Any],
    ) -> Verdict:
        record = self._loaded.pop(record_id, None) or self.records.get(self.spec.name, record_id, "write")
        stored = self.records.data(record)
        changed = {k: v for k, v in data.items() if not self._same(k, stored.get(k), v)}
        moved = {k: v for k, v in system.items() if getattr(record, f"{k}_id") != v}
        state = imported.get("state")
        if not changed and not moved and (state is None or state == record.state):
            return Verdict(number, UNCHANGED, record_id=record_id)
        history = {"state": state, "updated_at": imported.get("updated_at")}  # "imported" in the history
        self.records.update(
            self.spec.name, record_id, changed, record.version, moved, loaded=record, imported=history
        )
        return Verdict(number, UPDATE, record_id=record_id)

    def _same(self, name: str, stored: Any, new: Any) -> bool:
        """Whether a cell says what the field holds, as an export writes it: rich text by its words (its
        markup is kept), a moment to the minute (its seconds are kept)."""
        if stored == new:
            return True
        if stored is None or new is None:
            return False
        kind = self.spec.fields[name].kind
        if kind == RICHTEXT:
            return rich_text_words(stored) == new
        if kind == DATETIME:
            read = parse_datetime(new)
            return (
                read.second == read.microsecond == 0
                and parse_datetime(stored).replace(second=0, microsecond=0) == read
            )
        return False

    def _problem(self, target: str, index: int | None, message: Any) -> dict[str, Any]:
        if index is None and target in self.columns:
            index = self.columns.index(target)
        return {
            "field": target,
            "column": self.header[index] if index is not None else "",
            "message": message,
        }

    def _problems_of(self, error: RecordError) -> list[dict[str, Any]]:
        if not error.problems:
            return [self._problem("", None, error.message)]
        found = []
        for problem in error.problems:
            parts = problem.path.strip("/").split("/")
            target = parts[1] if parts[0] == "data" and len(parts) > 1 else parts[0]
            index = self.columns.index(target) if target in self.columns else None
            found.append(self._problem(target, index, problem.message))
        return found

    # passes

    def dry_run(self) -> Outcome:
        """The verdict of every row, by the same code as the real run, in a transaction rolled back."""
        outcome = Outcome()
        session = self.records.session
        try:
            for chunk in self.chunks():
                for verdict in self.run_chunk(chunk):
                    outcome.count(verdict)
        finally:
            session.rollback()
        return outcome

    def error_file(self, rows: set[int], messages: Mapping[int, str], target: Path) -> Path:
        """The rows numbered in `rows`, as they are in the file, with an error column; in the file's format."""
        error_header = str(_("Import errors"))
        if self.source.format == "xlsx":
            import openpyxl

            target.parent.mkdir(parents=True, exist_ok=True)
            book = openpyxl.Workbook(write_only=True)
            sheet = book.create_sheet()
            sheet.append([*self.header, error_header])
            for number, row in self.rows():
                if number in rows:
                    sheet.append(
                        [*list(row) + [None] * (len(self.header) - len(row)), messages.get(number, "")]
                    )
            book.save(target)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        encoding = self.source.encoding or "utf-8-sig"
        with target.open("w", encoding=encoding, newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow([*self.header, error_header])
            for number, row in self.rows():
                if number in rows:
                    writer.writerow([*row, *[""] * (len(self.header) - len(row)), messages.get(number, "")])
        return target


IMPORTABLE = {
    TEXT,
    RICHTEXT,
    ENUM,
    ENUM_LIST,
    INTEGER,
    NUMBER,
    BOOLEAN,
    DATE,
    DATETIME,
    REF,
    REF_LIST,
    USER,
    USER_LIST,
}
KEY_KINDS = {TEXT, INTEGER, ENUM}


def messages_by_row(problems: list[dict[str, Any]]) -> dict[int, str]:
    found: dict[int, list[str]] = {}
    for p in problems:
        label = p.get("column") or p.get("field") or ""
        found.setdefault(p["row"], []).append(f"{label}: {p['message']}" if label else str(p["message"]))
    return {row: "; ".join(parts) for row, parts in found.items()}


# --- runs ----------------------------------------------------------------------------------------


def imports_folder(root: Path) -> Path:
    return root / "imports"


def keep_upload(root: Path, data: bytes | io.BufferedIOBase, filename: str) -> Source:
    """An uploaded file kept under the instance folder by its hash, checked (`open_source`)."""
    folder = imports_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    content = data if isinstance(data, bytes) else data.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportRefused(
            _("%(file)s is larger than %(limit)s MB.", file=filename, limit=MAX_IMPORT_BYTES >> 20),
            [Problem(filename, "", _("is too large"))],
        )
    digest = hashlib.sha256(content).hexdigest()
    path = folder / digest
    if not path.exists():
        temporary = path.with_suffix(".part")
        temporary.write_bytes(content)
        temporary.replace(path)
    return open_source(path, Path(filename or "import").name[:255])


def upload_path(root: Path, sha256: str) -> Path | None:
    """The kept upload of this hash, if there is one."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        return None
    path = imports_folder(root) / sha256
    return path if path.exists() else None


def error_file_path(root: Path, run: ImportRun) -> Path:
    return imports_folder(root) / f"errors-{run.id}.{'xlsx' if run.format == 'xlsx' else 'csv'}"


def start_import(
    records: Records,
    type_name: str,
    source: Source,
    mapping: Mapping_ | None = None,
    key: str | None = None,
    run_automations: bool = False,
) -> ImportRun:
    """Check the import (file, mapping, rights: refused at once, nothing saved) and queue it.

    The commit wakes the jobs (`itpm.records.import_jobs`); a command runs it at once (`run_import`).
    """
    importer = Importer(records, type_name, source, mapping, key, run_automations)
    actor = records.actor
    total = sum(1 for _row in importer.rows())
    run = ImportRun(
        record_type=importer.spec.name,
        filename=source.filename,
        sha256=source.path.name if len(source.path.name) == 64 else source.sha256,
        format=source.format,
        encoding=source.encoding,
        mapping=importer.mapping.as_json(),
        key=key,
        run_automations=run_automations,
        status="queued",
        total_rows=total,
        requested_by_id=actor.id,
        requested_by=actor.username,
        actor=actor.as_json(),
        created_at=records.clock(),
        problems=[],
    )
    records.session.add(run)
    records.session.flush()
    records.session.info[WAKE_JOBS] = True
    return run


#: Set on a session that queued an import: its commit wakes whatever runs jobs (`itpm.runtime`).
WAKE_JOBS = "itpm_imports"


#: A run whose last chunk is this old, still "running", was left by a process that died: it is taken over.
def abandoned_after(runtime: Any) -> dt.timedelta:
    """How long a running import may go without a beat (a chunk committed) before it is taken over."""
    return dt.timedelta(seconds=runtime.settings.import_abandoned_after)


def _audit(session: Any, run: ImportRun, action: str, **detail: Any) -> None:
    """An import's end in the audit log: who, the file (name and hash), how many rows, and `detail`."""
    from itpm.models import AuditEntry

    session.add(
        AuditEntry(
            actor=run.requested_by,
            action=action,
            target=f"{run.record_type}/import/{run.id}",
            detail={"file": run.filename, "sha256": run.sha256, "rows": run.done_rows, **detail},
        )
    )


def run_import(
    runtime: Any,
    import_id: int,
    take_over_before: dt.datetime | None = None,
    chunk_size: int = CHUNK,
    progress: Callable[[ImportRun], None] | None = None,
    path: Path | None = None,
) -> str | None:
    """Run (or go on with) a queued import: each chunk and its checkpoint in one transaction.

    A run that died half-way (its worker killed) is taken over when its last beat is older than
    `take_over_before`; it goes on after its checkpoint, so no row is written twice. The status after,
    or None when the run was not this call's to do.
    """
    now = _utcnow()
    with runtime.session() as session:
        run = session.get(ImportRun, import_id)
        if run is None or run.status in ("done", "failed"):
            return None
        if run.status == "running" and (
            take_over_before is None or (run.beat_at or run.started_at or now) >= take_over_before
        ):
            return None
        claimed = session.execute(
            ImportRun.__table__.update()
            .where(
                ImportRun.id == import_id,
                ImportRun.attempts == run.attempts,
                ImportRun.status.in_(("queued", "running")),
            )
            .values(
                status="running", attempts=run.attempts + 1, started_at=run.started_at or now, beat_at=now
            )
        ).rowcount
        session.commit()
        if not claimed:
            return None
        mine = run.attempts + 1
    root = runtime.settings.instance_path
    source_path = path or imports_folder(root) / _stored_name(runtime, import_id)
    try:
        with runtime.session() as session, _collector_spared():
            run = session.get(ImportRun, import_id)
            actor = Actor.from_json(run.actor)
            records = Records(session, runtime.catalog(), actor, timezone=runtime.settings.timezone)
            source = open_source(source_path, run.filename)
            mapping = parse_mapping(run.mapping)
            importer = Importer(records, run.record_type, source, mapping, run.key, run.run_automations)
            done = run.done_rows
            session.commit()
            chunks = importer.chunks(skip=done, size=chunk_size)
            checkpoint = _Checkpoints(import_id, mine, progress)
            if session.get_bind().dialect.name == "postgresql" and importer.overlaps():
                finished = _overlapped(runtime, importer, chunks, checkpoint)
            else:
                finished = all(checkpoint(session, len(c), importer.run_chunk(c)) for c in chunks)
            if not finished:  # taken over while a chunk ran (we were thought dead): theirs now
                return None
            run = session.get(ImportRun, import_id)
            if run.failed:  # the rows of the problems kept (the first KEPT_PROBLEMS), as they are in the file
                problems = list(run.problems)
                importer.error_file(
                    {p["row"] for p in problems}, messages_by_row(problems), error_file_path(root, run)
                )
            run.status = "done"
            run.finished_at = _utcnow()
            _audit(
                session,
                run,
                "records.imported",
                inserted=run.inserted,
                updated=run.updated,
                unchanged=run.unchanged,
                failed=run.failed,
                key=run.key,
            )
            session.commit()
            return "done"
    except RecordError as error:
        with runtime.session() as session:
            run = session.get(ImportRun, import_id)
            run.status = "failed"
            run.error = str(error.message) + "".join(f"\n{p}" for p in error.problems)
            run.finished_at = _utcnow()
            _audit(session, run, "records.import_failed", error=run.error)
            session.commit()
        return "failed"


def write_chunk(records: Records) -> None:
    """Write what `Importer.read_chunk` left waiting, and let go of the chunk's rows (memory stays flat)."""
    records.write_waiting()
    records.session.flush()
    _let_go(records)


def _let_go(records: Records) -> None:
    records.session.expunge_all()
    records.forget_fresh()


class _Checkpoints:
    """Counts each chunk's verdicts on its import and commits them with the chunk's rows."""

    def __init__(self, import_id: int, attempt: int, progress: Callable[[ImportRun], None] | None) -> None:
        self.import_id = import_id
        self.attempt = attempt
        self.progress = progress
        self.last = time.monotonic()  # the run's seconds: from one commit to the next

    def __call__(self, session: Any, rows: int, verdicts: list[Verdict]) -> bool:
        """Commit the chunk written in `session` with its checkpoint; False (rolled back) when the import
        was taken over by another worker while it ran (this one was thought dead)."""
        run = self.claim(session)
        if run is not None:
            self.commit(session, run, rows, verdicts)
            if self.progress is not None:
                self.progress(run)
        return run is not None

    def claim(self, session: Any) -> ImportRun | None:
        """The import, locked until the commit, if it is still this attempt's; else None, rolled back."""
        run = session.get(ImportRun, self.import_id, with_for_update=True, populate_existing=True)
        if run.attempts != self.attempt:
            session.rollback()
            return None
        return run

    def commit(self, session: Any, run: ImportRun, rows: int, verdicts: list[Verdict]) -> None:
        outcome = Outcome()
        for verdict in verdicts:
            outcome.count(verdict)
        run.done_rows += rows
        run.inserted += outcome.inserted
        run.updated += outcome.updated
        run.unchanged += outcome.unchanged
        run.failed += outcome.failed
        if outcome.problems and len(run.problems or []) < KEPT_PROBLEMS:
            kept = [{**p, "message": str(p["message"])} for p in outcome.problems]
            run.problems = [*(run.problems or []), *kept][:KEPT_PROBLEMS]
        now = time.monotonic()
        run.seconds = (run.seconds or 0) + (now - self.last)
        self.last = now
        run.beat_at = _utcnow()
        session.commit()  # the rows and their checkpoint, together


def _overlapped(
    runtime: Any, importer: Importer, chunks: Iterator[list[tuple[int, list[Any]]]], checkpoint: _Checkpoints
) -> bool:
    """Import the chunks each read while the one before it is written, on PostgreSQL.

    A chunk's reading (its rows checked, their history and SLA clocks worked out) is Python's work; its
    writing is mostly the database's. So a second thread writes and commits each chunk, in a session of
    its own, while this one reads the next in another: the two take turns with the two sessions, and one
    chunk at most is written at a time, in the file's order. A chunk naming a number or key that the chunk
    being written names waits for it (`Importer.keys_of`). The verdicts are those `run_chunk` gives (a dry
    run's). False: taken over (`_Checkpoints`)."""
    first = importer.records
    context = contextvars.copy_context  # the writer seals the audit entries as the one who imports

    def write(records: Records, rows: int, verdicts: list[Verdict]) -> ImportRun | None:
        session = records.session
        run = checkpoint.claim(session)  # taken over while it was read: its rows may be the heir's
        if run is not None:
            records.write_waiting()
            checkpoint.commit(session, run, rows, verdicts)
            if checkpoint.progress is not None:
                session.refresh(run)  # read after, on the other thread (`landed`)
            _let_go(records)
        return run

    writing: Future[ImportRun | None] | None = None

    def landed() -> bool:
        """Wait for the chunk being written, if any: whether it landed (False: taken over)."""
        nonlocal writing
        if writing is None:
            return True
        future, writing = writing, None
        run = future.result()
        if run is not None and checkpoint.progress is not None:
            checkpoint.progress(run)
        return run is not None

    with runtime.session() as session, ThreadPoolExecutor(1, thread_name_prefix="itpm-import") as writer:
        pool = [first, importer.twin(session)]
        named: set[tuple[str, Any]] = set()
        try:
            for index, chunk in enumerate(chunks):
                records = pool[index % 2]  # idle: its last chunk landed before the one being written went
                importer.use(records)
                keys = importer.keys_of(chunk)
                if keys & named and not landed():
                    return False
                records.waiting_writes = []
                verdicts = importer.read_chunk(chunk)
                if not landed():
                    records.session.rollback()
                    return False
                writing = writer.submit(context().run, write, records, len(chunk), verdicts)
                named = keys
            return landed()
        finally:
            if writing is not None:  # reading failed: the chunk being written lands all the same
                wait([writing])
            for records in pool:
                records.waiting_writes = None
            importer.use(first)


_spared = {"imports": 0}
_spared_lock = threading.Lock()


@contextmanager
def _collector_spared() -> Iterator[None]:
    """While imports run, the garbage collector's full passes leave out the objects the process held
    before (the app, its catalogue, models and schemas: some 300,000). Each chunk's rows live long
    enough to bring on a full pass, and one over them all took 0.2 s: a third of an import's time.
    They are collected as before once the last import running ends (`gc.unfreeze`)."""
    with _spared_lock:
        if not _spared["imports"]:
            gc.freeze()
        _spared["imports"] += 1
    try:
        yield
    finally:
        with _spared_lock:
            _spared["imports"] -= 1
            if not _spared["imports"]:
                gc.unfreeze()


def _stored_name(runtime: Any, import_id: int) -> str:
    with runtime.session() as session:
        return session.get(ImportRun, import_id).sha256


def _utcnow() -> dt.datetime:
    from itpm.db import utcnow

    return utcnow()


def progress_of(run: ImportRun, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the admin sees of an import: counts, rows per second and the time left."""
    rate = run.done_rows / run.seconds if run.seconds else None
    left = max(run.total_rows - run.done_rows, 0)
    return {
        "id": run.id,
        "record_type": run.record_type,
        "file": run.filename,
        "sha256": run.sha256,
        "status": run.status,
        "rows": run.total_rows,
        "done": run.done_rows,
        "insert": run.inserted,
        "update": run.updated,
        "unchanged": run.unchanged,
        "error": run.failed,
        "percent": round(100 * run.done_rows / run.total_rows) if run.total_rows else 100,
        "rows_per_second": round(rate, 1) if rate else None,
        "seconds_left": round(left / rate) if rate and run.status in ("queued", "running") else None,
        "errors": run.problems[:100],
        "message": run.error,
        "requested_by": run.requested_by,
        "created_at": format_datetime(run.created_at) if run.created_at else None,
        "finished_at": format_datetime(run.finished_at) if run.finished_at else None,
    }


def count_records(records: Records, type_name: str) -> int:
    model = records.model(type_name)
    return records.session.scalar(select(func.count()).select_from(model)) or 0


__all__ = [
    "CHUNK",
    "ImportRefused",
    "Importer",
    "Mapping_",
    "Outcome",
    "Source",
    "keep_upload",
    "load_mapping",
    "open_source",
    "parse_mapping",
    "progress_of",
    "run_import",
    "save_mapping",
    "start_import",
    "to_json",
]

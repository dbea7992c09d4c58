"""Forms for the JSON Schemas people write: each sample type's record goes in through the HTML
form and through the API, reads back identically, and is saved again unchanged from its edit form."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from schema_samples import SAMPLES
from werkzeug.datastructures import MultiDict

from conftest import csrf_token

ZONE = ZoneInfo("Asia/Shanghai")  # the admin's wall clock (the company's time zone)


def publish(runtime: Any, *documents: dict[str, Any]) -> None:
    with runtime.session() as session:
        registry = runtime.registry(session)
        for document in documents:
            registry.save_draft(document, "admin")
        registry.publish([(d["kind"], d["name"]) for d in documents], "admin", "samples")


# --- filling a form as a person (and the form script) would ------------------


def _named(schema: dict[str, Any], key: str) -> dict[str, Any]:
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        if re.search(pattern, key):
            return sub
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        target = root
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def fill(
    schema: dict[str, Any], name: str, value: Any, out: list[tuple[str, str]], top: bool = False
) -> None:
    """The inputs a person fills for `value`: paths as names, a row's own path beside its inputs."""
    types = schema.get("type")
    type_ = next((t for t in types if t != "null"), None) if isinstance(types, list) else types
    if value is None:
        return
    if not schema or (type_ is None and "properties" not in schema):
        out.append((name, json.dumps(value)))
    elif isinstance(value, dict):
        out.append((name, ""))
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            fill(sub, f"{name}.{key}", value.get(key), out)
        for number, (key, item) in enumerate((k, v) for k, v in value.items() if k not in properties):
            out += [(f"{name}.{number}", ""), (f"{name}.{number}.key", key)]
            fill(_named(schema, key), f"{name}.{number}.value", item, out)
    elif isinstance(value, list) and ("enum" in schema.get("items", {})):
        out += [(name, str(v)) for v in value]
    elif isinstance(value, list):
        out.append((name, ""))
        for number, item in enumerate(value):
            if isinstance(item, dict | list):
                fill(schema["items"], f"{name}.{number}", item, out)
            else:
                out.append((f"{name}.{number}", _text(item, schema["items"], in_row=True)))
    elif isinstance(value, bool) and not top and "." in name and name.split(".")[-1].isdigit():
        out.append((name, "yes" if value else "no"))
    elif isinstance(value, bool):
        if value:
            out.append((name, "y"))
    else:
        out.append((name, _text(value, schema)))


def _text(value: Any, schema: dict[str, Any], in_row: bool = False) -> str:
    if isinstance(value, bool):
        return ("yes" if value else "no") if in_row else ("y" if value else "")
    if schema.get("format") == "date-time":
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")
    return str(value)


class FormInputs(HTMLParser):
    """What a browser submits from the record form as it stands (rows' templates left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.in_form = False
        self.template_depth = 0
        self.select: tuple[str, bool] | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "itpm-record-form":
            self.in_form = True
        if not self.in_form:
            return
        if tag == "template":
            self.template_depth += 1
        if self.template_depth or "name" not in a and tag != "option":
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a or kind in ("file", "submit"):
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self.select, self.options = (a["name"], "multiple" in a), []
        elif tag == "option" and self.select:
            self.options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self.textarea, self.text = a["name"], ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "template" and self.template_depth:
            self.template_depth -= 1
        elif tag == "form":
            self.in_form = False
        elif tag == "select" and self.select and not self.template_depth:
            name, multiple = self.select
            chosen = [v for v, selected in self.options if selected]
            self.fields += (
                [(name, v) for v in chosen] if multiple else [(name, (chosen or [self.options[0][0]])[0])]
            )
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data


def form_inputs(html: str) -> list[tuple[str, str]]:
    parser = FormInputs()
    parser.feed(html)
    return parser.fields


def present(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def read(admin_api: Any, type_name: str, record_id: int) -> dict[str, Any]:
    response = admin_api.get(f"/api/v1/records/{type_name}/{record_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def resave(client: Any, type_name: str, record_id: int) -> Any:
    html = client.get(f"/records/{type_name}/edit/{record_id}").get_data(as_text=True)
    assert "{&#39;" not in html and "[{&#39;" not in html  # never Python's repr of a value
    return client.post(f"/records/{type_name}/edit/{record_id}", data=MultiDict(form_inputs(html)))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_sample_record_goes_in_by_form_and_api_reads_back_and_saves_again_unchanged(
    name: str, runtime: Any, admin_client: Any, admin_api: Any
) -> None:
    definition, data = SAMPLES[name]
    publish(runtime, definition)
    schema = definition["schema"]

    by_api = admin_api.post(f"/api/v1/records/{name}/", json={"data": data})
    assert by_api.status_code == 201, by_api.get_json()
    api_id = by_api.get_json()["id"]
    assert present(read(admin_api, name, api_id)["data"]) == data

    inputs: list[tuple[str, str]] = [("csrf_token", csrf_token(admin_client, f"/records/{name}/add/"))]
    for key, value in data.items():
        fill(_resolve(schema["properties"][key], schema), key, value, inputs, top=True)
    created = admin_client.post(f"/records/{name}/add/", data=MultiDict(inputs))
    assert created.status_code == 302, re.findall(r'itpm-error">([^<]*)<', created.get_data(as_text=True))
    form_id = int(re.search(r"/show/(\d+)", created.headers["Location"]).group(1))
    assert present(read(admin_api, name, form_id)["data"]) == data

    listing = admin_client.get(f"/records/{name}/list/").get_data(as_text=True)
    assert "{&#39;" not in listing and "[&#39;" not in listing

    for record_id in (api_id, form_id):
        before = read(admin_api, name, record_id)
        again = resave(admin_client, name, record_id)
        assert again.status_code == 302, re.findall(r'itpm-error">([^<]*)<', again.get_data(as_text=True))
        after = read(admin_api, name, record_id)
        assert after["data"] == before["data"]
        assert after["version"] == before["version"]  # nothing changed, nothing written


EVERY_KIND = {
    "kind": "record_type",
    "name": "every_kind",
    "title": {"en": "Every kind", "zh": "每种字段"},
    "schema": {
        "type": "object",
        "properties": {
            "text": {"type": "string", "maxLength": 80, "title": "Text", "x-title-zh": "文本"},
            "long_text": {"type": "string", "title": "Long text", "x-title-zh": "长文本"},
            "rich": {"type": "string", "contentMediaType": "text/html", "title": "Rich", "x-title-zh": "富文本"},
            "choice": {"type": "string", "enum": ["a", "b"], "title": "Choice", "x-title-zh": "选项"},
            "whole": {"type": "integer", "title": "Whole", "x-title-zh": "整数"},
            "scale": {
                "type": "integer", "title": "Scale", "x-title-zh": "评分",
                "enum": [1, 2, 3], "x-enum-titles": {str(i): {"en": str(i), "zh": str(i)} for i in (1, 2, 3)},
            },
            "amount": {"type": "number", "title": "Amount", "x-title-zh": "金额"},
            "flag": {"type": "boolean", "title": "Flag", "x-title-zh": "标记"},
            "day": {"type": "string", "format": "date", "title": "Day", "x-title-zh": "日期"},
            "moment": {"type": "string", "format": "date-time", "title": "Moment", "x-title-zh": "时间"},
            "customer": {"type": "integer", "x-ref": "customer", "title": "Customer", "x-title-zh": "客户"},
            "person": {"type": "integer", "x-ref": "user", "title": "Person", "x-title-zh": "人员"},
            "attachment": {"type": "integer", "x-ref": "file", "title": "Attachment", "x-title-zh": "附件"},
            "choices": {
                "type": "array", "items": {"type": "string", "enum": ["x", "y", "z"]}, "title": "Choices",
                "x-title-zh": "多选",
            },
            "customers": {
                "type": "array", "items": {"type": "integer", "x-ref": "customer"}, "title": "Customers",
                "x-title-zh": "多个客户",
            },
            "people": {
                "type": "array", "items": {"type": "integer", "x-ref": "user"}, "title": "People",
                "x-title-zh": "多人",
            },
            "files": {
                "type": "array", "items": {"type": "integer", "x-ref": "file"}, "title": "Files",
                "x-title-zh": "文件",
            },
            "nested": {
                "type": "object", "title": "Nested", "x-title-zh": "嵌套",
                "properties": {"a": {"type": "string"}, "b": {"type": "array", "items": {"type": "number"}}},
            },
            "anything": {"title": "Anything", "x-title-zh": "任意"},
        },
    },
}  # fmt: skip


def every_kind_values(customers: list[int]) -> dict[str, Any]:
    """A value for each field of `EVERY_KIND` but its text and files (the admin, user 1, is the person)."""
    return {
        "long_text": "line one\nline two",
        "rich": "<p><b>bold</b> text</p>",
        "choice": "b",
        "whole": 42,
        "scale": 2,
        "amount": 12.5,
        "flag": True,
        "day": "2026-03-14",
        "moment": "2026-03-14T01:30:00Z",
        "customer": customers[0],
        "person": 1,
        "choices": ["x", "z"],
        "customers": customers,
        "people": [1],
        "nested": {"a": "x", "b": [1, 2.5]},
        "anything": [1, {"two": None}],
    }


def test_a_record_of_every_field_kind_saves_again_unchanged_from_its_form(
    runtime: Any, admin_client: Any, admin_api: Any
) -> None:
    import io

    publish(runtime, EVERY_KIND)
    customers = [
        admin_api.post("/api/v1/records/customer/", json={"data": {"name": n}}).get_json()["id"]
        for n in ("Acme", "Globex")
    ]
    token = csrf_token(admin_client, "/records/every_kind/add/")
    created = admin_client.post(
        "/records/every_kind/add/",
        data=MultiDict(
            [
                ("csrf_token", token),
                ("text", "short"),
                ("attachment", (io.BytesIO(b"one"), "one.txt")),
                ("files", (io.BytesIO(b"two"), "two.txt")),
                ("files", (io.BytesIO(b"three"), "three.txt")),
            ]
        ),
        content_type="multipart/form-data",
    )
    assert created.status_code == 302, re.findall(r'itpm-error">([^<]*)<', created.get_data(as_text=True))
    record_id = int(re.search(r"/show/(\d+)", created.headers["Location"]).group(1))
    current = read(admin_api, "every_kind", record_id)
    data = {**current["data"], **every_kind_values(customers)}
    changed = admin_api.put(
        f"/api/v1/records/every_kind/{record_id}", json={"data": data, "version": current["version"]}
    )
    assert changed.status_code == 200, changed.get_json()
    before = read(admin_api, "every_kind", record_id)
    assert before["data"] == data and len(data["files"]) == 2 and data["attachment"]
    again = resave(admin_client, "every_kind", record_id)
    assert again.status_code == 302, re.findall(r'itpm-error">([^<]*)<', again.get_data(as_text=True))
    after = read(admin_api, "every_kind", record_id)
    assert after["data"] == before["data"] and after["version"] == before["version"]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_a_record_of_every_field_kind_exported_imports_back_unchanged_and_an_edited_file_changes_it(
    suffix: str, runtime: Any, admin_api: Any, tmp_path: Any
) -> None:
    """An export is a file an admin can edit and import again (keyed by number): every kind a cell holds
    comes back as it was; the kinds no cell holds (files, nested objects, any value) are left out of the
    import, not refused, and keep their values."""
    import csv
    import io

    import openpyxl

    from itpm.access import Actor
    from itpm.models import ImportRun
    from itpm.records.imports import open_source, run_import, start_import
    from itpm.records.service import Records

    publish(runtime, EVERY_KIND)
    customers = [
        admin_api.post("/api/v1/records/customer/", json={"data": {"name": n}}).get_json()["id"]
        for n in ("Acme", "Globex")
    ]
    data = {"text": "short", **every_kind_values(customers)}
    made = admin_api.post("/api/v1/records/every_kind/", json={"data": data})
    assert made.status_code == 201, made.get_json()
    record_id = made.get_json()["id"]
    before = read(admin_api, "every_kind", record_id)
    exported = admin_api.get(f"/api/v1/records/every_kind/export.{suffix}")
    assert exported.status_code == 200
    path = tmp_path / f"every_kind.{suffix}"
    path.write_bytes(exported.get_data())

    def imported(source: Any) -> ImportRun:
        with runtime.session() as session:
            records = Records(session, runtime.catalog(), Actor(1, "admin", frozenset({"admin"})))
            run = start_import(records, "every_kind", open_source(source), key="number")
            session.commit()
            run_id = run.id
        assert run_import(runtime, run_id, path=source) == "done"
        with runtime.session() as session:
            run = session.get(ImportRun, run_id)
            session.expunge(run)
            return run

    run = imported(path)
    assert (run.unchanged, run.updated, run.inserted, run.failed) == (1, 0, 0, 0), [
        p["message"] for p in run.problems
    ]
    assert read(admin_api, "every_kind", record_id) == before

    if suffix == "csv":  # edited as a spreadsheet saves it: the same columns, some cells changed
        rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    else:
        rows = [list(r) for r in openpyxl.load_workbook(path).worksheets[0].iter_rows(values_only=True)]
    header = rows[0]
    edits = {"Whole": 43, "Amount": 13.25, "Flag": "No", "Day": "2026-03-15", "Choices": "y"}
    for column, value in edits.items():
        rows[1][header.index(column)] = value
    edited = tmp_path / f"edited.{suffix}"
    if suffix == "csv":
        with edited.open("w", encoding="utf-8-sig", newline="") as stream:
            csv.writer(stream).writerows(rows)
    else:
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(row)
        book.save(edited)
    run = imported(edited)
    assert (run.updated, run.failed) == (1, 0), run.problems
    after = read(admin_api, "every_kind", record_id)["data"]
    changed = {"whole": 43, "amount": 13.25, "flag": False, "day": "2026-03-15", "choices": ["y"]}
    assert after == {**before["data"], **changed}

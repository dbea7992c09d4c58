"""A published field is in the form at once: a field no section of the form names is shown in a
last section, "Other fields", until the admin places it; the form's definition page lists such
fields; a file field's spelling is told to an admin who guesses another (issue 12, item 3).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from itpm.cli import main
from itpm.config import ROOT
from itpm.records.fields import RecordTypeSpec
from itpm.records.forms import form_spec
from tests.conftest import csrf_token

VENDOR = {"type": "string", "title": "Vendor", "x-title-zh": "供应商", "maxLength": 80}


def pack(name: str) -> dict[str, Any]:
    return json.loads((ROOT / name).read_text("utf-8"))


def definition_id(client: Any, kind: str, name: str) -> str:
    html = client.get(f"/definitions/list/?_flt_0_kind={kind}&_flt_0_name={name}").get_data(as_text=True)
    return re.findall(r"/definitions/show/(\d+)", html)[0]


def test_the_form_ends_with_the_fields_no_section_names() -> None:
    incident = pack("schemas/incident.json")
    incident["schema"]["properties"]["vendor"] = VENDOR
    form = form_spec(RecordTypeSpec(incident), pack("forms/incident_form.json"))
    last = form.sections[-1]
    assert last.title == {"en": "Other fields", "zh": "其他字段"}
    assert [e.field for e in last.entries] == ["vendor"]
    assert form_spec(
        RecordTypeSpec(pack("schemas/incident.json")), pack("forms/incident_form.json")
    ).sections[-1].title != {"en": "Other fields", "zh": "其他字段"}


def test_a_published_field_is_filled_in_at_once_and_listed_on_the_forms_page(
    admin_client: Any, admin_api: Any
) -> None:
    incident = pack("schemas/incident.json")
    incident["schema"]["properties"]["vendor"] = VENDOR
    assert admin_api.put("/api/v1/definitions/record_type/incident", json=incident).status_code == 200
    assert admin_api.post("/api/v1/definitions/record_type/incident/publish", json={}).status_code == 200

    html = admin_client.get("/records/incident/add/").get_data(as_text=True)
    assert "Other fields" in html and 'name="vendor"' in html
    token = csrf_token(admin_client, "/records/incident/add/")
    created = admin_client.post(
        "/records/incident/add/",
        data={
            "title": "VPN down",
            "priority": "P3",
            "category": "network",
            "vendor": "Cisco",
            "csrf_token": token,
        },
    )
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    record_id = re.search(r"/show/(\d+)", created.headers["Location"]).group(1)
    page = admin_client.get(f"/records/incident/show/{record_id}").get_data(as_text=True)
    assert "Other fields" in page and "Vendor" in page and "Cisco" in page
    admin_client.get("/lang/zh")
    assert "其他字段" in admin_client.get("/records/incident/add/").get_data(as_text=True)
    admin_client.get("/lang/en")

    pk = definition_id(admin_client, "form", "incident_form")
    html = admin_client.get(f"/definitions/show/{pk}").get_data(as_text=True)
    assert "Fields no section places" in html
    assert "<code>vendor</code> Vendor" in html
    form = pack("forms/incident_form.json")
    form["sections"][1]["fields"].append("vendor")
    assert admin_api.put("/api/v1/definitions/form/incident_form", json=form).status_code == 200
    assert admin_api.post("/api/v1/definitions/form/incident_form/publish", json={}).status_code == 200
    assert "Fields no section places" not in admin_client.get(f"/definitions/show/{pk}").get_data(
        as_text=True
    )
    assert "Other fields" not in admin_client.get("/records/incident/add/").get_data(as_text=True)


def validate(tmp_path: Path, deliverable: dict[str, Any]) -> Any:
    folder = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", folder, dirs_exist_ok=True)
    (folder / "deliverable.json").write_text(json.dumps(deliverable), encoding="utf-8")
    others = [str(ROOT / name) for name in ("forms", "workflows", "reports")]
    return CliRunner().invoke(main, ["defs", "validate", str(folder), *others])


def test_a_guessed_file_type_is_refused_with_the_spelling_that_works(tmp_path: Path) -> None:
    deliverable = pack("schemas/deliverable.json")
    fields = deliverable["schema"]["properties"]
    fields["contract"] = {"type": "string", "format": "file", "title": "Contract", "x-title-zh": "合同"}
    fields["attachments"] = {
        "type": "array", "items": {"type": "integer", "x-ref": "attachments"}, "title": "Files", "x-title-zh": "附件",
    }  # fmt: skip
    result = validate(tmp_path, deliverable)
    assert result.exit_code == 1
    told = 'a file field is written {"type": "integer", "x-ref": "file"}; a list of files {"type": "array"'
    assert f"/schema/properties/contract/format: {told}" in result.output
    assert f"/schema/properties/attachments/items/x-ref: {told}" in result.output

    fields["contract"] = {"type": "integer", "x-ref": "file", "title": "Contract", "x-title-zh": "合同"}
    fields["attachments"]["items"]["x-ref"] = "file"
    result = validate(tmp_path, deliverable)
    assert result.exit_code == 0, result.output
    spec = RecordTypeSpec(deliverable)
    assert (spec.fields["contract"].kind, spec.fields["attachments"].kind) == ("file", "file_list")

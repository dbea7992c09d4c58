"""The starter pack never replaces an admin's work: `itpm init` at every start, a restart, a newer
pack, a folder imported with `itpm defs import`, on SQLite and PostgreSQL (issue 12, item 1).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from itpm.cli import main
from itpm.config import ROOT
from itpm.web.app import create_app
from tests.conftest import SECRET, csrf_token, settings_for

PACK = ("schemas", "forms", "workflows", "reports")
REGION = {"type": "string", "title": "Region", "x-title-zh": "区域", "maxLength": 40}
WARRANTY = {"type": "string", "title": "Warranty", "x-title-zh": "保修", "maxLength": 200}


def pack_file(name: str) -> dict[str, Any]:
    return json.loads((ROOT / name).read_text("utf-8"))


def definition_id(client: Any, kind: str, name: str) -> str:
    html = client.get(f"/definitions/list/?_flt_0_kind={kind}&_flt_0_name={name}").get_data(as_text=True)
    return re.findall(r"/definitions/show/(\d+)", html)[0]


def live_bodies(runtime: Any) -> dict[tuple[str, str], dict[str, Any]]:
    with runtime.session() as session:
        return {d.key: d.body for d in runtime.registry(session).live()}


def itpm(env: dict[str, str], *args: str) -> str:
    result = CliRunner(env=env).invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ITPM_DATABASE_URL": database_url,
        "ITPM_INSTANCE_PATH": str(tmp_path),
        "ITPM_SECRET_KEY": SECRET,
        "ITPM_JOBS": "none",
    }


@pytest.fixture
def customised(admin_client: Any, admin_api: Any, cli_env: dict[str, str], tmp_path: Path) -> dict:
    """Three starter definitions changed by the admin: customer in the UI's editor, deliverable
    through the API, deliverable_form with `itpm defs import FILE --publish`; and a record using
    the new customer field."""
    customer = pack_file("schemas/customer.json")
    customer["schema"]["properties"]["region"] = REGION
    pk = definition_id(admin_client, "record_type", "customer")
    token = csrf_token(admin_client, f"/definitions/edit/{pk}")
    saved = admin_client.post(
        f"/definitions/edit/{pk}", data={"body": json.dumps(customer), "csrf_token": token}
    )
    assert saved.status_code == 302
    token = csrf_token(admin_client, f"/definitions/publish/{pk}")
    published = admin_client.post(
        f"/definitions/publish/{pk}", data={"comment": "region", "csrf_token": token}
    )
    assert published.status_code == 302

    deliverable = pack_file("schemas/deliverable.json")
    deliverable["schema"]["properties"]["warranty"] = WARRANTY
    assert admin_api.put("/api/v1/definitions/record_type/deliverable", json=deliverable).status_code == 200
    assert admin_api.post("/api/v1/definitions/record_type/deliverable/publish", json={}).status_code == 200

    form = pack_file("forms/deliverable_form.json")
    form["sections"][1]["fields"].append("warranty")
    path = tmp_path / "deliverable_form.json"
    path.write_text(json.dumps(form), encoding="utf-8")
    assert "Published as revision" in itpm(cli_env, "defs", "import", str(path), "--publish")

    created = admin_api.post("/api/v1/records/customer/", json={"data": {"name": "Acme", "region": "East"}})
    assert created.status_code == 201, created.get_json()
    return {
        ("record_type", "customer"): customer,
        ("record_type", "deliverable"): deliverable,
        ("form", "deliverable_form"): form,
        "record": created.get_json()["id"],
    }


def test_init_twice_and_a_restart_keep_what_the_admin_changed(
    customised: dict, cli_env: dict[str, str], database_url: str, tmp_path: Path, admin_api: Any
) -> None:
    first = itpm(cli_env, "init")
    second = itpm(cli_env, "init")
    for output in (first, second):
        assert "published as revision" not in output
        assert "Starter pack: up to date" in output

    restarted = create_app(settings_for(database_url, tmp_path / "restart"))
    try:
        live = live_bodies(restarted.extensions["itpm"])
        for key in [
            ("record_type", "customer"),
            ("record_type", "deliverable"),
            ("form", "deliverable_form"),
        ]:
            assert live[key] == customised[key], key
        client = restarted.test_client()
        html = client.get("/definitions/list/?_flt_0_kind=record_type").get_data(as_text=True)
        assert "Update available" not in html
    finally:
        restarted.extensions["itpm"].dispose()
    record = admin_api.get(f"/api/v1/records/customer/{customised['record']}").get_json()
    assert record["data"]["region"] == "East"


@pytest.fixture
def newer_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the starter pack, as a newer itpm brings it: `itpm init` imports this one."""
    folder = tmp_path / "pack"
    for name in PACK:
        shutil.copytree(ROOT / name, folder / name)
    monkeypatch.setattr("itpm.installation.STARTER_PACK", [folder / name for name in PACK])
    return folder


def edit_pack(folder: Path, name: str, edit: Any) -> dict[str, Any]:
    body = json.loads((folder / name).read_text("utf-8"))
    edit(body)
    (folder / name).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return body


def test_a_newer_pack_waits_as_a_draft_beside_what_the_admin_changed(
    customised: dict,
    newer_pack: Path,
    cli_env: dict[str, str],
    runtime: Any,
    admin_client: Any,
    admin_api: Any,
) -> None:
    field = {"type": "string", "title": "Segment", "x-title-zh": "细分市场", "maxLength": 40}
    newer_customer = edit_pack(
        newer_pack, "schemas/customer.json", lambda b: b["schema"]["properties"].update(segment=field)
    )
    newer_risk = edit_pack(
        newer_pack, "schemas/risk.json", lambda b: b["schema"]["properties"].update(segment=field)
    )
    before = live_bodies(runtime)

    output = itpm(cli_env, "init")
    assert (
        "Starter pack: record_type/customer: kept as you changed it (version 2 stays live); "
        "the starter pack's update is saved as a draft beside it: review it on the definitions page."
    ) in output.splitlines()
    assert "Starter pack: 1 definitions published as revision" in output  # risk: no admin changed it
    after = live_bodies(runtime)
    assert after[("record_type", "customer")] == before[("record_type", "customer")]
    assert after[("record_type", "risk")] == newer_risk
    assert {k for k in after if after[k] != before[k]} == {("record_type", "risk")}

    summary = admin_api.get("/api/v1/definitions/record_type/customer").get_json()
    assert (summary["state"], summary["update_from"]) == ("changed", "starter pack")
    assert summary["draft"] == newer_customer

    pk = definition_id(admin_client, "record_type", "customer")
    listing = admin_client.get("/definitions/list/?_flt_0_kind=record_type").get_data(as_text=True)
    assert listing.count("Update available from the starter pack") == 1
    page = admin_client.get(f"/definitions/show/{pk}").get_data(as_text=True)
    assert "Update available from the starter pack" in page
    assert "the pack&#39;s newer text was not published over it" in page
    assert "segment" in page and "region" in page  # the diff: what the update adds, and removes
    admin_client.get("/lang/zh")
    page = admin_client.get(f"/definitions/show/{pk}").get_data(as_text=True)
    assert "入门配置包有可用更新" in page and "配置包的新版本没有覆盖它" in page
    admin_client.get("/lang/en")

    again = itpm(cli_env, "init")
    assert (
        "Starter pack: record_type/customer: the starter pack's update still waits as a draft "
        "beside version 2 (live), on the definitions page."
    ) in again.splitlines()
    assert live_bodies(runtime) == after

    # Discarded, the update is not offered again until the pack changes it once more.
    token = csrf_token(admin_client, f"/definitions/show/{pk}")
    assert admin_client.post(f"/definitions/discard/{pk}", data={"csrf_token": token}).status_code == 302
    third = itpm(cli_env, "init")
    assert "customer" not in third and "Starter pack: up to date" in third
    assert admin_api.get("/api/v1/definitions/record_type/customer").get_json()["state"] == "published"
    assert live_bodies(runtime) == after


def test_a_newer_pack_leaves_an_admins_own_draft_alone(
    newer_pack: Path, cli_env: dict[str, str], runtime: Any, admin_api: Any
) -> None:
    mine = pack_file("schemas/incident.json")
    mine["schema"]["properties"]["vendor"] = WARRANTY
    assert admin_api.put("/api/v1/definitions/record_type/incident", json=mine).status_code == 200
    edit_pack(newer_pack, "schemas/incident.json", lambda b: b["schema"]["properties"].update(region=REGION))
    before = live_bodies(runtime)

    output = itpm(cli_env, "init")
    assert "Starter pack: record_type/incident: kept as you left it, with your draft;" in output
    assert live_bodies(runtime) == before
    assert admin_api.get("/api/v1/definitions/record_type/incident").get_json()["draft"] == mine


def test_a_pack_update_that_needs_what_the_admin_kept_out_waits_as_a_draft(
    newer_pack: Path, cli_env: dict[str, str], runtime: Any, admin_api: Any
) -> None:
    """A newer pack adds `segment` to the customer and places it in the customer's form. The admin
    changed the customer, so it keeps the admin's version: the pack's form, which the admin never
    changed, would name a field the live customer lacks, so it waits as a draft too."""
    customer = pack_file("schemas/customer.json")
    customer["schema"]["properties"]["region"] = REGION
    assert admin_api.put("/api/v1/definitions/record_type/customer", json=customer).status_code == 200
    assert admin_api.post("/api/v1/definitions/record_type/customer/publish", json={}).status_code == 200
    field = {"type": "string", "title": "Segment", "x-title-zh": "细分市场", "maxLength": 40}
    edit_pack(newer_pack, "schemas/customer.json", lambda b: b["schema"]["properties"].update(segment=field))
    pack_form = edit_pack(
        newer_pack, "forms/customer_form.json", lambda b: b["sections"][0]["fields"].append("segment")
    )
    before = live_bodies(runtime)

    output = itpm(cli_env, "init")
    lines = [line for line in output.splitlines() if line.startswith("Starter pack: form/customer_form:")]
    assert len(lines) == 1, output
    assert (
        "the starter pack's update is saved as a draft, not published: it does not fit your changes"
        in lines[0]
    )
    assert "segment" in lines[0]
    assert live_bodies(runtime) == before
    summary = admin_api.get("/api/v1/definitions/form/customer_form").get_json()
    assert (summary["state"], summary["update_from"], summary["draft"]) == (
        "changed",
        "starter pack",
        pack_form,
    )


def test_a_folder_import_keeps_the_admins_versions_and_a_named_file_publishes(
    customised: dict, cli_env: dict[str, str], runtime: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "mypack"
    shutil.copytree(ROOT / "schemas", folder)
    body = json.loads((folder / "customer.json").read_text("utf-8"))
    body["description"]["en"] = "A client of ours."
    (folder / "customer.json").write_text(json.dumps(body), encoding="utf-8")

    output = itpm(cli_env, "defs", "import", str(folder), "--publish")
    assert (
        "record_type/customer: kept as you changed it (version 2 stays live); the folder's update is "
        "saved as a draft beside it: review it on the definitions page."
    ) in output.splitlines()
    assert live_bodies(runtime)[("record_type", "customer")] == customised[("record_type", "customer")]
    assert live_bodies(runtime)[("record_type", "deliverable")] == customised[("record_type", "deliverable")]

    output = itpm(cli_env, "defs", "import", str(folder / "customer.json"), "--publish")
    assert "Published as revision" in output
    assert live_bodies(runtime)[("record_type", "customer")] == body


def test_the_make_run_sequence_twice_keeps_an_admins_change(tmp_path: Path) -> None:
    """The commands `make run` runs before serving (from `make -n run`), twice on one SQLite
    instance, with an admin's change between them."""
    plan = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    commands = [
        line.split()[1:] for line in plan if line.startswith(".venv/bin/itpm ") and " run " not in f"{line} "
    ]
    assert [c[0] for c in commands] == ["init", "demo"]
    itpm_bin = str(Path(sys.executable).parent / "itpm")
    env = {**os.environ, "ITPM_INSTANCE_PATH": str(tmp_path), "ITPM_SECRET_KEY": SECRET, "ITPM_JOBS": "none"}
    env.pop("ITPM_DATABASE_URL", None)

    def start() -> str:
        out = ""
        for command in commands:
            if command[0] == "demo":
                command = [*command, "--scale", "0.05"]  # the demo's size is not what is tested
            done = subprocess.run([itpm_bin, *command], env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stdout + done.stderr
            out += done.stdout
        return out

    start()
    customer = pack_file("schemas/customer.json")
    customer["schema"]["properties"]["region"] = REGION
    (tmp_path / "customer.json").write_text(json.dumps(customer), encoding="utf-8")
    changed = subprocess.run(
        [itpm_bin, "defs", "import", str(tmp_path / "customer.json"), "--publish"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    second = start()
    assert "Starter pack: up to date" in second
    exported = tmp_path / "export"
    subprocess.run([itpm_bin, "defs", "export", str(exported)], env=env, check=True, capture_output=True)
    assert json.loads((exported / "schemas/customer.json").read_text("utf-8")) == customer
    assert copy.deepcopy(customer) != pack_file("schemas/customer.json")


def test_the_p1_around_the_clock_reaches_an_install_of_the_earlier_pack(
    tmp_path: Path, cli_env: dict[str, str], runtime: Any
) -> None:
    """Issue 16, item 3: an install whose SLAs are the earlier pack's text (P1 on business hours) gets
    the 24×7 P1 at its next `itpm init`; one whose admin changed an SLA gets it as a draft beside theirs."""
    from itpm.installation import import_starter_pack

    earlier = tmp_path / "earlier"
    for name in PACK:
        shutil.copytree(ROOT / name, earlier / name)
    for name in ("incident_sla", "service_request_sla"):
        edit_pack(earlier, f"workflows/sla/{name}.json", lambda b: b["targets"]["P1"].pop("around_the_clock"))
    import_starter_pack(runtime, [earlier / name for name in PACK])
    assert "around_the_clock" not in live_bodies(runtime)[("sla", "incident_sla")]["targets"]["P1"]
    with runtime.session() as session:  # the admin changed the service request SLA meanwhile
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("sla", "service_request_sla")))
        body["warning_share"] = 0.7
        registry.save_draft(body, "admin")
        registry.publish([("sla", "service_request_sla")], "admin")
        session.commit()

    output = itpm(cli_env, "init")
    live = live_bodies(runtime)
    assert live[("sla", "incident_sla")]["targets"]["P1"]["around_the_clock"] is True
    assert live[("sla", "service_request_sla")]["warning_share"] == 0.7
    assert "sla/service_request_sla: kept as you changed it" in output


def test_cost_rates_and_expenses_reach_an_install_of_the_earlier_pack(
    tmp_path: Path, cli_env: dict[str, str], runtime: Any
) -> None:
    """Issue 17, item 2: an install of the pack before cost rates and expenses gets both record types,
    their forms and the project manager's new rights at its next `itpm init`; finance's role, which
    its admin changed meanwhile, is kept, the pack's version waiting beside it as a draft."""
    from itpm.installation import import_starter_pack

    earlier = tmp_path / "earlier"
    for name in PACK:
        shutil.copytree(ROOT / name, earlier / name)
    for name in (
        "schemas/cost_rate.json",
        "schemas/expense.json",
        "forms/cost_rate_form.json",
        "forms/expense_form.json",
    ):
        (earlier / name).unlink()
    for role in ("finance", "project_manager"):
        edit_pack(
            earlier,
            f"schemas/roles/{role}.json",
            lambda b: [b["records"].pop(n) for n in ("cost_rate", "expense")],
        )
    import_starter_pack(runtime, [earlier / name for name in PACK])
    assert "cost_rate" not in live_bodies(runtime)[("role", "project_manager")]["records"]
    with runtime.session() as session:  # the admin lets finance export projects no more
        registry = runtime.registry(session)
        body = copy.deepcopy(registry.published_body(registry.get("role", "finance")))
        body["records"]["project"].pop("export")
        registry.save_draft(body, "admin")
        registry.publish([("role", "finance")], "admin")
        session.commit()

    output = itpm(cli_env, "init")
    live = live_bodies(runtime)
    assert live[("record_type", "cost_rate")]["schema"]["properties"]["hourly_rate"]["x-internal"] is True
    assert ("record_type", "expense") in live and ("form", "expense_form") in live
    assert live[("role", "project_manager")]["records"]["cost_rate"] == {"read": "all"}
    assert "cost_rate" not in live[("role", "finance")]["records"]
    assert "export" not in live[("role", "finance")]["records"]["project"]
    assert "role/finance: kept as you changed it" in output
    with runtime.session() as session:
        registry = runtime.registry(session)
        draft = registry.get("role", "finance").draft
        assert draft is not None and "cost_rate" in draft["records"]

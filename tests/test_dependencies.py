"""Dependencies stay above the fixes of known advisories, and `make audit` looks for new ones."""

from __future__ import annotations

import subprocess
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from itpm.config import ROOT

#: The first version with the fix, and the advisories it fixes (the newest that apply).
KNOWN_FIXES = {
    "flask": ("3.1.3", "CVE-2026-27205"),
    "werkzeug": ("3.1.6", "CVE-2025-66221, CVE-2026-21860, CVE-2026-27199"),
    "jinja2": ("3.1.6", "CVE-2024-56201, CVE-2024-56326, CVE-2025-27516 (sandbox escapes: report templates)"),
    "flask-appbuilder": ("5.2.2", "security fixes of 5.2.2"),
    "pyjwt": ("2.13", "CVE-2026-32597, PYSEC-2026-175/177/178/179"),
    "weasyprint": ("70", "CVE-2025-68616, CVE-2026-55073 (SSRF)"),
    "pillow": ("12.3", "CVE-2026-42308, CVE-2026-42310, PYSEC-2026-2253..2257"),
    "fonttools": ("4.60.2", "CVE-2025-66034"),
    "gunicorn": ("23", "CVE-2024-1135, CVE-2024-6827 (request smuggling)"),
    "requests": ("2.33", "CVE-2024-47081, CVE-2026-25645"),
    "urllib3": ("2.7", "PYSEC-2026-141/142"),
    "pypdf": ("6.13.3", "GHSA-jm82-fx9c-mx94"),
    "aiosmtpd": ("1.4.6", "CVE-2024-27305, CVE-2024-34083"),
    "setuptools": ("78.1.1", "CVE-2024-6345, CVE-2025-47273"),
}


def _floors() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    declared = [
        *project["build-system"]["requires"],
        *project["project"]["dependencies"],
        *(r for extra in project["project"]["optional-dependencies"].values() for r in extra),
    ]
    floors = {}
    for text in declared:
        requirement = Requirement(text)
        lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=")]
        if lows:
            floors[canonicalize_name(requirement.name)] = max(lows)
    return floors


def test_every_floor_is_above_the_known_fixes() -> None:
    floors = _floors()
    below = {
        name: f"floor {floors.get(name)}, fixed in {fixed} ({advisories})"
        for name, (fixed, advisories) in KNOWN_FIXES.items()
        if floors.get(name) is None or floors[name] < Version(fixed)
    }
    assert below == {}


def test_make_audit_runs_pip_audit_on_the_project_environment() -> None:
    plan = subprocess.run(
        ["make", "-n", "audit"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    command = next(line for line in plan.splitlines() if "pip-audit --" in line)
    assert "--strict" in command  # a package it could not check fails the run instead of passing unchecked
    assert "PIPAPI_PYTHON_LOCATION=.venv/bin/python" in command

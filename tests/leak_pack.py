"""The test pack of the leak tests: a record type with every kind of field the access layer must guard
(rich text, a file, file lists, person lists, nested objects), its workflow and an automation that
notifies, and the rules the starter roles get for it (`tests/fixtures/leak_roles.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from itpm.definitions.documents import Document, read_documents

FIXTURES = Path(__file__).parent / "fixtures"


def publish_test_pack(runtime: Any) -> None:
    """The test pack's definitions, and its rules for the starter roles, published as one revision."""
    documents, problems = read_documents([FIXTURES / "leak_pack"])
    assert problems == []
    rules = json.loads((FIXTURES / "leak_roles.json").read_text("utf-8"))
    with runtime.session() as session:
        registry = runtime.registry(session)
        for role, entry in rules.items():
            body = registry.published_body(registry.get("role", role))
            body["records"]["dossier"] = entry
            documents.append(Document(f"{role}.json", body))
        registry.import_documents(documents, "admin", publish=True, comment="leak test pack")

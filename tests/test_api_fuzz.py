"""Schemathesis against the REST API, in process (WSGI, no network), as the admin: for each operation
of the OpenAPI document a few generated requests, valid and invalid, with a fixed seed. No answer is
a 5xx, and none contradicts the document: its status's schema, its content type (issue 12, item 6).

Bounded to stay under a minute (about 45 s of requests on a busy machine, after the app is built);
marked `fuzz` (deselect with -m "not fuzz") and in an xdist group of its own (--dist loadgroup).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from conftest import ADMIN, api_token

#: Requests per operation and mode: enough for each kind of bad input, few enough for a minute in all.
EXAMPLES = 3
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
#: Signing out ends the admin's token (and every later request would be a 401).
LEFT_OUT = r"^/api/v1/security/(logout|refresh)$"


@pytest.mark.fuzz
@pytest.mark.xdist_group("schemathesis")
def test_generated_requests_get_no_server_error_and_answers_the_document_describes(sqlite_app: Any) -> None:
    token = api_token(sqlite_app.test_client(), *ADMIN)
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/_openapi", sqlite_app, headers=headers)
    schema = schema.exclude(path_regex=LEFT_OUT)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, headers=headers)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing of this operation can be made invalid (only free text in its path)
            except (Exception, FailureGroup) as error:  # noqa: BLE001 - all operations' failures told together
                failures.append(f"{operation.label} ({mode}): {str(error)[:1500]}")
    assert operations > 50
    assert failures == [], "\n\n".join(failures)

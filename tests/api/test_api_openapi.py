"""Schemathesis against the app's own OpenAPI schema, authenticated with an analist's API token.

Every operation gets a bounded number of generated requests; no answer may be a 5xx, use an
undocumented status or content type, or violate its documented schema. (Driven through
schemathesis' Python API: its lazy pytest fixture loader does not work with pytest 9 yet.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 25


@pytest.mark.slow
def test_api_conforms_to_its_schema(make_env):
    env = make_env(tile_cache_mb=4)
    c = env.login("analist@test.nl")
    token = c.post("/api/tokens", json={"name": "schemathesis"}).json()["token"]
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", env.app)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()

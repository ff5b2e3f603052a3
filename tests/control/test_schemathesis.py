"""The published OpenAPI description is accurate and no input generated from it (or violating it) makes the
server fail: schemathesis, in-process over ASGI, bounded examples per operation.

(The schema is loaded at import, not through `schemathesis.pytest.from_fixture`: its lazy loader needs a pytest
private attribute that pytest 9 removed.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from tests.control.cp_env import make_env

ENV = make_env(Path(tempfile.mkdtemp(prefix="castellan-schemathesis-")))
schema = schemathesis.openapi.from_asgi("/openapi.json", ENV.client.app)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_description(case: schemathesis.Case) -> None:
    admin = case.operation.path.startswith(("/v1/tenants", "/v1/operator"))
    case.call_and_validate(headers={"Authorization": f"Bearer {ENV.operator_key}"} if admin else {})


def test_openapi_lists_every_endpoint() -> None:
    doc = ENV.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for path in ("/v1/join", "/v1/tenants/{tenant}/links", "/.well-known/jwks.json", "/v1/lobby/{ticket}",
                 "/healthz", "/readyz", "/metrics"):
        assert path in doc["paths"], path
    assert doc["components"]["schemas"]["Join"]["additionalProperties"] is False

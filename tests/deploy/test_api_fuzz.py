"""Bounded schemathesis fuzzing of the whole OpenAPI document (node, dashboard, market and oracle routes,
generated from the route types) against a live node: never a 5xx, only documented statuses, responses
that match their schemas."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from edgeledger.web.openapi import full_document
from tests.deploy.conftest import get

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e '.[test]' installs schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance, response_schema_conformance, status_code_conformance,
)
# the event stream never ends (tested on its own); the oracle routes answer 404 on a node that is no oracle
schema = schemathesis.openapi.from_dict(full_document()).exclude(path="/observe/events")


@schemathesis.serializer("application/msgpack")
def _raw_bytes(ctx, value):  # the API takes canonical msgpack bytes; fuzz it with arbitrary bytes
    return value if isinstance(value, bytes) else str(value).encode()


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_endpoint_answers_with_a_server_error(case, cluster):
    url = cluster.processes["edge-1"]["url"]
    response = case.call(base_url=url, timeout=10)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance])
    content_type = response.headers.get("content-type") or [""]
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if response.status_code >= 400 and content_type.startswith("application/json"):
        assert "error" in response.json()


def test_the_node_is_still_healthy_after_fuzzing(cluster):
    assert get(f"{cluster.processes['edge-1']['url']}/v1/health")[0] == 200

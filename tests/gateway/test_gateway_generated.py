"""Requests generated from the server's own OpenAPI schema, valid and invalid:
every answer is a client error or a success, never a server error, and the
server keeps serving."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

STREAMS_FOREVER = {"/stream"}  # the per-user event stream never ends by itself


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_never_get_a_server_error(server, mode):
    with server.http(server.tokens["alice"]) as http:
        document = http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {server.tokens['alice']}"}
    checked: list[tuple[str, str, int]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in STREAMS_FOREVER:
            continue

        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def answers_without_server_error(case):
            response = case.call(base_url=server.url, headers=headers, timeout=30)
            checked.append((case.method, case.path, response.status_code))
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
            if response.status_code >= 400:
                assert response.json()["detail"]  # says what was wrong

        try:
            answers_without_server_error()
        except Unsatisfiable:
            # an operation without inputs (GET /health, /ready) has no invalid request
            if mode is not GenerationMode.NEGATIVE or any(operation.iter_parameters()):
                raise
    assert len({(method, path) for method, path, _ in checked}) >= 12
    with server.http(server.tokens["alice"]) as http:
        assert http.get("/me").status_code == 200
    assert "Traceback" not in server.log()  # every refusal was a foreseen one

"""Priorities stay in their range and per-user job limits are on by default."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner

from qlambda.cli import main
from qlambda.gateway.settings import GatewaySettings

SLEEPER = base64.b64encode(
    b"import time\n\ndef sleeps(seconds):\n    time.sleep(seconds)\n    return seconds\n"
).decode()
FUNCTION = {"name": "sleeps", "kind": "source", "content": SLEEPER, "entrypoint": "s.py:sleeps"}
BELL = 'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; h q[0]; cx q[0], q[1];'


def test_priorities_past_a_users_maximum_are_refused_with_the_range(new_server, database_url):
    server = new_server("--workers", "1", database_url=database_url)
    done = CliRunner().invoke(
        main,
        ["users", "create", "carol", "--max-priority", "3", "--data-dir", str(server.data_dir)],
        env={"QLAMBDA_DATABASE_URL": database_url},
    )
    carol_token = done.output.strip()
    with (
        server.http(server.tokens["alice"]) as alice,
        server.http(server.tokens["bob"]) as bob,
        server.http(carol_token) as carol,
        server.http(server.tokens["root"]) as root,
    ):
        for user in (alice, bob, carol):
            assert user.post("/functions", json=FUNCTION).status_code == 201
        bobs = bob.post("/jobs", json={"function": "sleeps", "arguments": {"seconds": 0}})
        for priority in (1e300, 11, 10.5):
            refused = alice.post(
                "/jobs",
                json={"function": "sleeps", "arguments": {"seconds": 0}, "priority": priority},
            )
            assert refused.status_code == 422
            assert "accepted: 0 < priority <= 10" in refused.json()["detail"]
        circuit = {
            "primitive": "estimator",
            "circuits": [BELL],
            "observables": ["ZZ"],
            "priority": 1e300,
        }
        assert alice.post("/circuits", json=circuit).status_code == 422
        assert (
            alice.post(
                "/jobs", json={"function": "sleeps", "arguments": {"seconds": 0}, "priority": 10}
            ).status_code
            == 201
        )
        # carol's own maximum is 3
        answer = carol.post(
            "/jobs", json={"function": "sleeps", "priority": 4, "arguments": {"seconds": 0}}
        )
        assert answer.status_code == 422 and "maximum of 3" in answer.json()["detail"]
        raised = root.patch("/users/carol", json={"max_priority": 50})
        assert raised.status_code == 200 and raised.json()["max_priority"] == 50
        assert (
            carol.post(
                "/jobs", json={"function": "sleeps", "priority": 40, "arguments": {"seconds": 0}}
            ).status_code
            == 201
        )
        assert alice.patch("/users/alice", json={"max_priority": 50}).status_code == 403
        # bob's job was never disturbed
        result = bob.get(f"/jobs/{bobs.json()['id']}/result", params={"wait": 60}).json()
        assert result["status"] == "DONE" and result["value"] == 0
        assert [j["id"] for j in bob.get("/jobs").json()] == [bobs.json()["id"]]


def test_job_limits_are_on_by_default_and_set_per_user_by_admins(new_server):
    assert GatewaySettings().max_active_jobs == 100
    assert GatewaySettings().max_running_jobs == 10
    server = new_server("--workers", "1")  # no limit given: the defaults apply
    with (
        server.http(server.tokens["alice"]) as alice,
        server.http(server.tokens["bob"]) as bob,
        server.http(server.tokens["root"]) as root,
    ):
        for user in (alice, bob):
            assert user.post("/functions", json=FUNCTION).status_code == 201
        long = {"function": "sleeps", "arguments": {"seconds": 120}}
        kept = [alice.post("/jobs", json=long).json()["id"] for _ in range(100)]
        refused = alice.post("/jobs", json=long)
        assert refused.status_code == 429
        assert (
            "100 active" in refused.json()["detail"] and "limit is 100" in refused.json()["detail"]
        )
        assert bob.post("/jobs", json=long).status_code == 201  # bob has his own count
        # an admin gives bob a lower limit: it applies at his next submission
        assert root.patch("/users/bob", json={"max_active_jobs": 1}).status_code == 200
        assert bob.post("/jobs", json=long).status_code == 429
        for job in kept:
            alice.post(f"/jobs/{job}/cancel")
        assert (
            alice.post(
                "/jobs", json={"function": "sleeps", "arguments": {"seconds": 0}}
            ).status_code
            == 201
        )


def add(a, b):
    return a + b


def test_the_embedded_platform_refuses_priorities_past_its_ceiling(tmp_path):
    import qlambda

    with qlambda.Client(data_dir=tmp_path, workers=1) as client:
        for priority in (float("inf"), 1e300, 1001):
            with pytest.raises(ValueError, match="at most 1000"):
                client.run(add, priority=priority, a=1, b=2)
        assert client.run(add, priority=1000, a=1, b=2).result(60) == 3

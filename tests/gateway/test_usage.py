"""Usage and quotas through ``qlambda serve``: per job, per user, an admin's view, a quota
refused with 429 and its reason, the ``qlambda usage`` command, and replicas that answer
the same totals from the database."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from qiskit import QuantumCircuit

import qlambda
from qlambda.cli import main
from qlambda.core.errors import LimitExceededError
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import estimate_qpu_seconds, make_request
from qlambda.store import Store

SHOTS = 500
BACKEND = """
[[backend]]
name = "qpu"
kind = "aer"
num_qubits = 4

[prices.qpu]
per_second = 1.5
per_shot = 0.002
"""


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def samples(ctx, tasks: int):
    sampler = ctx.sampler("qpu")
    runs = [sampler.run([bell()], shots=SHOTS).result() for _ in range(tasks)]
    return [result[0].data.meas.num_shots for result in runs]


SECONDS = estimate_qpu_seconds(
    make_request("sampler", [bell()], shots=SHOTS), BackendConfig("qpu", "aer")
)
COST = 1.5 * SECONDS + 0.002 * SHOTS


def test_usage_per_job_and_user_and_a_users_own_quota(new_server, tmp_path):
    config = tmp_path / "server.toml"
    config.write_text(BACKEND + "\n[quotas]\ncost = 1000\n")
    server = new_server(
        "--workers", "1", "--sandbox", "none", "--config", str(config), users=("alice", "bob")
    )
    admin = Store.open(tmp_path)
    try:
        root = admin.create_user("root", "admin")
    finally:
        admin.close()
    alice = qlambda.Client(server.url, token=server.tokens["alice"])
    bob = qlambda.Client(server.url, token=server.tokens["bob"])
    with server.http(root) as http:
        own = http.patch("/users/alice", json={"max_qpu_seconds": 1.5 * SECONDS})
        assert own.status_code == 200
    job = alice.run(samples, tasks=1)
    assert job.result(120) == [SHOTS]
    assert job.usage()["cost"] == pytest.approx(COST)
    assert job.usage()["backends"][0]["qpu_seconds"] == pytest.approx(SECONDS)
    mine = alice.usage()["users"]
    assert [row["owner"] for row in mine] == ["alice"]
    assert mine[0]["quota"]["qpu_seconds"] == pytest.approx(1.5 * SECONDS)  # her own
    assert mine[0]["quota"]["cost"] == 1000  # the server's
    with pytest.raises(Exception, match="only admins see other users' usage"):
        bob.usage(user="alice")
    with server.http(root) as http:
        everyone = http.get("/usage", params={"user": "*"}).json()["users"]
    assert [row["owner"] for row in everyone] == ["alice"]  # bob ran nothing

    # her next job's task would pass her quota: the job fails saying so
    second = alice.run(samples, tasks=1)
    with pytest.raises(qlambda.JobFailedError, match="quantum task refused on backend 'qpu'"):
        second.result(120)
    # an admin lowers it below what she used: her next submission is refused with 429
    with server.http(root) as http:
        http.patch("/users/alice", json={"max_qpu_seconds": 0.5 * SECONDS})
    with pytest.raises(LimitExceededError, match="new jobs are refused: your quota of") as refused:
        alice.run(samples, tasks=1)
    assert refused.value.status == 429
    assert bob.run(samples, tasks=1).result(120) == [SHOTS]  # bob has no quota of his own

    runner = CliRunner()
    env = {"QLAMBDA_URL": server.url, "QLAMBDA_TOKEN": server.tokens["alice"]}
    shown = runner.invoke(main, ["usage"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "alice" in shown.output and f"{SECONDS:.2f}" in shown.output
    assert "quota:" in shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80
    one = runner.invoke(main, ["usage", "--job", job.id[:10]], env=env, catch_exceptions=False)
    assert one.exit_code == 0 and job.id in one.output and f"{COST:.2f}" in one.output
    alice.close()
    bob.close()


def test_replicas_answer_the_same_totals_and_share_a_quota(replicas):
    a, b = replicas(2, "--workers", "1", backends=BACKEND)
    token = replicas.tokens["alice"]
    with qlambda.Client(a.url, token=token) as on_a, qlambda.Client(b.url, token=token) as on_b:
        assert on_a.run(samples, tasks=2).result(120) == [SHOTS, SHOTS]
        assert on_b.run(samples, tasks=1).result(120) == [SHOTS]
        totals = [client.usage()["users"][0] for client in (on_a, on_b)]
        assert totals[0] == totals[1]
        assert totals[0]["tasks"] == 3
        assert totals[0]["cost"] == pytest.approx(3 * COST)
        # a quota set in the store, reached through A's and B's tasks, refuses on either
        store = Store(replicas.database)
        try:
            store.set_user_limits("alice", max_cost=3 * COST)
        finally:
            store.close()
        for client in (on_a, on_b):
            assert "cost has" in refused_within(client, 10)


def refused_within(client, seconds: float) -> str:
    """The reason a submission is refused, once it is (a server reads a user's quotas
    again every few seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.run(samples, tasks=0).result(60)
        except LimitExceededError as exc:
            assert exc.status == 429
            return exc.detail
        assert time.monotonic() < deadline, "never refused"
        time.sleep(0.5)

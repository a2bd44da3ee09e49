"""Costs and quotas: every quantum task's QPU seconds and cost from its backend's price,
totals per job and per user from the database, quotas that refuse a job's next task and a
new job, on SQLite and PostgreSQL and across a restart."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import qlambda
from qlambda import JobFailedError, QuotaExceededError
from qlambda.core.errors import ConfigurationError
from qlambda.core.events import EventKind
from qlambda.platform import PlatformConfig
from qlambda.platform.usage import QuotaPolicy
from qlambda.quantum.config import BackendConfig, load_backends
from qlambda.quantum.prices import Price, parse_price
from qlambda.quantum.request import estimate_qpu_seconds, make_request

SHOTS = 1000
PRICE = {"per_second": 2.0, "per_task": 0.5, "per_shot": 0.001}


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


def test_a_price_adds_its_components_and_bad_prices_say_what_is_accepted():
    price = Price(per_second=1.6, per_task=0.3, per_circuit=0.1, per_shot=0.01)
    assert price.cost(10.0, circuits=4, shots=400) == pytest.approx(16 + 0.3 + 0.4 + 4)
    with pytest.raises(ConfigurationError, match=r"component.*'per_minute'.*per_shot"):
        parse_price({"per_minute": 1}, "backend 'x'")
    with pytest.raises(ConfigurationError, match="per_second must be a finite number >= 0"):
        parse_price({"per_second": -1}, "backend 'x'")
    with pytest.raises(ConfigurationError, match="at least one of"):
        parse_price({}, "backend 'x'")
    with pytest.raises(ConfigurationError, match="price must be a table"):
        load_backends([{"name": "x", "kind": "aer", "price": 3}])
    # [prices] is keyed by backend name, whatever the kind; a name it does not know is refused
    config = PlatformConfig.build(
        {"backend": [{"name": "q", "kind": "aer"}], "prices": {"q": {"per_shot": 0.03}}}
    )
    assert config.resolved_backends()[0].price == Price(per_shot=0.03)
    config = PlatformConfig.build(
        {"backend": [{"name": "q", "kind": "aer"}], "prices": {"typo": {"per_shot": 1}}}
    )
    with pytest.raises(ConfigurationError, match=r"\[prices\] names no backend 'typo'.*q"):
        config.resolved_backends()
    both = {"backend": [{"name": "q", "kind": "aer", "price": PRICE}], "prices": {"q": PRICE}}
    with pytest.raises(ConfigurationError, match="give it in one place"):
        PlatformConfig.build(both).resolved_backends()
    with pytest.raises(ConfigurationError, match=r"unknown \[quotas\] setting.*'seconds'"):
        PlatformConfig.build({"quotas": {"seconds": 5}})
    with pytest.raises(ConfigurationError, match="cost must be a finite number >= 0"):
        QuotaPolicy.from_mapping({"cost": -2})
    assert QuotaPolicy.from_mapping({"qpu_seconds": 60, "window": "28d"}).window == 28 * 86400


def test_costs_totals_and_quotas_on_the_database_across_a_restart(
    database_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("QLAMBDA_DATABASE_URL", database_url)
    backend = {"name": "qpu", "kind": "aer", "num_qubits": 4, "price": PRICE}
    seconds = estimate_qpu_seconds(
        make_request("sampler", [bell()], shots=SHOTS), BackendConfig("qpu", "aer")
    )
    cost = 2.0 * seconds + 0.5 + 0.001 * SHOTS  # price x seconds, + per task, + per shot

    def settings(quota: float) -> dict:
        return {
            "platform": {"data_dir": str(tmp_path), "workers": 1},
            "backend": [backend],
            "quotas": {"qpu_seconds": quota},
        }

    with qlambda.Client(config=settings(3.5 * seconds)) as client:
        first = client.run(samples, tasks=2)
        assert first.result(120) == [SHOTS, SHOTS]
        used = first.usage()
        assert used["tasks"] == 2
        assert used["qpu_seconds"] == pytest.approx(2 * seconds)
        assert used["cost"] == pytest.approx(2 * cost)
        finished = [e for e in first.events() if e.kind is EventKind.QPU_FINISHED]
        assert [e.data["cost"] for e in finished] == pytest.approx([cost, cost])
        assert [e.data["qpu_seconds"] for e in finished] == pytest.approx([seconds, seconds])

        # a running job whose next task would pass the quota gets that task refused
        second = client.run(samples, tasks=2)
        with pytest.raises(JobFailedError) as failed:
            second.result(120)
        assert "QuotaExceededError: quantum task refused on backend 'qpu'" in str(failed.value)
        assert f"quota of {3.5 * seconds:g} QPU seconds" in str(failed.value)
        assert second.usage()["tasks"] == 1  # its first task ran, and counts

        report = client.usage()["users"]
        assert [row["owner"] for row in report] == ["local"]
        assert report[0]["tasks"] == 3
        assert report[0]["cost"] == pytest.approx(3 * cost)
        assert report[0]["backends"][0]["backend"] == "qpu"
        assert report[0]["quota"]["used_qpu_seconds"] == pytest.approx(3 * seconds)

    # after a restart the totals are read back; a lower quota, now reached, refuses new jobs
    with qlambda.Client(config=settings(3 * seconds)) as client:
        assert client.job(first.id).usage()["cost"] == pytest.approx(2 * cost)
        assert client.usage()["users"][0]["qpu_seconds"] == pytest.approx(3 * seconds)
        with pytest.raises(QuotaExceededError, match="new jobs are refused: your quota of"):
            client.run(samples, tasks=1)

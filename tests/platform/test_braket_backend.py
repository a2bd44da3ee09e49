"""Kind ``braket`` on Braket's LocalSimulator, end to end through the platform's queue:
a job's sampler and estimator calls on ``braket-local`` give what the same calls give on
Aer (ideal both: equal up to shot noise)."""

from __future__ import annotations

import math

import pytest

import qlambda
from qlambda.core import ConfigurationError
from qlambda.quantum import load_backends

pytest.importorskip("braket.devices")

BACKENDS = [
    {
        "name": "braket-local",
        "kind": "braket",
        "device": "local",
        "price": {"per_circuit": 0.3, "per_shot": 0.001},  # Braket's per task + per shot
    },
    {"name": "aer", "kind": "aer", "seed": 5},
]
SHOTS = 4000


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = qlambda.Client(
        data_dir=tmp_path_factory.mktemp("braket"), workers=1, backends=BACKENDS, seed=1
    )
    assert client.wait_ready(180)
    yield client
    client.close()


def same_calls(ctx, backend: str):
    """A GHZ state, a parametric circuit at three angles, and an estimator with three
    observables (two commuting bases), on ``backend``."""
    from qiskit import QuantumCircuit, transpile
    from qiskit.circuit import Parameter
    from qiskit.quantum_info import SparsePauliOp

    ghz = QuantumCircuit(3)
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)
    ghz.measure_all()
    theta = Parameter("theta")
    rotated = QuantumCircuit(2)
    rotated.ry(theta, 0)
    rotated.cx(0, 1)
    rotated.rz(theta / 2, 1)
    rotated.sx(1)
    measured = rotated.measure_all(inplace=False)
    angles = [[0.3], [1.2], [2.5]]
    sampler = ctx.sampler(backend)
    result = sampler.run([(ghz, None, SHOTS), (measured, angles, SHOTS)]).result()
    ghz_counts = result[0].data.meas.get_counts()
    rotated_counts = [result[1].data.meas.get_counts(i) for i in range(len(angles))]
    observables = [SparsePauliOp("ZZ"), SparsePauliOp("XX"), SparsePauliOp(["IZ", "ZI"], [0.5, 2])]
    estimator = ctx.estimator(backend)
    estimated = estimator.run([(rotated, [[o] for o in observables], [[0.7]], 0.01)]).result()
    evs = estimated[0].data.evs
    device = ctx.backend(backend)
    compiled = transpile(ghz, backend=device)  # the device's target, from its executor
    return {
        "ghz": ghz_counts,
        "rotated": rotated_counts,
        "evs": [float(v) for v in evs.ravel()],
        "estimator_circuits": estimated.metadata.get("circuits"),
        "width": device.target.num_qubits,
        "compiled_ops": sorted(compiled.count_ops()),
    }


def both(ctx):
    return {name: same_calls(ctx, name) for name in ("braket-local", "aer")}


def _close(counts_a, counts_b, shots):
    """Every outcome's frequency within 5 standard errors of the two samples' difference."""
    for key in set(counts_a) | set(counts_b):
        p = (counts_a.get(key, 0) + counts_b.get(key, 0)) / (2 * shots)
        sigma = math.sqrt(max(2 * p * (1 - p) / shots, 1e-6))
        assert abs(counts_a.get(key, 0) - counts_b.get(key, 0)) / shots <= 5 * sigma, key


def test_sampler_and_estimator_on_the_local_simulator_match_aer(client):
    job = client.run(both)
    value = job.result(600)
    braket, aer = value["braket-local"], value["aer"]
    assert set(braket["ghz"]) == {"000", "111"} and sum(braket["ghz"].values()) == SHOTS
    _close(braket["ghz"], aer["ghz"], SHOTS)
    for mine, theirs in zip(braket["rotated"], aer["rotated"], strict=True):
        assert sum(mine.values()) == SHOTS
        _close(mine, theirs, SHOTS)
    # precision 0.01 asked: both within a few hundredths of each other (and of the truth)
    for mine, theirs in zip(braket["evs"], aer["evs"], strict=True):
        assert mine == pytest.approx(theirs, abs=0.06)
    assert braket["width"] == 26  # the LocalSimulator's state-vector width
    assert set(braket["compiled_ops"]) <= {"h", "cx", "measure", "barrier"}
    finished = [e.data for e in job.events() if e.kind.value == "QPU_FINISHED"]
    assert {d["backend"] for d in finished} == {"braket-local", "aer"}
    assert all(d["outcome"] == "done" for d in finished)
    # Braket's price: 4 sampler circuits (GHZ, 3 angles) of 4000 shots; the estimator's
    # three observables in 2 bases (ZZ with IZ, ZI; XX), 10000 shots each (precision 0.01)
    assert braket["estimator_circuits"] == 2  # Braket tasks: one per basis
    usage = {b["backend"]: b for b in job.usage()["backends"]}
    assert usage["braket-local"]["cost"] == pytest.approx(0.3 * 6 + 0.001 * (16000 + 20000))
    assert usage["braket-local"]["tasks"] == 2 and usage["aer"]["cost"] == 0  # no price: free


def test_a_mid_circuit_measurement_is_refused_with_the_reason(client):
    def mid_circuit(ctx):
        from qiskit import QuantumCircuit

        circuit = QuantumCircuit(1, 2)
        circuit.h(0)
        circuit.measure(0, 0)
        circuit.h(0)
        circuit.measure(0, 1)
        return ctx.sampler("braket-local").run([circuit]).result()

    with pytest.raises(qlambda.JobFailedError, match="no mid-circuit measurement"):
        client.run(mid_circuit).result(300)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "b", "kind": "braket"}, "kind 'braket' needs a 'device'"),
        ({"name": "b", "kind": "braket", "device": "aria"}, "an AWS device's ARN"),
        (
            {"name": "b", "kind": "braket", "device": "arn:aws:braket:us-east-1::device/qpu/x/y"},
            "needs 's3_bucket'",
        ),
        ({"name": "b", "kind": "braket", "device": "local", "s3_buckt": "x"}, "'s3_buckt'"),
        (
            {"name": "b", "kind": "braket", "device": "local", "s3_bucket": "results"},
            "apply only to an AWS device",
        ),
        (
            {
                "name": "b",
                "kind": "braket",
                "device": "arn:aws:braket:us-east-1::device/qpu/x/y",
                "s3_bucket": "b",
                "reservation_arn": "r-1",
            },
            "not a Braket reservation ARN",
        ),
        ({"name": "b", "kind": "braket", "device": "local", "num_qubits": 40}, "1 to 26"),
        ({"name": "b", "kind": "braket", "device": "local", "concurrency": 2}, "one task at"),
        ({"name": "b", "kind": "braket", "device": "local", "poll_seconds": -1}, "poll_seconds"),
        (
            {"name": "b", "kind": "braket", "device": "local", "emulate_qpu_time": True},
            "takes its own time",
        ),
    ],
)
def test_braket_settings_are_checked(entry, message):
    with pytest.raises(ConfigurationError) as caught:
        load_backends([entry])
    assert message in str(caught.value)

"""Kind ``ibm`` in qiskit-ibm-runtime's local testing mode (``channel = "local"``): the
SDK's own SamplerV2, EstimatorV2, Session and Batch run a fake device on Aer inside the
backend's QPU executor, end to end through the platform's queue."""

from __future__ import annotations

import pytest

import qlambda
from qlambda.core import ConfigurationError
from qlambda.quantum import load_backends

BACKENDS = [
    {"name": "ibmq", "kind": "ibm", "channel": "local", "device": "fake_kolkata", "seed": 3},
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = qlambda.Client(
        data_dir=tmp_path_factory.mktemp("ibm"), workers=1, backends=BACKENDS, seed=1
    )
    assert client.wait_ready(180)
    yield client
    client.close()


def vqe_like(ctx, steps: int = 3):
    """An iterative loop in a session, a fan-out in a batch, and a call outside both."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter
    from qiskit.quantum_info import SparsePauliOp

    theta = Parameter("theta")
    ansatz = QuantumCircuit(2)
    ansatz.ry(theta, 0)
    ansatz.cx(0, 1)
    backend = ctx.backend("ibmq")
    energies = []
    with ctx.session("ibmq"):
        estimator = ctx.estimator("ibmq")
        for step in range(steps):
            pub = (ansatz, SparsePauliOp("ZZ"), [0.1 * step])
            energies.append(float(estimator.run([pub]).result()[0].data.evs))
    measured = ansatz.measure_all(inplace=False)
    with ctx.batch("ibmq"):
        sampler = ctx.sampler("ibmq")
        jobs = [sampler.run([(measured, [value], 400)]) for value in (0.0, 3.14159)]
        counts = [job.result()[0].data.meas.get_counts() for job in jobs]
    return {"energies": energies, "counts": counts, "width": backend.target.num_qubits}


def test_a_session_and_a_batch_run_through_the_queue_on_ibm_primitives(client):
    job = client.run(vqe_like)
    value = job.result(600)
    assert value["width"] == 27  # ctx.backend's target: the device's, read by its executor
    assert all(energy > 0.85 for energy in value["energies"])  # noisy <ZZ> of a Bell-like state
    zero, flipped = value["counts"]
    assert sum(zero.values()) == 400 and zero.get("00", 0) > 360
    assert flipped.get("11", 0) > 360
    events = job.events()
    vendor = [e.data for e in events if e.kind.value == "QPU_VENDOR"]
    finished = [e.data for e in events if e.kind.value == "QPU_FINISHED"]
    assert len(finished) == 5 and all(d["outcome"] == "done" for d in finished)
    # each quantum task was one IBM Runtime job, its id and status in the job's events
    ids = {d["task"]: d["vendor_job_id"] for d in vendor}
    assert len(ids) == 5 and len(set(ids.values())) == 5
    assert {d["vendor_status"] for d in vendor} == {"RUNNING", "DONE"}
    assert all(d["vendor"] == "ibm" and d["backend"] == "ibmq" for d in vendor)


def test_the_calibration_is_read_from_the_device_and_stored(client):
    history = client.platform.calibration.history("ibmq")
    assert history and history[0].device == "fake_kolkata"
    assert len(history[0].qubits) == 27 and history[0].gates
    assert any(q.readout_error for q in history[0].qubits)


def test_a_circuit_wider_than_the_device_is_refused_before_ibm_sees_it(client):
    def too_wide(ctx):
        from qiskit import QuantumCircuit

        circuit = QuantumCircuit(30)
        circuit.measure_all()
        return ctx.sampler("ibmq").run([circuit]).result()

    job = client.run(too_wide)
    with pytest.raises(qlambda.JobFailedError) as caught:
        job.result(300)
    assert "circuit needs 30 qubits" in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "i", "kind": "ibm"}, "kind 'ibm' needs a 'device'"),
        ({"name": "i", "kind": "ibm", "device": "x", "channel": "moon"}, "channel 'moon'"),
        ({"name": "i", "kind": "ibm", "device": "x", "tokn": "a"}, "unknown key(s) 'tokn'"),
        (
            {"name": "i", "kind": "ibm", "device": "x", "token_env": "A", "token_file": "/k"},
            "token_env or token_file, not both",
        ),
        ({"name": "i", "kind": "ibm", "device": "x", "concurrency": 2}, "one task at a time"),
        ({"name": "i", "kind": "ibm", "device": "x", "poll_seconds": 0}, "poll_seconds is 0"),
    ],
)
def test_ibm_settings_are_checked(entry, message):
    with pytest.raises(ConfigurationError) as caught:
        load_backends([entry])
    assert message in str(caught.value)

"""Kind ``braket`` against Amazon Braket's cloud as its REST API defines it.

What only AWS does (GetDevice, CreateQuantumTask, GetQuantumTask with the queue position,
CancelQuantumTask, results in S3) runs against ``braket_cloud_server``: A LOCAL HTTP
SERVER SPEAKING THE BRAKET REST API'S AND S3'S FORMATS, A STAND-IN FOR THE VENDOR CLOUD,
not AWS. boto3 reaches it through the standard ``AWS_ENDPOINT_URL_BRAKET`` and
``AWS_ENDPOINT_URL_S3`` variables with dummy credentials, so ``AwsDevice``,
``AwsQuantumTask``, ``AwsQuantumTaskBatch`` and the adapter's own code run unchanged.
"""

from __future__ import annotations

import os
import time

import pytest

import qlambda

pytest.importorskip("braket.aws")


def _load_server():
    """``braket_cloud_server.py`` beside this file: the local stand-in for Braket."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).with_name("braket_cloud_server.py")
    spec = importlib.util.spec_from_file_location("qlambda_test_braket_cloud_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cloud_server = _load_server()


@pytest.fixture(scope="module")
def cloud():
    server, state = cloud_server.start()
    yield server, state
    server.shutdown()


@pytest.fixture(scope="module")
def client(cloud, tmp_path_factory):
    server, _ = cloud
    url = f"http://127.0.0.1:{server.server_address[1]}"
    backend = {
        "name": "square",
        "kind": "braket",
        "device": cloud_server.DEVICE_ARN,
        "s3_bucket": cloud_server.BUCKET,
        "reservation_arn": cloud_server.RESERVATION_ARN,
        "poll_seconds": 0.05,
        "num_qubits": 4,
    }
    environment = {  # the server's environment: credentials and where AWS is
        "AWS_ACCESS_KEY_ID": cloud_server.ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": cloud_server.SECRET_KEY,
        "AWS_ENDPOINT_URL_BRAKET": url,
        "AWS_ENDPOINT_URL_S3": url,
    }
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        client = qlambda.Client(
            data_dir=tmp_path_factory.mktemp("braket-cloud"), workers=1, backends=[backend]
        )
        assert client.wait_ready(180)
        yield client
        client.close()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def bell_calls(ctx):
    import os

    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    measured = bell.measure_all(inplace=False)
    sampler = ctx.sampler("square")
    sampler.options.environment.job_tags = ["bell", "run 7"]
    counts = sampler.run([(measured, None, 300)]).result()[0].data.meas.get_counts()
    estimator = ctx.estimator("square")  # two bases: one Braket task batch of two tasks
    evs = estimator.run([(bell, [[SparsePauliOp("ZZ")], [SparsePauliOp("XX")]], None, 0.05)])
    backend = ctx.backend("square")
    return {
        "counts": counts,
        "evs": [float(v) for v in evs.result()[0].data.evs.ravel()],
        "secret": os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "width": backend.target.num_qubits,
        "gates": sorted(backend.target.operation_names),
        "edges": sorted(backend.target["cz"]),
    }


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_tasks_run_on_the_device_with_their_arns_in_the_events(client, cloud):
    _, state = cloud
    job = client.run(bell_calls)
    value = job.result(300)
    assert set(value["counts"]) == {"00", "11"} and sum(value["counts"].values()) == 300
    assert value["evs"] == [pytest.approx(1.0), pytest.approx(1.0)]  # ideal simulator behind
    # the device's target: its 4 qubits, its native gates, its ring of couplings
    assert value["width"] == 4 and value["gates"] == ["cz", "measure", "r"]
    assert value["edges"] == [(0, 1), (0, 3), (1, 0), (1, 2), (2, 1), (2, 3), (3, 0), (3, 2)]
    assert value["secret"] is None  # the function never sees the AWS secret...
    assert cloud_server.ACCESS_KEY in state.keys_seen  # ...the executor signed with it
    vendor = [e.data for e in job.events() if e.kind.value == "QPU_VENDOR"]
    arns = {d["vendor_job_id"] for d in vendor}
    assert len(arns) == 3 and arns <= set(state.tasks)  # 1 sampler task + a batch of 2
    assert all(d["vendor"] == "braket" and d["backend"] == "square" for d in vendor)
    assert {d["vendor_status"] for d in vendor} >= {"CREATED", "COMPLETED"}
    for arn in arns:  # every task ran in the reservation's window, on physical qubits
        task = state.tasks[arn]
        assert task["associations"] == [
            {"arn": cloud_server.RESERVATION_ARN, "type": "RESERVATION_TIME_WINDOW_ARN"}
        ]
        assert '"disableQubitRewiring": true' in task["deviceParameters"]
    # the sampler's job tags are its Braket task's AWS tags; the estimator had none
    assert sorted(tuple(state.tasks[arn]["tags"]) for arn in arns) == [(), (), ("bell", "run 7")]


def test_the_calibration_is_read_from_the_device_and_stored(client):
    history = client.platform.calibration.history("square")
    assert history and history[0].device == cloud_server.DEVICE_ARN
    assert [q.readout_error for q in history[0].qubits] == pytest.approx([0.03, 0.04, 0.05, 0.02])
    assert {g.gate for g in history[0].gates} == {"cz"}


def test_queue_position_then_cancel_reaches_every_task_of_the_batch(client, cloud):
    _, state = cloud
    state.hold.set()  # Braket keeps new tasks queued
    try:

        def two_bases(ctx):
            from qiskit import QuantumCircuit
            from qiskit.quantum_info import SparsePauliOp

            circuit = QuantumCircuit(2)
            circuit.h(0)
            pubs = [(circuit, [[SparsePauliOp("ZZ")], [SparsePauliOp("XX")]], None, 0.1)]
            return ctx.estimator("square").run(pubs).result()

        job = client.run(two_bases)

        def queued():
            return {
                e.data["vendor_job_id"]: e.data
                for e in job.events()
                if e.kind.value == "QPU_VENDOR" and e.data.get("vendor_status") == "QUEUED"
            }

        wait_for(lambda: len(queued()) == 2)
        assert {d["position_in_queue"] for d in queued().values()} <= {1, 2}
        job.cancel()
        wait_for(lambda: set(queued()) <= set(state.cancelled))
        assert all(state.tasks[arn]["status"] == "CANCELLED" for arn in queued())
        assert job.status().value == "CANCELED"
    finally:
        state.release()


def test_a_failed_braket_task_fails_the_call_with_braket_s_reason(client, cloud):
    _, state = cloud
    state.fail_with = "Device Square4 is retired for maintenance"

    def one_call(ctx):
        from qiskit import QuantumCircuit

        circuit = QuantumCircuit(1)
        circuit.x(0)
        circuit.measure_all()
        return ctx.sampler("square").run([circuit]).result()

    job = client.run(one_call)
    with pytest.raises(qlambda.JobFailedError) as caught:
        job.result(300)
    message = str(caught.value)
    assert "VendorJobError" in message and "retired for maintenance" in message
    finished = [e.data for e in job.events() if e.kind.value == "QPU_FINISHED"]
    assert finished[-1]["outcome"] == "error"

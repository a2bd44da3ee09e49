"""Kind ``ibm`` against IBM's cloud as its REST API defines it.

What only the cloud does (authentication, the instance lookup, Runtime sessions, a
job's queue position and status, cancel, a failed job) runs against
``ibm_cloud_server``: A LOCAL HTTP SERVER SPEAKING IBM'S DOCUMENTED REST FORMATS (IAM,
Global Search, the Qiskit Runtime API), not IBM. The backend reaches it as an HTTP
proxy, so ``QiskitRuntimeService`` and the adapter's own code run unchanged; the
server runs each job's PUBs on a fake device with the SDK's local service.
"""

from __future__ import annotations

import os
import time

import pytest
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

import qlambda


def _load_server():
    """``ibm_cloud_server.py`` beside this file: the local stand-in for IBM's cloud."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).with_name("ibm_cloud_server.py")
    spec = importlib.util.spec_from_file_location("qlambda_test_ibm_cloud_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ibm_cloud_server = _load_server()


@pytest.fixture(scope="module")
def cloud():
    server, state = ibm_cloud_server.start(FakeManilaV2())
    yield server, state
    server.shutdown()


@pytest.fixture(scope="module")
def client(cloud, tmp_path_factory):
    server, _ = cloud
    backend = {
        "name": "manila",
        "kind": "ibm",
        "device": "ibmq_manila",
        "url": "http://cloud.qlambda.test",
        "instance": ibm_cloud_server.CRN,
        "proxy": f"http://127.0.0.1:{server.server_address[1]}",
        "iam_url": "http://iam.cloud.qlambda.test",
        "poll_seconds": 0.1,
        "num_qubits": 5,
        "price": {"per_second": 1.6},
    }
    saved = os.environ.get("QISKIT_IBM_TOKEN")
    os.environ["QISKIT_IBM_TOKEN"] = ibm_cloud_server.API_KEY  # the server's environment
    try:
        client = qlambda.Client(
            data_dir=tmp_path_factory.mktemp("ibm-cloud"), workers=1, backends=[backend]
        )
        assert client.wait_ready(180)
        yield client
        client.close()
    finally:
        if saved is None:
            os.environ.pop("QISKIT_IBM_TOKEN", None)
        else:
            os.environ["QISKIT_IBM_TOKEN"] = saved


def in_a_session(ctx):
    import os

    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    with ctx.session("manila"):
        estimator = ctx.estimator("manila")
        values = [float(estimator.run([(bell, SparsePauliOp("ZZ"))]).result()[0].data.evs)]
        values.append(float(estimator.run([(bell, SparsePauliOp("XX"))]).result()[0].data.evs))
    return {
        "values": values,
        "token": os.environ.get("QISKIT_IBM_TOKEN"),
        "width": ctx.backend("manila").target.num_qubits,
    }


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_session_runs_as_a_runtime_session_and_the_key_stays_in_the_executor(client, cloud):
    _, state = cloud
    job = client.run(in_a_session)
    value = job.result(300)
    assert all(v > 0.8 for v in value["values"])  # a noisy Bell state's <ZZ>, <XX>
    assert value["width"] == 5  # the Target built from the configuration IBM served
    assert value["token"] is None  # the function never sees the API key...
    assert ibm_cloud_server.API_KEY in state.keys_seen  # ...the executor did authenticate
    vendor = [e.data for e in job.events() if e.kind.value == "QPU_VENDOR"]
    sessions = {d.get("vendor_session_id") for d in vendor}
    assert len(sessions) == 1 and None not in sessions  # both calls in one Runtime session
    (session,) = sessions
    jobs = {d["vendor_job_id"] for d in vendor}
    assert len(jobs) == 2 and all(state.jobs[j]["session_id"] == session for j in jobs)
    assert {d["vendor_status"] for d in vendor} >= {"DONE"}
    wait_for(lambda: state.sessions[session].get("state") == "closed")  # closed at the job's end
    # what IBM charged is each task's QPU seconds, and its cost at the backend's price
    charged = [e.data for e in job.events() if e.kind.value == "QPU_FINISHED"]
    assert [d["qpu_seconds"] for d in charged] == [ibm_cloud_server.CHARGED_SECONDS] * 2
    assert [d["cost"] for d in charged] == [ibm_cloud_server.CHARGED_SECONDS * 1.6] * 2


def test_queue_position_and_start_estimate_then_cancel_reaches_ibm(client, cloud):
    _, state = cloud
    state.hold.set()  # IBM keeps new jobs queued
    try:

        def one_call(ctx):
            from qiskit import QuantumCircuit

            circuit = QuantumCircuit(1)
            circuit.measure_all()
            return ctx.sampler("manila").run([circuit]).result()[0].data.meas.get_counts()

        job = client.run(one_call)

        def queued():
            return [
                e.data
                for e in job.events()
                if e.kind.value == "QPU_VENDOR" and e.data.get("vendor_status") == "QUEUED"
            ]

        wait_for(queued)
        news = queued()[0]
        assert news["position_in_queue"] == 1 and news["estimated_start_time"]
        info = job.info()
        assert info.starts_in_seconds is not None and 200 < info.starts_in_seconds <= 300
        assert "starts in about" in info.status_text
        job.cancel()
        wait_for(lambda: news["vendor_job_id"] in state.cancelled)
        assert state.jobs[news["vendor_job_id"]]["status"] == "Cancelled"
        assert job.status().value == "CANCELED"
    finally:
        state.release()


def test_a_failed_ibm_job_fails_the_task_with_ibms_message(client, cloud):
    _, state = cloud
    state.fail_with = "Error code 1517; the device was recalibrating"

    def one_call(ctx):
        from qiskit import QuantumCircuit

        circuit = QuantumCircuit(1)
        circuit.measure_all()
        return ctx.sampler("manila").run([circuit]).result()

    job = client.run(one_call)
    with pytest.raises(qlambda.JobFailedError) as caught:
        job.result(300)
    message = str(caught.value)
    assert "VendorJobError" in message and "the device was recalibrating" in message
    finished = [e.data for e in job.events() if e.kind.value == "QPU_FINISHED"]
    assert finished[-1]["outcome"] == "error"


def tagged_calls(ctx):
    from qiskit import QuantumCircuit

    from qlambda.runtime import EstimatorV2, SamplerV2

    backend = ctx.backend("manila")
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    sampler = SamplerV2(mode=backend)
    sampler.options.environment.job_tags = ["vqe", "run 7"]
    sampler.run([bell.measure_all(inplace=False)]).result()
    estimator = EstimatorV2(mode=backend)  # with a step: the platform's own Runtime job
    estimator.options.resilience.measure_mitigation = True
    estimator.options.environment.job_tags = ["vqe", "mitigated"]
    return float(estimator.run([(bell, "ZZ")]).result()[0].data.evs)


def test_a_calls_job_tags_are_its_ibm_jobs_tags(client, cloud):
    _, state = cloud
    job = client.run(tagged_calls)
    assert job.result(300) > 0.8
    vendor = [e.data for e in job.events() if e.kind.value == "QPU_VENDOR"]
    tags_at_ibm = {
        task: sorted(
            {tuple(state.jobs[d["vendor_job_id"]]["tags"]) for d in vendor if d["task"] == task}
        )
        for task in sorted({d["task"] for d in vendor})
    }
    assert list(tags_at_ibm.values()) == [[("vqe", "run 7")], [("vqe", "mitigated")]]
    queued = [e.data["tags"] for e in job.events() if e.kind.value == "QPU_QUEUED"]
    assert queued == [["vqe", "run 7"], ["vqe", "mitigated"]]

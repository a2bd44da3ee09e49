"""Execution options through the platform: per primitive, per job, stored, and rejected."""

from __future__ import annotations

import pytest

from qlambda import JobFailedError


def ghz_values(ctx, options=None):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    estimator = ctx.estimator("aer", options=options)
    result = estimator.run([(circuit, ["ZZI", "XXX"])]).result()
    return {
        "evs": [float(v) for v in result[0].data.evs],
        "options": result[0].metadata.get("execution_options"),
        "calls": result.metadata.get("simulator_calls"),
    }


def test_ctx_estimator_runs_the_options_in_the_executor(client):
    value = client.run(ghz_values, options=["readout", "zne"]).result(120)
    assert value["options"] == ["readout", "zne"]
    assert value["calls"] == 1
    assert value["evs"] == pytest.approx([1.0, 1.0], abs=0.15)


def test_job_level_options_are_the_default_and_are_stored(client):
    job = client.run(ghz_values, execution_options=[{"zne": {"extrapolation": "linear"}}])
    assert job.result(120)["options"] == ["zne"]
    row = client.platform.result_row(job.id)
    assert row["execution_options"] == [{"zne": {"extrapolation": "linear"}}]


def test_options_given_to_the_primitive_override_the_job_s(client):
    job = client.run(ghz_values, execution_options=["zne"], arguments={"options": []})
    assert job.result(120)["options"] is None  # no pipeline: the plain estimator ran


def sample_with_job_options(ctx):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    result = ctx.sampler("aer").run([circuit], shots=200).result()
    return result[0].metadata.get("execution_options"), result[0].data.meas.get_counts()


def test_a_job_s_options_also_apply_to_its_samplers(client):
    job = client.run(sample_with_job_options, execution_options=["readout", "ddd"])
    options, counts = job.result(120)
    assert options == ["readout", "ddd"]
    assert set(counts) <= {"00", "11"}


def test_an_unknown_job_option_is_rejected_before_the_job_is_stored(client):
    before = len(client.jobs(limit=1000))
    with pytest.raises(ValueError, match=r"unknown execution option 'zen'; known: .*zne"):
        client.run(ghz_values, execution_options=["zen"])
    assert len(client.jobs(limit=1000)) == before


def test_an_unknown_option_inside_the_function_fails_the_job_clearly(client):
    job = client.run(ghz_values, options=["zen"])
    with pytest.raises(JobFailedError, match="unknown execution option 'zen'"):
        job.result(120)


def custom_step_job(ctx):
    from dataclasses import replace

    from qiskit import QuantumCircuit

    from qlambda.quantum.pipeline import PassThrough

    class Halve(PassThrough):
        name = "halve"

        def post(self, outcomes, context, backend):
            return [replace(o, value=o.value / 2) for o in outcomes]

    circuit = QuantumCircuit(1)
    estimator = ctx.estimator("aer", options=[Halve()])
    return float(estimator.run([(circuit, "Z")]).result()[0].data.evs)


def test_a_step_object_defined_in_the_function_travels_to_the_executor(client):
    assert client.run(custom_step_job).result(120) == pytest.approx(0.5)

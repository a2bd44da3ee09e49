"""Execution options as a pipeline: registry, ordering, batching, errors (real Aer, real mitiq)."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from qiskit import QuantumCircuit

from qlambda.quantum.pipeline import (
    PassThrough,
    UnknownOptionError,
    describe_options,
    known_options,
    register_step,
    resolve_options,
    unregister_step,
)
from qlambda.quantum.pipeline.measure import shot_weights
from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformSamplerV2
from qlambda.quantum.request import make_request


def ghz(n: int = 4) -> QuantumCircuit:
    circuit = QuantumCircuit(n)
    circuit.h(0)
    for qubit in range(n - 1):
        circuit.cx(qubit, qubit + 1)
    return circuit


def test_an_unknown_option_is_rejected_listing_the_known_ones():
    with pytest.raises(UnknownOptionError, match=r"'zen'.*known: ddd, readout, twirl, zne"):
        resolve_options(["readout", "zen"])


def test_bad_step_arguments_say_what_is_accepted():
    with pytest.raises(ValueError, match="accepted: richardson, linear"):
        resolve_options([{"zne": {"extrapolation": "cubic"}}])
    with pytest.raises(TypeError, match=r"'zne' has no argument\(s\) bogus; accepted: scale_f"):
        resolve_options([{"zne": {"bogus": 1}}])
    with pytest.raises(TypeError, match=r"'readout' has no argument\(s\) x; accepted: none"):
        resolve_options([{"readout": {"x": 1}}])
    with pytest.raises(ValueError, match="scale_factors"):
        resolve_options([{"zne": {"scale_factors": [1]}}])
    with pytest.raises(TypeError, match="options is a list"):
        resolve_options("zne")
    with pytest.raises(TypeError, match="a name, a"):
        resolve_options([42])


class EstimatorOnly(PassThrough):
    name = "values-only"
    primitives = ("estimator",)


def test_options_that_do_not_fit_the_primitive_fail_at_once(aer_submit):
    with pytest.raises(ValueError, match="'values-only' works with the estimator only"):
        PlatformSamplerV2(aer_submit, options=[EstimatorOnly()])


def test_job_level_options_skip_steps_that_do_not_serve_the_primitive(aer_submit):
    sampler = PlatformSamplerV2(aer_submit, options=[EstimatorOnly(), "ddd"], strict_options=False)
    assert [step.name for step in sampler.steps] == ["ddd"]


def test_job_options_are_stored_as_names_and_mappings():
    assert describe_options(["readout", {"zne": {"extrapolation": "linear"}}]) == [
        "readout",
        {"zne": {"extrapolation": "linear"}},
    ]
    with pytest.raises(TypeError, match="register_step"):
        describe_options([PassThrough()])


class Recorder(PassThrough):
    """Appends to a shared log, so the order of stages can be checked."""

    def __init__(self, label: str, log: list[str]) -> None:
        self.name = label
        self.log = log

    def pre(self, executions, backend):
        self.log.append(f"pre {self.name}")
        return list(executions), None

    def post(self, outcomes, context, backend):
        self.log.append(f"post {self.name}")
        return list(outcomes)


def test_steps_wrap_like_decorators_first_listed_outermost(aer_runtime):
    from qlambda.quantum.pipeline import run_steps

    log: list[str] = []
    steps = [Recorder("a", log), Recorder("b", log)]
    request = make_request("estimator", [(ghz(), "ZZZZ")], options=steps)
    prepared = aer_runtime.prepare(request)
    from qlambda.quantum.pipeline.runner import _estimator_executions

    executions = _estimator_executions(prepared.pubs[0], aer_runtime.pipeline.view)

    def measure(batch):
        log.append("measure")
        return aer_runtime.pipeline.measure(batch)

    outcomes = run_steps(steps, executions, aer_runtime.pipeline.view, measure)
    assert log == ["pre a", "pre b", "measure", "post b", "post a"]
    assert outcomes[0].value == pytest.approx(1.0)


def test_a_decorated_step_is_an_option_and_runs_in_the_executor(aer_submit):
    @register_step("negate")
    class Negate(PassThrough):
        name = "negate"

        def post(self, outcomes, context, backend):
            from dataclasses import replace

            return [replace(o, value=-o.value) for o in outcomes]

    try:
        assert "negate" in known_options()
        estimator = PlatformEstimatorV2(aer_submit, options=["negate"])
        result = estimator.run([(ghz(), ["ZZZZ", "XXXX"])]).result()
        assert np.allclose(result[0].data.evs, [-1.0, -1.0], atol=0.1)
        assert result[0].metadata["execution_options"] == ["negate"]
    finally:
        unregister_step("negate")
    with pytest.raises(UnknownOptionError):
        resolve_options(["negate"])


def test_a_step_from_an_entry_point_is_an_option(tmp_path, monkeypatch):
    (tmp_path / "qlambda_test_steps.py").write_text(
        textwrap.dedent(
            """
            from qlambda.quantum.pipeline import PassThrough

            class Identity(PassThrough):
                name = "identity-from-plugin"
            """
        )
    )
    info = tmp_path / "qlambda_test_steps-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: qlambda-test-steps\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[qlambda.pipeline_steps]\nidentity-from-plugin = qlambda_test_steps:Identity\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "identity-from-plugin" in known_options()
        (step,) = resolve_options(["identity-from-plugin"])
        assert type(step).__name__ == "Identity"
    finally:
        sys.modules.pop("qlambda_test_steps", None)


def test_readout_weights_invert_the_confusion_matrix():
    e0, e1 = 0.02, 0.05
    confusion = np.array([[1 - e0, e1], [e0, 1 - e1]])
    weights = shot_weights((e0, e1))
    # a qubit prepared in 0 (or 1) read through the confusion matrix averages to +1 (or -1)
    assert weights @ confusion[:, 0] == pytest.approx(1.0)
    assert weights @ confusion[:, 1] == pytest.approx(-1.0)


def test_the_sampler_s_quasi_distribution_inverts_the_confusion_matrices():
    from qlambda.quantum.pipeline.measure import quasi_distribution

    e = [(0.1, 0.2), (0.05, 0.0)]
    # the ideal state |01> (bit 0 = 1) read through independent confusion matrices
    p_bit0 = {"1": 1 - e[0][1], "0": e[0][1]}
    p_bit1 = {"0": 1 - e[1][0], "1": e[1][0]}
    counts = {b1 + b0: round(1e6 * p_bit0[b0] * p_bit1[b1]) for b0 in "01" for b1 in "01"}
    quasi = quasi_distribution(counts, e)
    assert quasi["01"] == pytest.approx(1.0, abs=1e-5)
    assert sum(quasi.values()) == pytest.approx(1.0)


def test_zne_sends_all_scale_factors_as_one_simulator_call(aer_submit):
    estimator = PlatformEstimatorV2(
        aer_submit, default_precision=1 / 64, options=[{"zne": {"scale_factors": [1, 2, 3]}}]
    )
    pubs = [(ghz(), ["ZZZZ", "XXXX", "ZZII"]), (ghz(3), "ZZZ")]
    result = estimator.run(pubs).result()
    assert result.metadata["simulator_calls"] == 1
    # (3 observables of the first PUB + 1 of the second) x 3 scale factors, one basis each
    assert result.metadata["circuits"] == (3 + 1) * 3
    assert np.allclose(result[0].data.evs, [1.0, 1.0, 1.0], atol=0.15)
    assert result[0].metadata["outcomes"][0]["zne"]["scale_factors"] == [1.0, 2.0, 3.0]


def test_ddd_keeps_an_ideal_sampler_s_distribution(aer_submit):
    circuit = ghz()
    circuit.barrier()
    circuit.h(3)
    circuit.h(3)
    circuit.measure_all()
    sampler = PlatformSamplerV2(aer_submit, options=["ddd"])
    result = sampler.run([circuit], shots=400).result()
    counts = result[0].data.meas.get_counts()
    assert set(counts) <= {"0000", "1111"}
    assert sum(counts.values()) == 400
    assert result.metadata["simulator_calls"] == 1


def test_parameterised_pubs_keep_their_shape_through_the_pipeline(aer_submit):
    from qiskit.circuit import Parameter

    theta = Parameter("t")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    angles = np.array([[0.0], [np.pi], [np.pi / 2]])
    estimator = PlatformEstimatorV2(aer_submit, options=["readout"])
    result = estimator.run([(circuit, [["Z"], ["X"]], angles.reshape(1, 3, 1))]).result()
    evs = result[0].data.evs
    assert evs.shape == (2, 3)
    assert np.allclose(evs[0], [1.0, -1.0, 0.0], atol=0.1)
    assert np.allclose(evs[1], [0.0, 0.0, 1.0], atol=0.1)

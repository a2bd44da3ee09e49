"""The ``twirl`` execution option: randomised copies that are the same circuit ideally,
sharing its shots, combined back into one outcome."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator, SparsePauliOp

from qlambda.quantum.pipeline import resolve_options
from qlambda.quantum.pipeline.base import BackendView, Execution
from qlambda.quantum.pipeline.twirl import PauliTwirling
from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformSamplerV2


def ghz(measure: bool = False) -> QuantumCircuit:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    if measure:
        circuit.measure_all()
    return circuit


VIEW = BackendView("aer", "aer", 3, {}, rebase=lambda circuit: circuit)


@pytest.mark.parametrize(
    ("step", "shots", "parts"),
    [
        (PauliTwirling(), 4096, [128] * 32),  # IBM's auto: max(64, 4096/32) shots per copy
        (PauliTwirling(), 100, [50, 50]),  # two copies of 64 at most, evenly
        (PauliTwirling(num_randomizations=3), 100, [34, 33, 33]),
        (PauliTwirling(shots_per_randomization=500), 1000, [500, 500]),
        (PauliTwirling(num_randomizations=4), 0, [0, 0, 0, 0]),  # exact: copies, no shots
    ],
)
def test_the_shots_are_split_over_the_copies(step, shots, parts):
    assert step.split(shots) == parts


def test_copies_differ_but_are_the_same_circuit_ideally():
    step = PauliTwirling(num_randomizations=8, seed=3)
    execution = Execution(ghz(), 800, SparsePauliOp("ZZI"))
    copies, context = step.pre([execution], VIEW)
    assert context == [[100] * 8] and [c.shots for c in copies] == [100] * 8
    target = Operator(ghz())
    assert all(Operator(c.circuit).equiv(target) for c in copies)
    assert len({str(c.circuit.data) for c in copies}) > 1  # randomised, not eight equal copies
    assert all(c.circuit.size() > ghz().size() for c in copies)  # Paulis around the CXs


def test_twirled_estimates_and_samples_on_a_noisy_device(kolkata_submit):
    estimator = PlatformEstimatorV2(kolkata_submit, default_precision=1 / 64)
    estimator.options.twirling.enable_gates = True
    estimator.options.twirling.num_randomizations = 8
    result = estimator.run([(ghz(), ["ZZI", "IZZ"])]).result()
    assert result[0].metadata["execution_options"] == ["twirl"]
    assert result[0].metadata["outcomes"][0]["twirl"] == {"num_randomizations": 8}
    assert list(result[0].data.evs) == pytest.approx([1.0, 1.0], abs=0.1)
    sampler = PlatformSamplerV2(kolkata_submit, options=["readout", "twirl"])
    pub = sampler.run([ghz(measure=True)], shots=1000).result()[0]
    counts = pub.data.meas.get_counts()
    assert sum(counts.values()) == 1000  # the PUB's shots, over all copies
    assert counts.get("000", 0) + counts.get("111", 0) > 850
    assert sum(pub.metadata["quasi_dists"]["meas"].values()) == pytest.approx(1.0)


def test_bad_twirl_arguments_are_refused():
    with pytest.raises(ValueError, match="num_randomizations must be a positive integer or"):
        resolve_options([{"twirl": {"num_randomizations": 0}}])


def test_exponential_zne_fits_a_decay_and_falls_back_to_a_line():
    from qlambda.quantum.pipeline.base import Outcome
    from qlambda.quantum.pipeline.zne import ZeroNoiseExtrapolation

    step = ZeroNoiseExtrapolation(scale_factors=[1, 3, 5], extrapolation="exponential")
    decay = [0.8 * np.exp(-x / 4) for x in (1, 3, 5)]  # A = 0.8, exactly exponential
    outcomes = [Outcome(value=v, std=0.01) for v in decay]
    (fitted,) = step.post(outcomes, 1, VIEW)
    assert fitted.value == pytest.approx(0.8)
    assert fitted.std > 0.01  # extrapolating widens the error bar
    assert "extrapolation" not in fitted.metadata["zne"]
    crossing = [Outcome(value=v, std=0.01) for v in (0.3, 0.0, -0.3)]
    (line,) = step.post(crossing, 1, VIEW)
    assert line.value == pytest.approx(0.45)
    assert line.metadata["zne"]["extrapolation"] == "linear"


def test_ibm_zne_defaults_run_on_a_noisy_device(kolkata_submit):
    estimator = PlatformEstimatorV2(kolkata_submit, default_precision=1 / 64)
    estimator.options.resilience.zne_mitigation = True  # IBM's default extrapolators
    result = estimator.run([(ghz(), ["ZZI", "IZZ"])]).result()
    assert result[0].metadata["execution_options"] == ["zne"]
    assert list(result[0].data.evs) == pytest.approx([1.0, 1.0], abs=0.1)

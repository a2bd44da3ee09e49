"""Shots drawn from exact probabilities follow the distribution Aer's own sampling gives."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.pipeline import resolve_options
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime
from qlambda.quantum.sampling import draw_shots, final_measurements


def test_final_measurements_maps_every_bit_to_its_qubit() -> None:
    qubits = QuantumRegister(3)
    first, second = ClassicalRegister(2, "a"), ClassicalRegister(3, "b")
    circuit = QuantumCircuit(qubits, first, second)
    circuit.h(0)
    circuit.cx(0, 2)
    circuit.measure(2, first[0])
    circuit.barrier()
    circuit.measure(0, second[2])
    circuit.measure(2, second[0])  # the same qubit read twice
    split = final_measurements(circuit)
    assert split is not None
    assert split.qubits == (0, 2)
    assert split.registers == {"a": (1, None), "b": (1, None, 0)}
    names = [item.operation.name for item in split.saving_probabilities.data]
    assert "measure" not in names and names[-1] == "save_probabilities"


@pytest.mark.parametrize("late", ["gate after measure", "conditional"])
def test_circuits_with_mid_circuit_measurements_are_not_split(late: str) -> None:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.measure(0, 0)
    if late == "gate after measure":
        circuit.x(0)
    else:
        with circuit.if_test((circuit.clbits[0], 1)):
            circuit.x(1)
    circuit.measure(1, 1)
    assert final_measurements(circuit) is None


def test_readout_flips_each_measurement_with_its_qubits_rates() -> None:
    circuit = QuantumCircuit(2, 3)
    circuit.measure([0, 1, 1], [0, 1, 2])
    split = final_measurements(circuit)
    assert split is not None
    # qubit 0 always |1>, qubit 1 always |0>
    probabilities = np.array([0.0, 1.0, 0.0, 0.0])
    readout = {0: np.array([[0.9, 0.1], [0.25, 0.75]]), 1: np.array([[0.8, 0.2], [0.4, 0.6]])}
    shots = 200_000
    bits = draw_shots(split, probabilities, shots, readout, np.random.default_rng(1))["c"]
    rows = bits.to_bool_array(order="little")
    assert rows.shape == (shots, 3)
    assert rows[:, 0].mean() == pytest.approx(0.75, abs=0.005)  # p(1|1) of qubit 0
    assert rows[:, 1].mean() == pytest.approx(0.2, abs=0.005)  # p(1|0) of qubit 1
    assert rows[:, 2].mean() == pytest.approx(0.2, abs=0.005)
    # two reads of one qubit flip independently
    both = (rows[:, 1] & rows[:, 2]).mean()
    assert both == pytest.approx(0.04, abs=0.003)


def ghz(width: int) -> QuantumCircuit:
    circuit = QuantumCircuit(width)
    circuit.h(0)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.x(0)
    circuit.measure_all()
    return circuit


def total_variation(a: dict[str, int], b: dict[str, int]) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


@pytest.mark.slow
def test_drawn_shots_match_aers_sampling_on_a_noisy_device() -> None:
    runtime = BackendRuntime(BackendConfig(name="k", kind="fake", device="kolkata", seed=5))
    shots = 40_000
    request = make_request("sampler", [ghz(3)], shots=shots)
    outcome = runtime.execute(request)
    assert outcome.result.metadata["drawn"] == 1
    drawn = outcome.result[0].join_data().get_counts()
    # Aer's own sampler on the same transpiled circuit and noise model
    transpiled = runtime.prepare(request).pubs[0].circuit
    runtime.simulator.set_options(noise_model=runtime.noise.for_circuits([transpiled]))
    sampler = AerSamplerV2.from_backend(runtime.simulator, seed=9)
    reference = sampler.run([(transpiled, None, shots)]).result()[0].join_data().get_counts()
    ideal = {"110": shots // 2, "001": shots // 2}
    noise_level = total_variation(reference, ideal)
    assert noise_level > 0.02  # the device is noisy enough for the comparison to mean something
    # two samples of one distribution differ by sampling noise only (~0.01 at 40k shots)
    assert total_variation(drawn, reference) < 0.02


def test_zne_batch_is_drawn_in_one_call_and_few_shots_fall_back_to_aer() -> None:
    runtime = BackendRuntime(BackendConfig(name="k", kind="fake", device="kolkata", seed=5))
    circuit = ghz(3).remove_final_measurements(inplace=False)
    zne = resolve_options(["zne"])
    request = make_request("estimator", [(circuit, "ZZZ")], precision=1 / 32, options=zne)
    metadata = runtime.execute(request).result.metadata
    assert (metadata["simulator_calls"], metadata["circuits"], metadata["drawn"]) == (1, 3, 3)
    # 8 shots < 2^3 qubits: Aer would simulate trajectories, so Aer samples
    few = runtime.execute(make_request("sampler", [ghz(3)], shots=8))
    assert few.result.metadata["drawn"] == 0
    assert few.result[0].join_data().num_shots == 8

"""Noise models restricted to active qubits give the same answers, at a fraction of the cost."""

from __future__ import annotations

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator

from qlambda.quantum.config import make_fake_device
from qlambda.quantum.noise import RestrictedNoise, active_qubits, restrict_noise_model


def ghz_on(device) -> QuantumCircuit:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    return generate_preset_pass_manager(
        optimization_level=2, backend=device, seed_transpiler=4
    ).run(circuit)


def test_restricted_model_gives_identical_seeded_counts():
    device = make_fake_device("FakeKolkataV2")
    simulator = AerSimulator.from_backend(device, max_parallel_threads=1)
    full = simulator.options.noise_model
    isa = ghz_on(device)
    expected = simulator.run(isa, shots=3000, seed_simulator=9).result().get_counts()
    restricted = restrict_noise_model(full, active_qubits([isa]))
    simulator.set_options(noise_model=restricted)
    assert simulator.run(isa, shots=3000, seed_simulator=9).result().get_counts() == expected
    assert set(restricted.noise_qubits) == set(isa.layout.final_index_layout())
    assert len(restricted.noise_qubits) < len(full.noise_qubits)


def test_active_qubits_include_laid_out_but_idle_qubits():
    device = make_fake_device("FakeKolkataV2")
    circuit = QuantumCircuit(2)
    circuit.h(0)  # qubit 1 idle, but an observable may still measure it
    isa = generate_preset_pass_manager(optimization_level=1, backend=device).run(circuit)
    assert active_qubits([isa]) == frozenset(isa.layout.final_index_layout())


def test_restricted_models_are_reused_per_qubit_set():
    device = make_fake_device("FakeKolkataV2")
    noise = RestrictedNoise(AerSimulator.from_backend(device).options.noise_model)
    isa = ghz_on(device)
    assert noise.for_circuits([isa]) is noise.for_circuits([isa])

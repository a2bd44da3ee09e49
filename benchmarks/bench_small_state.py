"""Where numpy's small-state kernel is faster than an Aer call: the crossover.

For circuits of n qubits and g gates (layers of parameterised RY on every qubit, then a
CX chain) bound to s parameter sets, the final states from
:class:`qlambda.quantum.small_state.SmallCircuit` (compiled once, as the executor keeps
it) against one ``AerSimulator.run`` saving the state vector of every set (the baseline,
as the executor calls it). Figures: median microseconds per call over ``--calls``,
medians over ``--repeats``; then the least-squares fit of each side's cost per gate and
per amplitude, and what :func:`~qlambda.quantum.small_state.faster_than_aer` decides.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_small_state.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the platform's workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit_aer import AerSimulator

from qlambda.quantum.small_state import AER_COSTS, NUMPY_COSTS, SmallCircuit, faster_than_aer

CASES = [
    (qubits, gates, sets)
    for qubits in (2, 4, 6, 8, 10, 12, 14)
    for gates in (4, 16, 64, 256)
    for sets in (1, 8)
]


def layered(qubits: int, gates: int) -> QuantumCircuit:
    """``gates`` gates: RY(theta_k) on every qubit, a CX chain, again."""
    theta = ParameterVector("theta", gates)
    circuit = QuantumCircuit(qubits)
    count = 0
    while count < gates:
        for qubit in range(qubits):
            if count < gates:
                circuit.ry(theta[count], qubit)
                count += 1
        for qubit in range(qubits - 1):
            if count < gates:
                circuit.cx(qubit, qubit + 1)
                count += 1
    return circuit.assign_parameters(
        {p: 0.1 for p in theta if p not in circuit.parameters}, strict=False
    )


def per_call(run: Callable[[], object], calls: int) -> float:
    run()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(qubits: int, gates: int, sets: int, calls: int) -> tuple[float, float]:
    circuit = layered(qubits, gates)
    values = np.random.default_rng(0).random((sets, circuit.num_parameters))
    compiled = SmallCircuit(circuit)
    saving = circuit.copy()
    saving.save_statevector()
    simulator = AerSimulator(method="statevector")
    binds = [{p: values[:, k] for k, p in enumerate(circuit.parameters)}]
    numpy = per_call(lambda: compiled.states(values), calls)
    aer = per_call(lambda: simulator.run(saving, parameter_binds=binds).result(), calls)
    return numpy, aer


def fit(rows: list[tuple[int, int, int, float]]) -> tuple[float, float, float, float]:
    """Seconds = call + gate * g + set * s + amplitude * g * s * 2^n, least relative
    squares."""
    design = np.array([[1.0, g, s, g * s * (1 << n)] for n, g, s, _ in rows])
    seconds = np.array([t for *_, t in rows])
    weights = 1 / seconds  # small calls count as much as large ones
    solution, *_ = np.linalg.lstsq(design * weights[:, None], np.ones(len(rows)), rcond=None)
    call, gate, per_set, amplitude = solution
    return float(call), float(gate), float(per_set), float(amplitude)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'qubits':>6s} {'gates':>6s} {'sets':>5s} {'numpy us':>17s} {'Aer us':>17s} "
        f"{'rule':>6s} {'right':>6s}"
    )
    numpy_rows, aer_rows = [], []
    for index, (qubits, gates, sets) in enumerate(CASES):
        print(f"  case {index + 1} of {len(CASES)}", end="\r", flush=True)
        runs = [measure(qubits, gates, sets, args.calls) for _ in range(args.repeats)]
        numpy = [1e6 * n for n, _ in runs]
        aer = [1e6 * a for _, a in runs]
        numpy_rows.append((qubits, gates, sets, statistics.median(numpy) * 1e-6))
        aer_rows.append((qubits, gates, sets, statistics.median(aer) * 1e-6))
        numpy_wins = faster_than_aer([(qubits, gates, sets)])
        right = numpy_wins == (statistics.median(numpy) < statistics.median(aer))
        print(
            f"\r{qubits:6d} {gates:6d} {sets:5d} "
            f"{min(numpy):8.0f}-{max(numpy):<8.0f} {min(aer):8.0f}-{max(aer):<8.0f} "
            f"{'numpy' if numpy_wins else 'Aer':>6s} {'yes' if right else 'NO':>6s}"
        )
    print("\nfit: seconds = call + gates * per gate + sets * per set + amplitudes * per")
    print("amplitude, amplitudes = gates * sets * 2^qubits; rule: small_state's constants")
    print(f"{'':8s} {'call us':>10s} {'per gate us':>12s} {'per set us':>11s} {'per amp. ns':>12s}")
    fitted = [(name, *fit(rows)) for name, rows in (("numpy", numpy_rows), ("Aer", aer_rows))]
    rules = [("rule np", *NUMPY_COSTS), ("rule Aer", *AER_COSTS)]
    for name, call, gate, per_set, amplitude in [*fitted, *rules]:
        print(
            f"{name:8s} {1e6 * call:10.1f} {1e6 * gate:12.2f} {1e6 * per_set:11.1f} "
            f"{1e9 * amplitude:12.3f}"
        )


if __name__ == "__main__":
    main()

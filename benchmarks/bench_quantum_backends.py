"""What one iteration of a variational loop costs on the platform's quantum backends.

Workload: an 8-node MaxCut QAOA (p=1) energy evaluation with the EstimatorV2 interface,
repeated with new parameters as an optimiser would. For each backend, two rows:
- baseline: plain Qiskit/Aer in the same run, as a user would write it without the
  platform: ``AerSimulator.from_backend`` + ``BackendEstimatorV2`` (noisy) or Aer's
  ``EstimatorV2`` (ideal), transpiling the circuit for the device on every iteration;
- qlambda: ``BackendRuntime.execute`` on a pickled ``QuantumRequest`` (what the QPU
  executor does): transpile cached by circuit structure, noise model restricted to
  the qubits in use, all PUBs in one simulator call.
Median seconds per iteration over the timed iterations (the first one is reported apart).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_quantum_backends.py
"""

from __future__ import annotations

import os
import pickle
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import networkx as nx
import numpy as np
from qiskit.circuit.library import qaoa_ansatz
from qiskit.primitives import BackendEstimatorV2
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import EstimatorV2 as AerEstimatorV2

from qlambda.quantum.config import BackendConfig, make_fake_device
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime

ITERATIONS = 5
BACKENDS = [
    BackendConfig(name="aer", kind="aer", seed=1),
    BackendConfig(name="kolkata", kind="fake", device="FakeKolkataV2", seed=1),
    BackendConfig(name="torino", kind="fake", device="FakeTorino", seed=1),
]


def maxcut_qaoa():
    graph = nx.random_regular_graph(3, 8, seed=1)
    cost = SparsePauliOp.from_sparse_list(
        [("ZZ", [i, j], 1.0) for i, j in graph.edges], num_qubits=8
    )
    return qaoa_ansatz(cost, reps=1), cost


def baseline_step(config: BackendConfig):
    """Plain Qiskit: build once, transpile each iteration (as the circuit is sent anew)."""
    started = time.perf_counter()
    if config.kind == "fake":
        device = make_fake_device(config.device or "")
        simulator = AerSimulator.from_backend(device, max_parallel_threads=1)
        estimator = BackendEstimatorV2(backend=simulator, options={"seed_simulator": 1})
        pass_manager = generate_preset_pass_manager(optimization_level=2, backend=device)
    else:
        estimator = AerEstimatorV2(options={"backend_options": {"max_parallel_threads": 1}})
        pass_manager = None
    build = time.perf_counter() - started

    def step(circuit, cost, values):
        if pass_manager is not None:
            circuit = pass_manager.run(circuit)
            cost = cost.apply_layout(circuit.layout)
        return estimator.run([(circuit, cost, values)], precision=1 / 64).result()

    return build, step


def qlambda_step(config: BackendConfig):
    started = time.perf_counter()
    runtime = BackendRuntime(config)
    build = time.perf_counter() - started

    def step(circuit, cost, values):
        request = make_request("estimator", [(circuit, cost, values)], precision=1 / 64)
        return runtime.execute(pickle.loads(pickle.dumps(request))).result

    return build, step


def measure(make_step, config: BackendConfig) -> tuple[float, float, float]:
    circuit, cost = maxcut_qaoa()
    build, step = make_step(config)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(ITERATIONS + 1):
        values = rng.uniform(0, np.pi, circuit.num_parameters)
        started = time.perf_counter()
        step(circuit, cost, values)
        times.append(time.perf_counter() - started)
    return build, times[0], statistics.median(times[1:])


def main() -> None:
    print(f"8-node MaxCut QAOA energy, {ITERATIONS} timed iterations after the first")
    header = (
        f"{'backend':>8} {'path':>9} {'build s':>8} {'first s':>8} {'iter s':>8} {'speedup':>8}"
    )
    print(header)
    for config in BACKENDS:
        base = measure(baseline_step, config)
        ours = measure(qlambda_step, config)
        print(f"{config.name:>8} {'baseline':>9} {base[0]:>8.3f} {base[1]:>8.3f} {base[2]:>8.4f}")
        speedup = base[2] / ours[2]
        print(
            f"{config.name:>8} {'qlambda':>9} {ours[0]:>8.3f} {ours[1]:>8.3f} {ours[2]:>8.4f}"
            f" {speedup:>7.1f}x"
        )


if __name__ == "__main__":
    main()

"""Size and cost of the messages that cross processes for every quantum task.

An 8-node MaxCut QAOA energy evaluation is one ``QuantumRequest`` from the worker to the
QPU executor and one ``ExecutionOutcome`` back. Baseline, measured in the same run: the
bare payload a hand-written protocol would send (the circuit, the observable and the
parameter values as a tuple; the expectation values as a numpy array).
Each figure is the median over the repetitions of one pickle.dumps + pickle.loads.

Run: .venv/bin/python benchmarks/bench_quantum_request.py
"""

from __future__ import annotations

import pickle
import statistics
import time
from collections.abc import Callable

import networkx as nx
import numpy as np
from qiskit.circuit.library import qaoa_ansatz
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime

REPEATS = 200


def round_trip(payload: object) -> tuple[int, float]:
    """Pickled bytes, and median seconds for dumps + loads."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        pickle.loads(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        times.append(time.perf_counter() - started)
    return len(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)), statistics.median(times)


def timed(make: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        make()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    graph = nx.random_regular_graph(3, 8, seed=1)
    cost = SparsePauliOp.from_sparse_list(
        [("ZZ", [i, j], 1.0) for i, j in graph.edges], num_qubits=8
    )
    circuit = qaoa_ansatz(cost, reps=1)
    values = np.array([0.4, 0.8])
    request = make_request("estimator", [(circuit, cost, values)])
    outcome = BackendRuntime(BackendConfig(name="aer", kind="aer")).execute(request)

    rows = [
        ("request: bare (circuit, observable, values)", round_trip((circuit, cost, values))),
        ("request: QuantumRequest", round_trip(request)),
        ("outcome: bare evs array", round_trip(outcome.result[0].data.evs)),
        ("outcome: ExecutionOutcome", round_trip(outcome)),
    ]
    print("8-node MaxCut QAOA (p=1), estimator, one pickle round trip")
    print(f"{'message':<45} {'bytes':>7} {'dumps+loads ms':>15}")
    for name, (size, seconds) in rows:
        print(f"{name:<45} {size:>7} {seconds * 1e3:>15.3f}")
    coerce = timed(lambda: make_request("estimator", [(circuit, cost, values)]))
    print(f"{'make_request (PUB coercion in the worker)':<45} {'':>7} {coerce * 1e3:>15.3f}")


if __name__ == "__main__":
    main()

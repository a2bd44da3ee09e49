"""Size and cost of the messages that cross processes for every quantum task.

An 8-node MaxCut QAOA energy evaluation is one ``QuantumRequest`` from the worker to the
QPU executor and one ``PrimitiveResult`` back, both as data (``qlambda.quantum.codec``):
sealed in one process, opened in the other, as a variational loop repeats them (the
executor's circuit and observable caches warm). Baseline, measured in the same run: the
bare payload a hand-written pickle protocol would send (the circuit, the observable and
the parameter values as a tuple; the expectation values as a numpy array), one
pickle.dumps + pickle.loads. Each figure is the median over the repetitions.

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

from qlambda.quantum.codec import RequestLimits, decode_result, encode_result
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.envelope import seal
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

    limits = RequestLimits(max_qubits=8)
    sealed = seal(request)
    sealed.open(limits)  # the executor has seen this circuit and observable before
    result = outcome.result
    blob = encode_result(result)
    rows = [
        ("request, bare tuple pickled", round_trip((circuit, cost, values))),
        ("request as data: seal", (len(sealed.payload), timed(lambda: seal(request)))),
        (
            "request as data: open (executor)",
            (len(sealed.payload), timed(lambda: sealed.open(limits))),
        ),
        ("result, bare evs array pickled", round_trip(result[0].data.evs)),
        (
            "result as data: encode (executor)",
            (len(blob), timed(lambda: encode_result(result))),
        ),
        ("result as data: decode (worker)", (len(blob), timed(lambda: decode_result(blob)))),
    ]
    print("8-node MaxCut QAOA (p=1), estimator: what crosses per call")
    print(f"{'message':<45} {'bytes':>7} {'ms':>8}")
    for name, (size, seconds) in rows:
        print(f"{name:<45} {size:>7} {seconds * 1e3:>8.3f}")
    coerce = timed(lambda: make_request("estimator", [(circuit, cost, values)]))
    print(f"{'make_request (PUB coercion in the worker)':<45} {'':>7} {coerce * 1e3:>8.3f}")


if __name__ == "__main__":
    main()

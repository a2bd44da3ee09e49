"""Per-iteration overhead of a variational loop: parametric compilation vs re-transpiling.

Workload: a 20-qubit EfficientSU2 ansatz (reps=2, 120 parameters) for FakeTorino (133
qubits), new parameter values every iteration, in one run, through the executor's own
path (coerce the PUB, make it runnable on the device, bind the values):
- re-transpile: a transpile cache that keeps nothing, so the circuit is transpiled for
  the device every iteration (a loop without parametric compilation);
- parametric: the runtime's cache: the parameterised circuit is transpiled once per
  (backend, calibration snapshot) and only bound per iteration.
The noisy simulation that follows is the same for both and is not included: a 20-qubit
noisy trajectory simulation costs tens of seconds here, whatever was compiled.
Medians over ITERATIONS iterations, the variants taking turns; the parametric path's
first iteration (its one compilation) is shown apart.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_parametric_compilation.py
"""

from __future__ import annotations

import os
import pickle
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime, transpile_placing_readout
from qlambda.quantum.transpilation import TranspileCache, device_pass_manager, is_isa

WIDTH = 20
ITERATIONS = 9


def main() -> None:
    ansatz = efficient_su2(WIDTH, reps=2)
    observable = SparsePauliOp.from_sparse_list(
        [("ZZ", [i, i + 1], 1.0) for i in range(WIDTH - 1)], num_qubits=WIDTH
    )
    config = BackendConfig(name="torino", kind="fake", device="FakeTorino", seed=1)
    runtime = BackendRuntime(config)
    target = runtime.device.target
    pass_manager = device_pass_manager(runtime.device, config.optimization_level, seed=1)
    forgetful = TranspileCache(
        needs_transpile=lambda circuit: not is_isa(circuit, target),
        transpile=lambda circuit: transpile_placing_readout(pass_manager, circuit),
        capacity=0,
    )
    rng = np.random.default_rng(7)
    points = [rng.uniform(-np.pi, np.pi, ansatz.num_parameters) for _ in range(ITERATIONS + 1)]

    def iteration(cache: TranspileCache, values: np.ndarray) -> float:
        # the request as the executor receives it: coerced by the caller, over the wire
        request = pickle.loads(
            pickle.dumps(make_request("estimator", [(ansatz, observable, values)]))
        )
        started = time.perf_counter()
        pub = cache.prepare_pub(request.pubs[0])
        pub.parameter_values.bind_all(pub.circuit)
        return time.perf_counter() - started

    first = iteration(runtime.transpiler, points[0])
    samples: dict[str, list[float]] = {"re-transpile every iteration": [], "parametric": []}
    for values in points[1:]:
        samples["re-transpile every iteration"].append(iteration(forgetful, values))
        samples["parametric"].append(iteration(runtime.transpiler, values))
    print(
        f"EfficientSU2({WIDTH}, reps=2), {ansatz.num_parameters} parameters, for FakeTorino; "
        f"median of {ITERATIONS} iterations"
    )
    print(f"{'variant':34} {'overhead per iteration (s)':>27}")
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, seconds in medians.items():
        print(f"{name:34} {seconds:27.4f}")
    print(f"{'parametric, first iteration':34} {first:27.4f}")
    ratio = medians["re-transpile every iteration"] / medians["parametric"]
    print(f"re-transpile / parametric = {ratio:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()

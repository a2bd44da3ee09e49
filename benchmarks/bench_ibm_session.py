"""The platform's overhead on a session-mode VQE loop on kind ``ibm``, per call.

Workload: a 4-qubit EfficientSU2 ansatz (reps=1, 16 parameters) and a 3-term ZZ
Hamiltonian on FakeManila (qiskit-ibm-runtime's local testing mode), ITERATIONS
estimator calls with new parameter values, each in a Runtime ``Session``:

- SDK direct: the loop as written for ``qiskit_ibm_runtime`` (transpile once for the
  backend, ``Session`` + ``EstimatorV2(mode=session)``), in this process;
- platform: the same loop inside a function (``ctx.session("manila")`` +
  ``ctx.estimator()``): each call crosses to the control plane, is queued and
  dispatched to the backend's executor, which runs the same SDK session there.

Both call the SDK's own local estimator (Aer, noisy), which dominates; the difference
is the platform's overhead per call. The median of the calls after the first (the
first pays transpilation and session set-up) is shown, and the first apart.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_ibm_session.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import qlambda

ITERATIONS = 20
WIDTH = 4
BACKEND = {"name": "manila", "kind": "ibm", "channel": "local", "device": "fake_manila", "seed": 1}


def problem() -> tuple[object, object, list[np.ndarray]]:
    from qiskit.circuit.library import efficient_su2
    from qiskit.quantum_info import SparsePauliOp

    ansatz = efficient_su2(WIDTH, reps=1)
    hamiltonian = SparsePauliOp.from_sparse_list(
        [("ZZ", [i, i + 1], 1.0) for i in range(WIDTH - 1)], num_qubits=WIDTH
    )
    rng = np.random.default_rng(5)
    points = [rng.uniform(-np.pi, np.pi, ansatz.num_parameters) for _ in range(ITERATIONS)]
    return ansatz, hamiltonian, points


def direct() -> list[float]:
    """The loop calling qiskit_ibm_runtime itself (local testing mode)."""
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime import EstimatorV2, Session
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    ansatz, hamiltonian, points = problem()
    backend = FakeManilaV2()
    times = []
    started = time.perf_counter()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ansatz)
    observable = hamiltonian.apply_layout(isa.layout)
    with Session(backend=backend) as session:
        estimator = EstimatorV2(mode=session)
        for values in points:
            estimator.run([(isa, observable, values)]).result()
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
    return times


def vqe(ctx: object) -> list[float]:
    """The same loop as a function on the platform, in a session."""
    ansatz, hamiltonian, points = problem()
    times = []
    started = time.perf_counter()
    with ctx.session("manila"):  # type: ignore[attr-defined]
        estimator = ctx.estimator("manila")  # type: ignore[attr-defined]
        for values in points:
            estimator.run([(ansatz, hamiltonian, values)]).result()
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
    return times


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(f"SDK direct: {ITERATIONS} calls ...", flush=True)
        sdk = direct()
    with (
        tempfile.TemporaryDirectory() as data,
        qlambda.Client(data_dir=data, workers=1, backends=[BACKEND]) as client,
    ):
        print("platform: starting (executor opens the device) ...", flush=True)
        client.wait_ready(180)
        print(f"platform: {ITERATIONS} calls ...", flush=True)
        platform = client.run(vqe).result(timeout=900)
    rows = [("SDK direct (local mode)", sdk), ("platform, ctx.session", platform)]
    base = statistics.median(sdk[1:])
    print()
    print(f"{'loop':<26}{'first call ms':>15}{'median ms':>12}{'overhead ms':>14}")
    print("-" * 67)
    for label, times in rows:
        median = statistics.median(times[1:])
        print(
            f"{label:<26}{times[0] * 1e3:>15.1f}{median * 1e3:>12.1f}{(median - base) * 1e3:>14.1f}"
        )
    print(f"\n{WIDTH}-qubit EfficientSU2, {ITERATIONS} estimator calls in a session on")
    print("FakeManila (local testing mode); medians exclude the first call.")


if __name__ == "__main__":
    main()

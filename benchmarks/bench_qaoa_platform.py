"""A QAOA MaxCut job through the platform against the same loop run bare.

Bare: ``solve_maxcut`` in this process on Aer's EstimatorV2 and SamplerV2. Platform:
the same function submitted as a job (``qaoa_maxcut.run``), each estimator call a
quantum task through the dispatcher to a QPU executor holding the same Aer
simulator, timed from submission to result. Same seeds, same iterations; runs
alternate so load hits both alike. Target: at most 1.2x the bare wall time.

The platform's ideal simulator estimates with :class:`CompiledEstimator` (the circuit
instrumented once, parameters bound per call), which Aer's EstimatorV2 does not do. A
third run, the bare loop on that estimator in this process, separates what the platform
itself costs (process hops, queueing, status and checkpoints) from what it saves.

    .venv/bin/python benchmarks/bench_qaoa_platform.py [--nodes 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the platform's workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2

import qlambda
from qlambda.apps import qaoa_maxcut
from qlambda.quantum.compiled_estimator import CompiledEstimator


def run_bare_compiled(nodes: int, reps: int, maxiter: int, seed: int) -> qaoa_maxcut.MaxCutResult:
    """The bare loop on the estimator the platform's ideal simulator uses."""
    graph = qaoa_maxcut.random_regular_graph(nodes, 3, seed)
    return qaoa_maxcut.solve_maxcut(
        graph,
        CompiledEstimator(AerSimulator()),
        SamplerV2(seed=seed),
        reps=reps,
        maxiter=maxiter,
        seed=seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--maxiter", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    problem = {"nodes": args.nodes, "reps": args.reps, "maxiter": args.maxiter, "seed": 0}

    with tempfile.TemporaryDirectory() as data, qlambda.Client(data_dir=data) as client:
        client.wait_ready()
        qaoa_maxcut.run_bare(**problem)  # warm-up: imports, Aer's first call
        served_problem = {**problem, "precision": 0.0}  # exact, as Aer's EstimatorV2 by default
        client.run(qaoa_maxcut.run, **served_problem).result()
        run_bare_compiled(**problem)
        bare, compiled, platform, iterations = [], [], [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = qaoa_maxcut.run_bare(**problem)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            same = run_bare_compiled(**problem)
            compiled.append(time.perf_counter() - start)
            assert same.energy == result.energy, "the compiled estimator must give Aer's values"
            start = time.perf_counter()
            served = client.run(qaoa_maxcut.run, **served_problem).result()
            platform.append(time.perf_counter() - start)
            iterations = (result.iterations, served["iterations"])
            assert served["energy"] == result.energy, "the two runs must be the same loop"

    b, c, p = statistics.median(bare), statistics.median(compiled), statistics.median(platform)
    print(f"\nQAOA MaxCut, {args.nodes} nodes, reps={args.reps}, COBYLA (median of {args.repeats})")
    print(f"{'run':34s} {'wall s':>8s} {'estimator calls':>16s} {'per call ms':>12s}")
    calls_bare, calls_platform = iterations
    per_call = 1e3 * b / calls_bare
    print(f"{'bare loop, one process (Aer)':34s} {b:8.3f} {calls_bare:16d} {per_call:12.2f}")
    print(
        f"{'bare loop, CompiledEstimator':34s} {c:8.3f} {calls_bare:16d} "
        f"{1e3 * c / calls_bare:12.2f}"
    )
    print(
        f"{'qlambda job (submit to result)':34s} {p:8.3f} {calls_platform:16d} "
        f"{1e3 * p / calls_platform:12.2f}"
    )
    print(f"\nratio platform / bare: {p / b:.2f} (target: at most 1.2)")
    print(
        f"platform / bare loop on the same compiled estimator: {p / c:.2f} "
        f"(the platform's own cost: {1e3 * (p - c) / calls_platform:.2f} ms per call)"
    )


if __name__ == "__main__":
    main()

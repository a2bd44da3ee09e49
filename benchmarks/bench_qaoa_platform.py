"""A QAOA MaxCut job through the platform against the same loop run bare.

Bare: ``solve_maxcut`` in this process on Aer's EstimatorV2 and SamplerV2. Platform:
the same function submitted as a job (``qaoa_maxcut.run``), each estimator call a
quantum task through the dispatcher to a QPU executor holding the same Aer
simulator, timed from submission to result. Same seeds; runs alternate so load hits
both alike. Target: at most 1.2x the bare loop's time per estimator call.

The platform's ideal simulator estimates with :class:`CompiledEstimator` (the circuit
instrumented once, parameters bound per call; a circuit as small as this one evolved in
numpy, :mod:`qlambda.quantum.small_state`), which Aer's EstimatorV2 does not do. A
third run, the bare loop on that estimator in this process, separates what the platform
itself costs (process hops, queueing, status and checkpoints) from what it saves: the
platform's extra milliseconds per call against it (target: at most 1 ms, 1.2x).

Numpy's exact values agree with Aer's to about 1e-12, not bit for bit, and COBYLA
amplifies such differences into another path to the same minimum: the loops on
CompiledEstimator may take another number of estimator calls than the loop on Aer's
EstimatorV2. Each row's per-call figure divides by its own loop's calls (printed), and
the energies found must agree to :data:`ENERGY_TOLERANCE`.

The platform runs twice: as the embedded client does (jobs in the server's own
processes) and sandboxed as ``qlambda serve`` runs a shared server (each tenant's
jobs in a bubblewrap sandbox of its own, nothing they send unpickled). ``--sandbox``
picks one; the sandboxed run needs bubblewrap.

    .venv/bin/python benchmarks/bench_qaoa_platform.py [--nodes 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the platform's workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2

import qlambda
from qlambda.apps import qaoa_maxcut
from qlambda.quantum.compiled_estimator import CompiledEstimator

MODES = {"off": None, "on": {"mode": "bwrap"}}  # the [sandbox] table of each run
ENERGY_TOLERANCE = 1e-6
"""How far the three loops' energies may be apart (COBYLA stops within about 1e-8)."""


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


@dataclass
class Timings:
    sandbox: str
    bare: float  # median seconds, Aer's EstimatorV2 in this process
    compiled: float  # median seconds, CompiledEstimator in this process
    platform: float  # median seconds, the job from submission to result
    calls: tuple[int, int, int]  # estimator calls of one run of each loop (same order)


def measure(sandbox: str, problem: dict[str, Any], repeats: int) -> Timings:
    """Alternating runs of the three loops on one platform, medians of ``repeats``."""
    config = {} if MODES[sandbox] is None else {"sandbox": MODES[sandbox]}
    with (
        tempfile.TemporaryDirectory() as data,
        qlambda.Client(data_dir=data, config=config) as client,
    ):
        client.wait_ready()
        qaoa_maxcut.run_bare(**problem)  # warm-up: imports, Aer's first call
        served_problem = {**problem, "precision": 0.0}  # exact, as Aer's EstimatorV2 by default
        client.run(qaoa_maxcut.run, **served_problem).result()  # and the tenant's sandbox
        run_bare_compiled(**problem)
        bare, compiled, platform = [], [], []
        calls = (0, 0, 0)
        for number in range(repeats):
            print(f"  sandbox {sandbox}: run {number + 1} of {repeats}", end="\r", flush=True)
            start = time.perf_counter()
            result = qaoa_maxcut.run_bare(**problem)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            same = run_bare_compiled(**problem)
            compiled.append(time.perf_counter() - start)
            start = time.perf_counter()
            served = client.run(qaoa_maxcut.run, **served_problem).result()
            platform.append(time.perf_counter() - start)
            for energy in (same.energy, served["energy"]):
                assert abs(energy - result.energy) <= ENERGY_TOLERANCE, (
                    f"the loops must find the same minimum: {energy} against {result.energy}"
                )
            calls = (result.iterations, same.iterations, served["iterations"])
    print(" " * 40, end="\r")
    return Timings(
        sandbox,
        statistics.median(bare),
        statistics.median(compiled),
        statistics.median(platform),
        calls,
    )


def report(runs: list[Timings], args: argparse.Namespace) -> None:
    print(f"\nQAOA MaxCut, {args.nodes} nodes, reps={args.reps}, COBYLA (median of {args.repeats})")
    print(f"{'run':40s} {'calls':>6s} {'wall s':>8s} {'per call ms':>12s}")
    for t in runs:
        print(f"sandbox {t.sandbox}:")
        for label, seconds, calls in zip(
            (
                "bare loop, one process (Aer)",
                "bare loop, CompiledEstimator",
                "qlambda job (submit to result)",
            ),
            (t.bare, t.compiled, t.platform),
            t.calls,
            strict=True,
        ):
            print(f"  {label:38s} {calls:6d} {seconds:8.3f} {1e3 * seconds / calls:12.2f}")
    head = ("ratio (per call)", "sandbox", "ratio", "extra ms/call", "target")
    print(f"\n{head[0]:30s} {head[1]:>8s} {head[2]:>7s} {head[3]:>14s} {head[4]:>12s}")
    for t in runs:
        ratio = (t.platform / t.calls[2]) / (t.bare / t.calls[0])
        name = "platform / bare loop (Aer)"
        print(f"{name:30s} {t.sandbox:>8s} {ratio:7.2f} {'':>14s} {'<= 1.2':>12s}")
    for t in runs:
        served, compiled = t.platform / t.calls[2], t.compiled / t.calls[1]
        print(
            f"{'platform / compiled bare loop':30s} {t.sandbox:>8s} {served / compiled:7.2f} "
            f"{1e3 * (served - compiled):14.2f} {'<= 1.2, 1 ms':>12s}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--maxiter", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--sandbox",
        choices=("both", "on", "off"),
        default="both",
        help="run the platform sandboxed (as a shared server), not, or both (default)",
    )
    args = parser.parse_args()
    problem = {"nodes": args.nodes, "reps": args.reps, "maxiter": args.maxiter, "seed": 0}
    modes = ["off", "on"] if args.sandbox == "both" else [args.sandbox]
    report([measure(mode, problem, args.repeats) for mode in modes], args)


if __name__ == "__main__":
    main()

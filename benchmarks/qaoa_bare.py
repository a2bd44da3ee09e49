"""The QAOA MaxCut loop run bare, in this process, on Aer's own primitives.

This is the baseline the platform is compared against: the same
``solve_maxcut`` loop, with no platform in between. It prints two tables:

1. the reference case (8 nodes, p=1 by default): whole-loop wall time (median of
   ``--repeats`` runs of the same seeded problem), estimator calls, time per
   iteration inside the loop, and the time of one estimator call on its own;
2. what each problem size costs (``--sizes``, several random graphs each), to
   size a demo workload.

    .venv/bin/python benchmarks/qaoa_bare.py [--repeats 5] [--sizes 4 6 8 10 12]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=8, help="reference problem size")
    parser.add_argument("--ansatz", default="qaoa", help="qaoa or efficient_su2")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--maxiter", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement")
    parser.add_argument("--sizes", type=int, nargs="*", default=[4, 6, 8, 10, 12])
    parser.add_argument("--graphs", type=int, default=5, help="random graphs per size")
    args = parser.parse_args()

    # Platform workers run single-threaded; the baseline does the same.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from qiskit_aer.primitives import EstimatorV2, SamplerV2

    from qlambda.apps.maxcut_problem import maxcut_hamiltonian, random_regular_graph
    from qlambda.apps.qaoa_maxcut import build_ansatz, solve_maxcut

    def timed_solve(nodes: int, seed: int) -> tuple[float, list[float], object]:
        graph = random_regular_graph(nodes, 3, seed)
        stamps: list[float] = []
        start = time.perf_counter()
        result = solve_maxcut(
            graph,
            EstimatorV2(),
            SamplerV2(seed=seed),
            ansatz=args.ansatz,
            reps=args.reps,
            maxiter=args.maxiter,
            seed=seed,
            on_iteration=lambda _progress: stamps.append(time.perf_counter()),
        )
        elapsed = time.perf_counter() - start
        per_iteration = [b - a for a, b in itertools.pairwise(stamps)]
        return elapsed, per_iteration, result

    def estimator_call_seconds(nodes: int, calls: int = 30) -> float:
        graph = random_regular_graph(nodes, 3, seed=0)
        circuit = build_ansatz(args.ansatz, graph, args.reps)
        hamiltonian = maxcut_hamiltonian(graph)
        estimator = EstimatorV2()
        values = [[0.1 * (i + k) for k in range(circuit.num_parameters)] for i in range(calls)]
        seconds = []
        for parameters in values:
            start = time.perf_counter()
            estimator.run([(circuit, hamiltonian, parameters)]).result()
            seconds.append(time.perf_counter() - start)
        return statistics.median(seconds)

    timed_solve(args.nodes, seed=0)  # warm-up: imports, Aer's first-call setup

    loops, gaps, result = [], [], None
    for _ in range(args.repeats):
        elapsed, per_iteration, result = timed_solve(args.nodes, seed=0)
        loops.append(elapsed)
        gaps.extend(per_iteration)
    print(
        f"\nBare loop: {args.ansatz} reps={args.reps}, {args.nodes} nodes, COBYLA "
        f"maxiter={args.maxiter}, Aer EstimatorV2 + SamplerV2 ({args.repeats} runs, seed 0)"
    )
    print(
        f"{'loop s (median)':>16} {'min s':>7} {'max s':>7} {'estimator calls':>16} "
        f"{'iteration ms':>13} {'estimator call ms':>18} {'ratio':>6} {'cut/opt':>8}"
    )
    print(
        f"{statistics.median(loops):16.3f} {min(loops):7.3f} {max(loops):7.3f} "
        f"{result.iterations:16d} {1e3 * statistics.median(gaps):13.2f} "
        f"{1e3 * estimator_call_seconds(args.nodes):18.2f} "
        f"{result.approximation_ratio:6.3f} {result.best_cut:>4}/{result.optimum:<3}"
    )

    print(
        f"\nCost per size: {args.ansatz} reps={args.reps}, {args.graphs} random 3-regular "
        f"graphs each (seeds 0..{args.graphs - 1})"
    )
    print(
        f"{'nodes':>5} {'iterations (mean)':>18} {'min':>5} {'max':>5} {'loop s (median)':>16} "
        f"{'max s':>7} {'estimator call ms':>18} {'ratio (mean)':>13} {'cut = opt':>10}"
    )
    for nodes in args.sizes:
        runs = [timed_solve(nodes, seed) for seed in range(args.graphs)]
        iterations = [r.iterations for _, _, r in runs]
        seconds = [elapsed for elapsed, _, _ in runs]
        ratios = [r.approximation_ratio for _, _, r in runs]
        optimal = sum(r.best_cut == r.optimum for _, _, r in runs)
        print(
            f"{nodes:5d} {statistics.mean(iterations):18.1f} {min(iterations):5d} "
            f"{max(iterations):5d} {statistics.median(seconds):16.3f} {max(seconds):7.3f} "
            f"{1e3 * estimator_call_seconds(nodes):18.2f} {statistics.mean(ratios):13.3f} "
            f"{optimal:>6}/{len(runs):<3}"
        )


if __name__ == "__main__":
    main()

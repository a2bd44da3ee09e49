"""A typical capacity plan: 288 configurations on the published traces (target: <= 60 s).

The workload is the Small scenario's (4..10 qubits, priorities 1, 2, 4, QPU times at
IBM's estimates) at 6 jobs/h; the objectives p95 < 2 h and at most 1 % dropped at 95 %
confidence; prices 0.5 per worker-hour and 96 per QPU-hour. The baseline measured in
the same run is the naive design: every configuration simulated for a fixed number of
replications (--fixed-reps, 20), without the adaptive refinement. Both must pick the
same configuration. Usage: python benchmarks/bench_plan.py [--jobs N] [--fixed-reps N]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qlambda.sim import preset
from qlambda.sim.plan import PlanResult, Prices, SearchSpace, parse_slo, plan

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--fixed-reps", type=int, default=20)
    args = parser.parse_args()
    base = preset("small").replace(
        interarrival=600.0, duration=2 * 86400.0, warmup=12 * 3600.0, policies="fifo"
    )
    space = SearchSpace()  # C 1..4, Q 1..8, fifo/random/priority, C_max 40, Q_max 10/20/none
    objectives = [parse_slo("p95<2h")]
    prices = Prices(worker_hour=0.5, qpu_hour=96.0)
    plan(
        base,
        SearchSpace(C=(1,), Q=(4,), policies=("fifo",)),
        objectives,
        0.01,
        prices,
        min_reps=2,
        max_reps=2,
        jobs=1,
    )  # compile the kernel once, outside the timings
    runs: list[tuple[str, PlanResult, float]] = []
    for label, low, high in (
        (f"fixed {args.fixed_reps} reps (baseline)", args.fixed_reps, args.fixed_reps),
        ("adaptive 5..40 reps", 5, 40),
    ):
        started = time.perf_counter()
        result = plan(
            base, space, objectives, 0.01, prices, min_reps=low, max_reps=high, jobs=args.jobs
        )
        runs.append((label, result, time.perf_counter() - started))
    print(
        f"plan: {len(space.candidates())} configurations, 2 simulated days (12 h warm-up), "
        f"{args.jobs} processes"
    )
    print(f"{'design':<28} {'reps':>6} {'wall s':>8} {'s/config':>9}  cheapest (cost/h)")
    for label, result, wall in runs:
        best = result.best
        chosen = (
            "none"
            if best is None
            else (
                f"{best.candidate.policy} C={best.candidate.C} Q={best.candidate.Q} "
                f"Q_max={best.candidate.q_max} ({best.mean_cost:g})"
            )
        )
        print(
            f"{label:<28} {result.replications:>6} {wall:>8.1f} "
            f"{wall / len(result.evaluations):>9.3f}  {chosen}"
        )
    baseline, adaptive = runs[0][1].best, runs[1][1].best
    same = (
        baseline is not None
        and adaptive is not None
        and (baseline.candidate.C, baseline.candidate.Q)
        == (adaptive.candidate.C, adaptive.candidate.Q)
        and baseline.mean_cost == adaptive.mean_cost
    )
    wall = runs[1][2]
    print(
        f"adaptive search: {wall:.1f} s, {runs[0][2] / wall:.1f}x faster than the baseline, "
        f"{'same' if same else 'DIFFERENT'} cost and C, Q;\n"
        f"{'meets' if wall <= TARGET_SECONDS else 'MISSES'} the target of "
        f"{TARGET_SECONDS:.0f} s (machine load now: {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()

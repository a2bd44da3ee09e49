"""How far the online policies are from the clairvoyant optimum (eqs. 1-3 of [1]).

Short recorded-like stretches: 5 jobs of the demo's kind (a 2 s preparation, 1..2
iterations of a 0.05 s classical step and a QPU task of 1 s on average, a 0.5 s
post-processing) arriving as a Poisson stream on Q = 2 QPUs, at three loads, 6
stretches each. The optimum is solved exactly (HiGHS; the status column counts the
stretches proven optimal); the baseline measured in the same run is FIFO, the
platform's default policy. Gap: extra total delay over the optimum, mean over the
stretches. Usage: python benchmarks/bench_offline_gap.py [--stretches N] [--jobs N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qlambda.sim.offline import Instance, gaps
from qlambda.sim.workload import Streams, SyntheticWorkload, draw_workload

POLICIES = ("fifo", "lifo", "random", "weighted", "priority")
WORKLOAD = SyntheticWorkload.parse(
    "pre=const:2,classical=exp:0.05,quantum=exp:1,post=const:0.5,iterations=uniform:1:2"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stretches", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    print(
        f"{args.jobs} jobs a stretch on Q=2 QPUs and C={args.jobs} workers (never shared), "
        f"{args.stretches} stretches a load;\ngap to the optimum in %, mean (max); "
        "proven: stretches solved to optimality"
    )
    print(
        f"{'gap s':>5} {'opt s/job':>9} {'proven':>6} {'solve s':>7} "
        + " ".join(f"{p:>9}" for p in POLICIES)
    )
    for gap in (3.0, 1.5, 0.75):  # mean seconds between arrivals
        found: dict[str, list[float]] = {p: [] for p in POLICIES}
        optimum, proven, solving = [], 0, 0.0
        for seed in range(args.stretches):
            workload = draw_workload(
                Streams.from_seed(seed),
                interarrival=gap,
                horizon=gap * args.jobs * 3,
                qubits=(4,),
                priorities=(1.0, 2.0, 4.0),
                synthetic=WORKLOAD,
            )
            instance = Instance.from_workload(workload, 1e9, args.jobs, 2, args.jobs)
            started = time.perf_counter()
            report = gaps(instance, POLICIES, seed, args.time_limit)
            solving += time.perf_counter() - started
            proven += report.optimum.status == "optimal"
            optimum.append(report.optimum.total_delay / instance.jobs)
            for policy in POLICIES:
                found[policy].append(100 * report.gap(policy))
        cells = " ".join(f"{np.mean(found[p]):>4.1f}({np.max(found[p]):>3.0f})" for p in POLICIES)
        print(
            f"{gap:>5.2f} {np.mean(optimum):>9.2f} {proven:>3}/{args.stretches:<2} "
            f"{solving / args.stretches:>7.2f} {cells}"
        )
    print("fifo is the baseline (the platform's default policy)")


if __name__ == "__main__":
    main()

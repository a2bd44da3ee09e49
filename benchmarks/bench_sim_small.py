"""The full ``small`` preset (4 policies x 100 replications x 7 days) on every core.

Target: under 5 minutes with both cores; the aim is under 1 minute. Baselines
measured in the same run: the compiled engine on one core (a few replications,
to show the parallel speed-up) and the readable reference engine on one
replication (events/s of plain Python). Usage:
python benchmarks/bench_sim_small.py [--reps N] [--jobs K]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qlambda.sim import preset, replicate, resolve_source, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100, help="replications per policy")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    args = parser.parse_args()
    scenario = preset("small").replace(reps=args.reps)
    source = resolve_source(scenario)
    point = next(scenario.points())
    replicate(scenario, source, point, 0, "fast")  # load the compiled kernel once

    rows = []
    started = time.perf_counter()
    row, _ = replicate(scenario, source, point, 0, "reference")
    rows.append(("reference, 1 core", 1, row["events"], time.perf_counter() - started))

    single = scenario.replace(reps=min(8, args.reps))
    started = time.perf_counter()
    result = run(single, jobs=1)
    rows.append(
        (
            "fast, 1 core",
            len(result.replications),
            int(result.replications.events.sum()),
            time.perf_counter() - started,
        )
    )

    started = time.perf_counter()
    result = run(scenario, jobs=args.jobs, progress=True)
    wall = time.perf_counter() - started
    events = int(result.replications.events.sum())
    rows.append((f"fast, {args.jobs} processes", len(result.replications), events, wall))

    print(
        f"small preset: {len(scenario.policies)} policies x {args.reps} replications, "
        "7 simulated days each"
    )
    print(f"{'run':<22} {'reps':>5} {'events':>14} {'wall s':>9} {'events/s':>13} {'s/rep':>8}")
    for name, reps, n_events, seconds in rows:
        print(
            f"{name:<22} {reps:>5} {n_events:>14,} {seconds:>9.2f} "
            f"{n_events / seconds:>13,.0f} {seconds / reps:>8.3f}"
        )
    print(
        f"total wall time {wall:.1f} s for {events:,} events "
        f"({events / wall:,.0f} events/s); target < 300 s, aim < 60 s"
    )


if __name__ == "__main__":
    main()

"""Pilot-Quantum's Table I at this machine's scale: SLURM pilots against local and Ray pilots.

For each kind of pilot, one at a time with the machine's cores: the set-up time (from
``create_pilot`` to the first finished no-op task; for a SLURM pilot this includes
``sbatch``, the wait in the queue, the agent's start and its engine's), then the
duration and throughput of N no-op tasks submitted at once and gathered (median of
``--repeat`` runs). The baseline, measured in the same run, is the local pilot: the
same tasks on this machine's warm process pool with no batch system in between.

The SLURM cluster is a real single-node one, started here by scripts/slurm.py
(installed with apt-get if missing) and stopped at the end.

    .venv/bin/python benchmarks/bench_hpc_pilots.py [--cores 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

SIZES = (256, 512, 1024, 2048, 4096, 8192)
KINDS = {
    "local": {"engine": "local"},
    "ray": {"engine": "ray"},
    "slurm": {"engine": "slurm", "walltime": "30m"},
    "slurm+ray": {"engine": "slurm", "walltime": "30m", "agent_engine": "ray"},
}


def noop(x=None):
    return x


def duration(pilot, n: int) -> float:
    start = time.perf_counter()
    futures = [pilot.submit(noop) for _ in range(n)]
    for future in futures:
        future.result()
    return time.perf_counter() - start


def start_slurm():
    path = Path(__file__).resolve().parents[1] / "scripts" / "slurm.py"
    spec = importlib.util.spec_from_file_location("qlambda_script_slurm", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    cluster = module.start()
    os.environ["SLURM_CONF"] = cluster.config
    return cluster


def measure(kind: str, cores: int, sizes: tuple[int, ...], repeat: int) -> dict:
    from qlambda.pilot import PilotDescription, PilotManager

    description = PilotDescription(cores=cores, **KINDS[kind])
    start = time.perf_counter()
    with PilotManager() as manager:
        pilot = manager.create_pilot(description)
        pilot.submit(noop, 1).result(600)
        setup = time.perf_counter() - start
        ready = next((e.data for e in pilot.events() if e.kind == "READY"), {})
        duration(pilot, 256)  # warm: workers started, functions shipped
        times = {}
        for n in sizes:
            times[n] = statistics.median(duration(pilot, n) for _ in range(repeat))
            print(f"  {kind}: {n} tasks in {times[n]:.2f} s", flush=True)
    return {"setup": setup, "ready": ready, "times": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="cores of every pilot")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    options = parser.parse_args()
    sizes = tuple(options.sizes)

    print("starting a single-node SLURM (scripts/slurm.py) ...", flush=True)
    cluster = start_slurm()
    results = {}
    try:
        for kind in options.kinds:
            print(f"{kind} pilot, {options.cores} cores:", flush=True)
            results[kind] = measure(kind, options.cores, sizes, options.repeat)
    finally:
        cluster.stop()

    print("\nSet-up: create_pilot to the first finished task (SLURM: sbatch, queue, agent)")
    print(f"{'pilot':<10} {'set-up s':>9} {'queue s':>8} {'agent s':>8}")
    for kind, result in results.items():
        ready = result["ready"]
        queue = ready.get("queue_seconds")
        agent = ready.get("agent_seconds")
        print(
            f"{kind:<10} {result['setup']:>9.2f} "
            f"{'-' if queue is None else f'{queue:.2f}':>8} "
            f"{'-' if agent is None else f'{agent:.2f}':>8}"
        )
    kinds = list(results)
    print("\nN no-op tasks: seconds under each pilot's name, then tasks/s (baseline: local)")
    header = f"{'N':>5}" + "".join(f" {kind:>9} {'t/s':>7}" for kind in kinds)
    print(header)
    for n in sizes:
        row = f"{n:>5}"
        for kind in kinds:
            seconds = results[kind]["times"][n]
            row += f" {seconds:>9.2f} {n / seconds:>7.0f}"
        print(row)
    if "local" in results:
        print("\nthroughput against the local pilot (same run):")
        for kind in kinds[1:] if kinds[0] == "local" else kinds:
            ratios = [results["local"]["times"][n] / results[kind]["times"][n] for n in sizes]
            print(f"  {kind:<10} {min(ratios):.0%} - {max(ratios):.0%}")
    print("\n(Pilot-Quantum, Table I, on Perlmutter: 37 s set-up; 418 - 298 tasks/s)")


if __name__ == "__main__":
    main()

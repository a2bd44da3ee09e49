"""Is the simulator right? The platform against its twin, at two policies and two loads.

Runs ``qlambda twin``'s comparison at a larger scale than the CLI default (300 jobs
per run; about 2 minutes per run): the embedded platform under a Poisson stream of
VQE-shaped jobs with emulated QPU time (2 QPU slots, 2 workers, Q_max 4), then the
simulator on the same jobs and configuration. The baseline, measured in the same
run, is the plain model of [1] on the same jobs: per-size median QPU times and no
platform overhead. Usage: python benchmarks/bench_twin.py [--jobs N] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from qlambda.twin.compare import ModelChoice, Verdict, verdict
from qlambda.twin.report import TARGET_TEXT, judged
from qlambda.twin.session import run_twin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300, help="jobs per platform run")
    parser.add_argument("--policies", default="fifo,weighted")
    parser.add_argument("--loads", default="0.5,0.8")
    parser.add_argument("--out", type=Path, default=None, help="keep runs and figure here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-twin-"))
    result = run_twin(
        policies=args.policies.split(","),
        loads=[float(x) for x in args.loads.split(",")],
        jobs=args.jobs,
        workers=2,
        qpus=2,
        c_max=None,
        q_max=4,
        time_scale=0.015,
        seed=1,
        reps=20,
        overhead=True,
        out=out,
        echo=lambda text: print(text, file=sys.stderr),
    )
    print(f"platform vs simulator, {args.jobs} jobs per run, C=2 Q=2 Q_max=4")
    print(TARGET_TEXT)
    header = (
        f"{'run':<18}{'':<8}{'median':>7}{'p95':>7}{'drop':>6}{'util':>6}"
        f"{'|med err|':>10}{'|p95 err|':>10}{'KS':>6}"
    )
    print(header)
    print("-" * len(header))
    for measured, found, _ in result.runs:
        plain, _ = verdict(measured, ModelChoice(overhead=False, recorded=False))
        mine = found.table.set_index("group").loc["all"]
        theirs = plain.table.set_index("group").loc["all"]
        rows: list[tuple[str, float, float, float, float, Verdict | None]] = [
            (
                "platform",
                float(mine["median"]),
                float(mine["p95"]),
                found.drop,
                found.utilisation,
                None,
            ),
            (
                "twin",
                float(mine["sim_median"]),
                float(mine["sim_p95"]),
                found.sim_drop,
                found.sim_utilisation,
                judged(found),
            ),
            (
                "plain",
                float(theirs["sim_median"]),
                float(theirs["sim_p95"]),
                plain.sim_drop,
                plain.sim_utilisation,
                judged(plain),
            ),
        ]
        for k, (name, median, p95, drop, util, judge) in enumerate(rows):
            label = measured.config.label if k == 0 else ""
            tail = ""
            if judge is not None:
                tail = (
                    f"{100 * judge.worst_median:>9.1f}%{100 * judge.worst_p95:>9.1f}%"
                    f"{judge.table.ks.max():>6.3f}"
                )
            print(
                f"{label:<18}{name:<8}{median:>7.3f}{p95:>7.3f}{100 * drop:>5.1f}%"
                f"{100 * util:>5.1f}%{tail}"
            )
    print("errors: worst over the groups of 40+ jobs (all, per priority, per size)")
    print(f"figure: {result.figure}")
    print("all runs within target" if result.within_target else "some run is OUTSIDE target")


if __name__ == "__main__":
    main()

"""The twin's comparison as text (at most 80 columns) and as JSON-able data."""

from __future__ import annotations

import math
from typing import Any

from qlambda.twin.compare import (
    DROP_TOLERANCE,
    MEDIAN_TOLERANCE,
    P95_TOLERANCE,
    Verdict,
)
from qlambda.twin.platform_run import Measured

# A p95 needs this many jobs to mean anything: below it, rows are shown but not judged.
MIN_JOBS_FOR_P95 = 40


def judged(verdict: Verdict) -> Verdict:
    """The verdict restricted to the groups whose p95 can be judged (``MIN_JOBS_FOR_P95``)."""
    table = verdict.table
    return Verdict(
        verdict.label,
        table[table.jobs >= MIN_JOBS_FOR_P95],
        verdict.drop,
        verdict.sim_drop,
        verdict.utilisation,
        verdict.sim_utilisation,
    )


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:+.0f}%"


def format_verdict(measured: Measured, verdict: Verdict) -> str:
    """One run: header, one row per group, then drop probability and QPU utilisation."""
    c = measured.config
    cal = measured.calibration
    lines = [
        f"{verdict.label}: C={c.workers} Q={c.qpus} C_max={c.c_max or '-'} "
        f"Q_max={c.q_max or '-'} gap={measured.interarrival:.3f}s S={cal.speed:.3g}/s",
        f"  overhead start {1000 * cal.overhead.start:.1f} ms, iteration "
        f"{1000 * cal.overhead.iteration:.2f} ms, end {1000 * cal.overhead.end:.1f} ms; "
        f"platform run {measured.wall_seconds:.0f} s",
        f"  {'group':<9}{'jobs':>5}  {'median s':>8}{'sim':>7}{'err':>6}  "
        f"{'p95 s':>7}{'sim':>7}{'err':>6}  {'KS':>5}",
    ]
    for row in verdict.table.to_dict(orient="records"):
        mark = "" if row["jobs"] >= MIN_JOBS_FOR_P95 else "*"
        lines.append(
            f"  {row['group']:<9}{row['jobs']:>5}  {row['median']:>8.3f}"
            f"{row['sim_median']:>7.3f}{_percent(row['median_error']):>6}  "
            f"{row['p95']:>7.3f}{row['sim_p95']:>7.3f}{_percent(row['p95_error']):>5}{mark:1}  "
            f"{row['ks']:>5.3f}"
        )
    ok = judged(verdict).within()
    lines.append(
        f"  drop {100 * verdict.drop:.1f}% sim {100 * verdict.sim_drop:.1f}%; QPU utilisation "
        f"{100 * verdict.utilisation:.1f}% sim {100 * verdict.sim_utilisation:.1f}%; "
        + ("within" if ok else "OUTSIDE")
        + " target"
    )
    return "\n".join(lines)


TARGET_TEXT = (
    f"target: medians within {100 * MEDIAN_TOLERANCE:.0f}%, p95 within "
    f"{100 * P95_TOLERANCE:.0f}%, drop probability within "
    f"{100 * DROP_TOLERANCE:.0f} points;\n"
    f"p95 judged in groups of {MIN_JOBS_FOR_P95}+ jobs (* marks the others)"
)


def verdict_data(measured: Measured, verdict: Verdict) -> dict[str, Any]:
    c = measured.config
    return {
        "policy": c.policy,
        "load": c.load,
        "jobs": c.jobs,
        "workers": c.workers,
        "qpus": c.qpus,
        "c_max": c.c_max,
        "q_max": c.q_max,
        "interarrival": measured.interarrival,
        "speed": measured.calibration.speed,
        "overhead": {
            "start": measured.calibration.overhead.start,
            "iteration": measured.calibration.overhead.iteration,
            "end": measured.calibration.overhead.end,
        },
        "drop": verdict.drop,
        "sim_drop": verdict.sim_drop,
        "utilisation": verdict.utilisation,
        "sim_utilisation": verdict.sim_utilisation,
        "within_target": judged(verdict).within(),
        "groups": verdict.table.to_dict(orient="records"),
        "wall_seconds": measured.wall_seconds,
    }

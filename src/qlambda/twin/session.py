"""One twin session: every (policy, load) run on the platform, simulated and compared."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlambda.twin.compare import ModelChoice, Simulated, Verdict, verdict
from qlambda.twin.figure import cdf_figure
from qlambda.twin.platform_run import Measured, TwinConfig, run_platform
from qlambda.twin.report import TARGET_TEXT, format_verdict, judged, verdict_data


@dataclass
class TwinResult:
    runs: list[tuple[Measured, Verdict, Simulated]] = field(default_factory=list)
    figure: Path | None = None

    @property
    def within_target(self) -> bool:
        return all(judged(v).within() for _, v, _ in self.runs)

    def data(self) -> dict[str, Any]:
        return {
            "runs": [verdict_data(m, v) for m, v, _ in self.runs],
            "figure": str(self.figure) if self.figure else None,
            "within_target": self.within_target,
        }


def _progress_line(label: str) -> Callable[[str, int, int], None]:
    def show(what: str, done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r  {label}: {what} {done}/{total}   ")
            if what == "ending" and done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif done == total:
            sys.stderr.write(f"  {label}: {what} {done}/{total}\n")

    return show


def run_twin(
    *,
    policies: Sequence[str],
    loads: Sequence[float],
    jobs: int,
    workers: int,
    qpus: int,
    c_max: int | None,
    q_max: int | None,
    time_scale: float,
    seed: int,
    reps: int,
    overhead: bool,
    out: Path,
    echo: Callable[[str], None] | None = print,
) -> TwinResult:
    """Run, simulate and compare every combination; write runs, traces, figure and
    ``comparison.json`` under ``out``."""
    configs = [
        TwinConfig(
            policy=policy,
            load=load,
            jobs=jobs,
            workers=workers,
            qpus=qpus,
            c_max=c_max,
            q_max=q_max,
            time_scale=time_scale,
            seed=seed,
        )
        for policy in policies
        for load in loads
    ]
    result = TwinResult()
    if echo:
        echo(f"qlambda twin: {len(configs)} platform run(s) of {jobs} jobs")
        echo(f"data: {out}")
        echo(TARGET_TEXT)
    for index, config in enumerate(configs, start=1):
        label = f"[{index}/{len(configs)}] {config.label}"
        directory = out / f"{config.policy}-load{config.load:g}"
        measured = run_platform(config, directory, _progress_line(label))
        found, simulated = verdict(measured, ModelChoice(overhead=overhead), reps)
        result.runs.append((measured, found, simulated))
        if echo:
            echo("")
            echo(format_verdict(measured, found))
    result.figure = cdf_figure([(m, s) for m, _, s in result.runs], out / "twin_cdf.png")
    (out / "comparison.json").write_text(json.dumps(result.data(), indent=2) + "\n")
    if echo:
        echo("")
        echo(f"figure: {result.figure}")
        echo(f"traces (for qlambda simulate replay --traces): {out}/*/traces")
        echo("all runs within target" if result.within_target else "some run is OUTSIDE target")
    return result

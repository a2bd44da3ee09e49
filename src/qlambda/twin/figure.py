"""Measured against simulated job-time CDFs, one panel per platform run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from qlambda.core.arrays import FloatArray
from qlambda.twin.compare import Simulated
from qlambda.twin.platform_run import Measured


def _cdf(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    ordered = np.sort(values)
    return ordered, np.arange(1, len(ordered) + 1) / len(ordered)


def cdf_figure(runs: Sequence[tuple[Measured, Simulated]], path: str | Path) -> Path:
    """Write the figure: per run, the job-time CDF per priority, measured (solid) and
    simulated (dashed)."""
    count = len(runs)
    columns = min(count, 2)
    rows = (count + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 3.8 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (measured, simulated) in enumerate(runs):
        axis = axes[index // columns][index % columns]
        done = measured.jobs[measured.jobs.status == "DONE"]
        for k, priority in enumerate(sorted(done.priority.unique())):
            colour = colours[k % len(colours)]
            mine = done[done.priority == priority].job_time.to_numpy()
            theirs = simulated.jobs[simulated.jobs.priority == priority].job_time.to_numpy()
            axis.step(*_cdf(mine), where="post", color=colour, label=f"priority {priority:g}")
            if len(theirs):
                axis.step(*_cdf(theirs), where="post", color=colour, linestyle="--")
        axis.set_title(measured.config.label)
        axis.set_xlabel("job time (s)")
        axis.set_ylabel("CDF")
        axis.grid(alpha=0.3)
        axis.legend(title="solid: platform, dashed: simulator", fontsize=8, title_fontsize=8)
    for index in range(count, rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out

"""The figures of Cicconetti [1] (Sec. IV, Figs. 10-14) from a run's tables, as PNG files.

Every function takes the tidy tables of ``SimResult`` and a path, so the same
figures come out of the CLI, a script or a notebook. Each figure says what it
shows in its title: the parameters every point shares (C, Q, S, policy, load,
replications), policies by name, and, where a figure shows one load of a
sweep, which one. The ``*_figure`` functions return the matplotlib figure
without saving it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from qlambda.core.arrays import AnyArray

POLICY_NAMES = {
    "fifo": "FIFO",
    "lifo": "LIFO",
    "random": "Random",
    "weighted": "Weighted",
    "priority": "Priority",
}
HOUR = 3600.0
COMPAT_NOTE = "reference_compat (FIFO and drop count as published)"


_Gaps = TypeVar("_Gaps", "pd.Series[float]", AnyArray, float)


def _load(interarrival: _Gaps) -> _Gaps:
    """Jobs per hour offered, the load axis of [1]."""
    return HOUR / interarrival


def _policy_name(policy: str) -> str:
    return POLICY_NAMES.get(policy, policy)


def describe(table: pd.DataFrame, varying: tuple[str, ...] = ()) -> str:
    """What every row of ``table`` shares, e.g. ``C=1, Q=4, S=1e9 ops/s, 100 reps``.

    ``varying`` names the columns a figure puts on an axis, so they are left out.
    """
    parts = []
    for column in ("policy", "C", "Q", "S", "interarrival"):
        if column in varying or column not in table or table[column].nunique() != 1:
            continue
        value = table[column].iloc[0]
        if column == "policy":
            parts.append(f"policy {_policy_name(value)}")
        elif column == "S":
            parts.append(f"S={value:.0e} ops/s".replace("e+0", "e"))
        elif column == "interarrival":
            parts.append(f"load {_load(value):.3g} jobs/h")
        else:
            parts.append(f"{column}={value}")
    if "seed" in table:
        reps = table["seed"].nunique()
        parts.append(f"{reps} rep{'s' * (reps != 1)}")
    if "reference_compat" in table and table["reference_compat"].all():
        parts.append(COMPAT_NOTE)
    return ", ".join(parts)


def _loads_note(table: pd.DataFrame) -> str:
    loads = sorted(_load(table["interarrival"].unique()))
    if len(loads) < 2:
        return ""
    return f"; all {len(loads)} loads pooled ({', '.join(f'{v:.3g}' for v in loads)} jobs/h)"


def _grouped_boxes(ax: Axes, jobs: pd.DataFrame, group: str, label: str) -> None:
    policies = list(dict.fromkeys(jobs["policy"]))
    groups = sorted(jobs[group].unique())
    width = 0.8 / len(groups)
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, len(groups)))
    for g, (value, colour) in enumerate(zip(groups, colours, strict=True)):
        data = [
            jobs.loc[(jobs["policy"] == p) & (jobs[group] == value), "job_time"] / HOUR
            for p in policies
        ]
        positions = np.arange(len(policies)) - 0.4 + width * (g + 0.5)
        boxes = ax.boxplot(
            data,
            positions=positions,
            widths=width * 0.9,
            patch_artist=True,
            flierprops={"markersize": 2, "alpha": 0.4},
            medianprops={"color": "black"},
        )
        for patch in boxes["boxes"]:
            patch.set_facecolor(colour)
        ax.plot([], [], "s", color=colour, label=f"{value:g}")
    ax.set_xticks(np.arange(len(policies)), [_policy_name(p) for p in policies])
    ax.set_xlabel("QPU scheduling policy")
    ax.set_ylabel("job execution time (h)")
    ax.set_yscale("log")  # LIFO's outliers run 10-100x above the boxes
    ax.legend(
        title=label,
        fontsize="small",
        ncols=len(groups),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        frameon=False,
    )
    ax.grid(axis="y", alpha=0.3)


def job_times_figure(jobs: pd.DataFrame, compat: bool = False) -> Figure:
    """Fig. 10: job time per policy, grouped by qubits (left) and by priority (right).

    ``compat``: the run reproduced the published implementation (``reference_compat``).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.0), sharey=True)
    _grouped_boxes(axes[0], jobs, "num_qubits", "qubits")
    _grouped_boxes(axes[1], jobs, "priority", "priority")
    axes[0].set_title("by job size")
    axes[1].set_title("by job priority")
    shared = describe(jobs, ("policy",)) + (f", {COMPAT_NOTE}" if compat else "")
    fig.suptitle(f"Job execution time per policy: {shared}{_loads_note(jobs)}")
    fig.tight_layout()
    return fig


def plot_job_times(jobs: pd.DataFrame, path: str | Path, compat: bool = False) -> Path:
    return _save(job_times_figure(jobs, compat), path)


def drop_heatmap_figure(replications: pd.DataFrame, axis: str) -> Figure:
    """Figs. 11-12: mean drop probability over load (jobs/h) x ``axis`` (``Q`` or ``C``)."""
    table = replications.assign(load=_load(replications["interarrival"]))
    grid = table.pivot_table(index="load", columns=axis, values="drop_probability", aggfunc="mean")
    grid = grid.sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(6.6, 5.0))
    image = ax.imshow(grid.to_numpy(), cmap="magma_r", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{v:.3g}" for v in grid.index])
    ax.set_xlabel({"Q": "Q (QPUs)", "C": "C (classical workers)"}.get(axis, axis))
    ax.set_ylabel("load (jobs/h)")
    for (i, j), value in np.ndenumerate(grid.to_numpy()):
        ax.text(
            j,
            i,
            f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=8,
            color="white" if value > 0.5 else "black",
        )
    fig.colorbar(image, ax=ax, label="drop probability")
    ax.set_title(
        f"Drop probability: {describe(replications, (axis, 'interarrival'))}", fontsize="medium"
    )
    fig.tight_layout()
    return fig


def plot_drop_heatmap(replications: pd.DataFrame, axis: str, path: str | Path) -> Path:
    return _save(drop_heatmap_figure(replications, axis), path)


def average_tasks_figure(replications: pd.DataFrame) -> Figure:
    """Fig. 13: mean active classical (left) and quantum (right) tasks vs C, every load."""
    table = replications.assign(load=_load(replications["interarrival"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, column, title in (
        (axes[0], "avg_classical_tasks", "average classical tasks"),
        (axes[1], "avg_quantum_tasks", "average quantum tasks (waiting or running)"),
    ):
        means = table.pivot_table(index="C", columns="load", values=column, aggfunc="mean")
        for load in sorted(means.columns, reverse=True):
            ax.plot(means.index, means[load], marker="o", label=f"{load:.3g}")
        ax.set_xlabel("C (classical workers)")
        ax.set_ylabel(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[1].legend(title="load (jobs/h)", fontsize="small")
    fig.suptitle(f"Active tasks: {describe(replications, ('C', 'interarrival'))}")
    fig.tight_layout()
    return fig


def plot_average_tasks(replications: pd.DataFrame, path: str | Path) -> Path:
    return _save(average_tasks_figure(replications), path)


def job_time_vs_c_figure(jobs: pd.DataFrame, interarrival: float) -> Figure:
    """Fig. 14: job time vs C at one load of the sweep."""
    chosen = jobs[np.isclose(jobs["interarrival"], interarrival)]
    values = sorted(chosen["C"].unique())
    fig, ax = plt.subplots(figsize=(6.6, 4.6))
    ax.boxplot(
        [chosen.loc[chosen["C"] == c, "job_time"] / HOUR for c in values],
        flierprops={"markersize": 2, "alpha": 0.4},
        medianprops={"color": "black"},
    )
    ax.set_xticks(range(1, len(values) + 1), [str(c) for c in values])
    ax.set_xlabel("C (classical workers)")
    ax.set_ylabel("job execution time (h)")
    ax.set_yscale("log")
    loads = jobs["interarrival"].nunique()
    which = f" (1 of the {loads} loads swept; [1] shows 8 jobs/h)" if loads > 1 else ""
    ax.set_title(
        f"Job execution time at {_load(interarrival):.3g} jobs/h{which}\n"
        f"{describe(chosen, ('C', 'interarrival'))}",
        fontsize="medium",
    )
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_job_time_vs_c(jobs: pd.DataFrame, path: str | Path, interarrival: float) -> Path:
    return _save(job_time_vs_c_figure(jobs, interarrival), path)


# Fig. 14 of [1] shows 8 jobs/h; a sweep without it shows its nearest load.
FIG14_INTERARRIVAL = 450.0


def plot_result(
    replications: pd.DataFrame, jobs: pd.DataFrame, directory: str | Path, prefix: str = ""
) -> list[Path]:
    """Every figure the sweep supports: Fig. 10 for several policies or priorities,
    Fig. 11 for a Q x load sweep, Figs. 12-14 for a C x load sweep."""
    base = Path(directory)
    base.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    loads = replications["interarrival"].nunique()
    if len(jobs) and (jobs["policy"].nunique() > 1 or jobs["priority"].nunique() > 1):
        compat = "reference_compat" in replications and bool(replications.reference_compat.all())
        written.append(plot_job_times(jobs, base / f"{prefix}job_times.png", compat))
    if loads > 1 and replications["Q"].nunique() > 1:
        written.append(plot_drop_heatmap(replications, "Q", base / f"{prefix}drop_load_q.png"))
    if loads > 1 and replications["C"].nunique() > 1:
        written.append(plot_drop_heatmap(replications, "C", base / f"{prefix}drop_load_c.png"))
        written.append(plot_average_tasks(replications, base / f"{prefix}avg_tasks_c.png"))
    if len(jobs) and replications["C"].nunique() > 1:
        gaps = np.array(sorted(replications["interarrival"].unique()))
        nearest = float(gaps[np.argmin(np.abs(gaps - FIG14_INTERARRIVAL))])
        written.append(
            plot_job_time_vs_c(jobs, base / f"{prefix}job_time_vs_c.png", interarrival=nearest)
        )
    return written


def _save(fig: Figure, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target

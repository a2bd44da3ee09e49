"""The paper's figures (Sec. IV, Figs. 10-14) from a run's tables, as PNG files.

Every function takes the tidy tables of ``SimResult`` and a path, so the same
figures come out of the CLI, a script or a notebook.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

POLICY_LABELS = {"fifo": "F", "lifo": "L", "random": "R", "weighted": "W", "priority": "P"}
HOUR = 3600.0


def _load(interarrival: pd.Series | float) -> pd.Series | float:
    """Jobs per hour offered, the paper's load axis."""
    return HOUR / interarrival


def _grouped_boxes(ax, jobs: pd.DataFrame, group: str, label: str) -> None:
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
    ax.set_xticks(np.arange(len(policies)), [POLICY_LABELS.get(p, p) for p in policies])
    ax.set_xlabel("policy")
    ax.set_ylabel("job execution time (h)")
    ax.set_yscale("log")  # LIFO's outliers run 10-100x above the boxes
    ax.legend(title=label, fontsize="small")
    ax.grid(axis="y", alpha=0.3)


def plot_job_times(jobs: pd.DataFrame, path: str | Path) -> Path:
    """Fig. 10: job time per policy, grouped by qubits (left) and by priority (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    _grouped_boxes(axes[0], jobs, "num_qubits", "qubits")
    _grouped_boxes(axes[1], jobs, "priority", "priority")
    fig.tight_layout()
    return _save(fig, path)


def plot_drop_heatmap(replications: pd.DataFrame, axis: str, path: str | Path) -> Path:
    """Figs. 11-12: mean drop probability over load (jobs/h) x ``axis`` (``Q`` or ``C``)."""
    table = replications.assign(load=_load(replications["interarrival"]))
    grid = table.pivot_table(index="load", columns=axis, values="drop_probability", aggfunc="mean")
    grid = grid.sort_index(ascending=False)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    image = ax.imshow(grid.to_numpy(), cmap="magma_r", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{v:.1f}" for v in grid.index])
    ax.set_xlabel(axis)
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
    fig.tight_layout()
    return _save(fig, path)


def plot_average_tasks(replications: pd.DataFrame, path: str | Path) -> Path:
    """Fig. 13: mean active classical (left) and quantum (right) tasks vs C, per load."""
    table = replications.assign(load=_load(replications["interarrival"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, column, title in (
        (axes[0], "avg_classical_tasks", "average classical tasks"),
        (axes[1], "avg_quantum_tasks", "average quantum tasks"),
    ):
        means = table.pivot_table(index="C", columns="load", values=column, aggfunc="mean")
        for load in sorted(means.columns, reverse=True):
            ax.plot(means.index, means[load], marker="o", label=f"{load:.1f}")
        ax.set_xlabel("C")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[1].legend(title="load (jobs/h)", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def plot_job_time_vs_c(jobs: pd.DataFrame, path: str | Path, interarrival: float) -> Path:
    """Fig. 14: job time vs C at one load (the paper uses 8 jobs/h, i.e. 450 s)."""
    chosen = jobs[np.isclose(jobs["interarrival"], interarrival)]
    values = sorted(chosen["C"].unique())
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.boxplot(
        [chosen.loc[chosen["C"] == c, "job_time"] / HOUR for c in values],
        flierprops={"markersize": 2, "alpha": 0.4},
        medianprops={"color": "black"},
    )
    ax.set_xticks(range(1, len(values) + 1), [str(c) for c in values])
    ax.set_xlabel("C")
    ax.set_ylabel("job execution time (h)")
    ax.set_yscale("log")
    ax.set_title(f"load {_load(interarrival):.1f} jobs/h")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


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
        written.append(plot_job_times(jobs, base / f"{prefix}job_times.png"))
    if loads > 1 and replications["Q"].nunique() > 1:
        written.append(plot_drop_heatmap(replications, "Q", base / f"{prefix}drop_load_q.png"))
    if loads > 1 and replications["C"].nunique() > 1:
        written.append(plot_drop_heatmap(replications, "C", base / f"{prefix}drop_load_c.png"))
        written.append(plot_average_tasks(replications, base / f"{prefix}avg_tasks_c.png"))
    if len(jobs) and replications["C"].nunique() > 1:
        gaps = np.array(sorted(replications["interarrival"].unique()))
        nearest = float(gaps[np.argmin(np.abs(gaps - 450.0))])
        written.append(
            plot_job_time_vs_c(jobs, base / f"{prefix}job_time_vs_c.png", interarrival=nearest)
        )
    return written


def _save(fig: plt.Figure, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target

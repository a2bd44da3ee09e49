"""The workload behind the published traces, run on qlambda and compared with them.

Cicconetti [1] recorded its traces from VQE MaxCut jobs on a local Qiskit Serverless:
random 3-regular graphs of 4 to 24 nodes (HamLib's instances), EfficientSU2 with one
repetition, COBYLA capped at 1500 iterations, one estimator call per iteration, then a
final 10⁴-shot sampling; 20 runs per size, one job after another. The traces ship
with qlambda (``qlambda.sim.traces``). This module runs the same workload as
:func:`qlambda.apps.qaoa_maxcut.run` jobs, one after another, exports their traces
with the platform's own export (``qlambda.platform.traces``, as ``qlambda traces
export`` does) and compares the distributions field by field (:func:`compare`):
medians, quartiles and the two-sample Kolmogorov-Smirnov distance.

What the fields are on each side (both ``n_qubits`` = graph nodes):

* ``pre``: published, the job's queueing, initialisation, transpilation and set-up on
  Qiskit Serverless; qlambda, the job's start on its worker to its first quantum task;
* ``cost_time``: the mean classical time of one iteration (published: the loop's time
  minus its circuit evaluations; qlambda: a quantum task's end to the next one's
  submission);
* ``num_iterations``: COBYLA's iterations; qlambda counts quantum tasks, so the final
  sampling adds one;
* ``post``: published, the final sampling itself; on qlambda that sampling is the last
  quantum task, and ``post`` is what follows it. The comparison therefore adds a row
  ``sampling``: the published ``post`` against the QPU time of qlambda's last task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qlambda.apps.maxcut_problem import check_positive_int
from qlambda.core.arrays import FloatArray

__all__ = [
    "FIELDS",
    "FieldComparison",
    "compare",
    "comparison_table",
    "export",
    "parse_sizes",
    "plot_comparison",
    "published_sizes",
    "run_workload",
]

FIELDS = ("pre", "cost_time", "num_iterations", "post")
"""The trace files compared (``<field>.csv``), as the published dataset names them."""
SAMPLING = "sampling"
"""The extra row: published ``post`` against qlambda's final sampling task."""
PUBLISHED_MAXITER = 1500
PUBLISHED_SHOTS = 10_000
UNITS = {"pre": "s", "cost_time": "s", "num_iterations": "", "post": "s", SAMPLING: "s"}

OnJob = Callable[[int, int, int, dict[str, Any]], None]
"""``(jobs done, jobs in all, n_qubits, the job's result)``."""
OnIteration = Callable[[int, str], None]
"""``(job number, its sub-status)`` while a job runs."""


def parse_sizes(text: str) -> list[int]:
    """``"4,6,8"`` or ``"4-24"`` (every even size from 4 to 24) into sizes: 3-regular
    graphs need an even number of nodes, at least 4."""
    sizes: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            low, dash, high = part.partition("-")
            if dash:
                sizes.extend(range(int(low) + int(low) % 2, int(high) + 1, 2))
            else:
                sizes.append(int(part))
    except ValueError:
        sizes = []
    if not sizes or any(size < 4 or size % 2 for size in sizes):
        raise ValueError(
            f"{text!r}: accepted: even sizes of 4 or more, comma-separated (4,6,8) or as a "
            f"range of even sizes (4-24)"
        )
    return sorted(set(sizes))


def run_workload(
    client: Any,
    sizes: Sequence[int],
    runs: int,
    *,
    maxiter: int = PUBLISHED_MAXITER,
    shots: int = PUBLISHED_SHOTS,
    seed: int = 0,
    backend: str | None = None,
    timeout: float | None = None,
    on_job: OnJob | None = None,
    on_status: OnIteration | None = None,
) -> list[dict[str, Any]]:
    """``runs`` VQE MaxCut jobs per size, one after another as in [1] (each job's
    graph and starting angles from ``seed``, ``seed + 1``, ...); their results."""
    from qlambda.apps import qaoa_maxcut
    from qlambda.core.errors import JobError

    check_positive_int("runs", runs)
    check_positive_int("maxiter", maxiter)
    check_positive_int("shots", shots)
    if not sizes:
        raise ValueError("sizes must name at least one problem size")
    results: list[dict[str, Any]] = []
    total = len(sizes) * runs
    for size in sizes:
        for run in range(runs):
            job = client.run(
                qaoa_maxcut.run,
                nodes=size,
                ansatz="efficient_su2",
                reps=1,
                maxiter=maxiter,
                seed=seed + run,
                backend=backend,
                shots=shots,
                checkpoint_every=maxiter + 1,  # none: the published jobs kept no state
            )
            while on_status is not None and not job.wait(0.5):
                on_status(len(results) + 1, job.sub_status() or "")
            try:
                result: dict[str, Any] = job.result(timeout)
            except JobError as exc:
                message = f"job {job.id} ({size} qubits) {exc.status}: {exc.reason}"
                raise RuntimeError(message) from None
            results.append(result)
            if on_job is not None:
                on_job(len(results), total, size, result)
    return results


def export(data_dir: str | Path, directory: str | Path) -> tuple[dict[str, Path], FloatArray]:
    """Export the traces of the jobs in ``data_dir`` into ``directory`` with the
    platform's export (the files of ``qlambda traces export``); also returns, per job,
    ``n_qubits`` and the QPU seconds of its last quantum task (the final sampling) as
    rows of a two-column array."""
    from qlambda.platform.traces import export_traces, job_traces
    from qlambda.store import Store

    store = Store.open(Path(data_dir))
    try:
        written = export_traces(store, directory)
        _, tasks = job_traces(store)
    finally:
        store.close()
    last = tasks.groupby("job_id", sort=False).tail(1)
    sampling = last[["n_qubits", "exec_time"]].to_numpy(dtype=float)
    return written, sampling


@dataclass(frozen=True)
class FieldComparison:
    """One field: quartiles on each side and the two-sample KS distance."""

    field: str
    published: tuple[float, float, float]
    measured: tuple[float, float, float]
    published_count: int
    measured_count: int
    ks: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quartiles(samples: FloatArray) -> tuple[float, float, float]:
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return float(median), float(q1), float(q3)


def _pooled(samples: Mapping[int, FloatArray], sizes: Sequence[int]) -> FloatArray:
    parts = [samples[size] for size in sizes if size in samples]
    return np.concatenate(parts) if parts else np.empty(0)


def published_sizes(published: str | Path | None = None) -> list[int]:
    """The sizes the published (or given) traces have samples for, in every field."""
    from qlambda.sim.traces import default_traces_dir, read_samples

    base = Path(published) if published is not None else default_traces_dir()
    common = set(read_samples(base / "pre.csv"))
    for field in FIELDS[1:]:
        common &= set(read_samples(base / f"{field}.csv"))
    return sorted(common)


def compare(
    measured: str | Path,
    published: str | Path | None = None,
    *,
    sampling: FloatArray | None = None,
) -> tuple[list[FieldComparison], list[int]]:
    """Each field of the traces in ``measured`` against the published ones (or those in
    ``published``), both pooled over the sizes ``measured`` has; ``sampling`` (from
    :func:`export`) adds the published ``post`` against qlambda's final sampling task.
    Returns the comparisons and the sizes compared."""
    from scipy.stats import ks_2samp

    from qlambda.sim.traces import default_traces_dir, read_samples

    base = Path(published) if published is not None else default_traces_dir()
    ours = {field: read_samples(Path(measured) / f"{field}.csv") for field in FIELDS}
    theirs = {field: read_samples(base / f"{field}.csv") for field in FIELDS}
    sizes = sorted(set(ours["pre"]) & set(theirs["pre"]))
    if not sizes:
        raise ValueError(
            f"the measured traces cover sizes {sorted(ours['pre'])} and the published ones "
            f"{sorted(theirs['pre'])}: none in common to compare"
        )
    pairs = [
        (field, _pooled(theirs[field], sizes), _pooled(ours[field], sizes)) for field in FIELDS
    ]
    if sampling is not None and len(sampling):
        mine = sampling[np.isin(sampling[:, 0], sizes), 1]
        pairs.append((SAMPLING, _pooled(theirs["post"], sizes), mine))
    rows = [
        FieldComparison(
            field=field,
            published=_quartiles(pub),
            measured=_quartiles(our),
            published_count=len(pub),
            measured_count=len(our),
            ks=float(ks_2samp(pub, our).statistic),
        )
        for field, pub, our in pairs
        if len(pub) and len(our)
    ]
    return rows, sizes


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:#.3g}"  # 2.00, not 2: three significant digits


def _cell(quartiles: tuple[float, float, float], scale: float = 1.0) -> str:
    median, q1, q3 = (value * scale for value in quartiles)
    return f"{_number(median)} [{_number(q1)}, {_number(q3)}]"


def comparison_table(rows: Sequence[FieldComparison], sizes: Sequence[int]) -> str:
    """The comparison as text of at most 80 columns: median [q1, q3] per side, KS D."""
    lines = [
        f"qlambda against the published traces, n_qubits {', '.join(map(str, sizes))}",
        f"(runs: published {rows[0].published_count}, qlambda {rows[0].measured_count}; "
        "median [q1, q3]; KS: two-sample distance)",
        f"{'field':<15} {'published':>27} {'qlambda':>27} {'KS':>5}",
        "-" * 77,
    ]
    for row in rows:
        unit, scale = ("ms", 1000.0) if row.field == "cost_time" else (UNITS[row.field], 1.0)
        name = f"{row.field} ({unit})" if unit else row.field
        published, measured = _cell(row.published, scale), _cell(row.measured, scale)
        lines.append(f"{name:<15} {published:>27} {measured:>27} {row.ks:>5.2f}")
    return "\n".join(lines)


def plot_comparison(
    measured: str | Path,
    sizes: Sequence[int],
    path: str | Path,
    published: str | Path | None = None,
    *,
    sampling: FloatArray | None = None,
) -> Path:
    """The CDF of each field, published and qlambda side by side, as a PNG; with
    ``sampling`` (from :func:`export`), the ``post`` panel also shows qlambda's final
    sampling tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter

    from qlambda.sim.traces import default_traces_dir, read_samples

    base = Path(published) if published is not None else default_traces_dir()
    fig, axes = plt.subplots(1, len(FIELDS), figsize=(13, 3.4))
    for ax, field in zip(axes, FIELDS, strict=True):
        for label, folder, style in (("published", base, "-"), ("qlambda", measured, "--")):
            values = np.sort(_pooled(read_samples(Path(folder) / f"{field}.csv"), sizes))
            _cdf(ax, values, style, label)
        if field == "post" and sampling is not None:
            tasks = sampling[np.isin(sampling[:, 0], sizes), 1]
            _cdf(ax, np.sort(tasks), ":", "qlambda sampling task")
            ax.legend(loc="lower right", fontsize=7)
        unit = UNITS[field]
        ax.set_xlabel(f"{field} ({unit})" if unit else field)
        if field != "num_iterations":
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(numticks=6))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of jobs")
    axes[0].legend(loc="lower right")
    fig.suptitle(
        f"VQE MaxCut, EfficientSU2, COBYLA: n_qubits {', '.join(map(str, sizes))}", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _cdf(ax: Any, values: FloatArray, style: str, label: str) -> None:
    if len(values):
        ax.step(values, np.arange(1, len(values) + 1) / len(values), style, label=label)

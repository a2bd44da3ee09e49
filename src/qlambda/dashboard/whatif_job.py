"""The what-if run: a simulation of the platform run as one of its own jobs.

The dashboard submits :func:`what_if` with a source (a preset of ``qlambda simulate``,
or the traces this platform recorded, sent as their files' text) and the changes
asked (``KEY=VALUE`` as ``qlambda simulate --set`` takes them). The job returns numbers
only: the summary per sweep point, the job-time quartiles behind the box plots and the
drop probabilities behind the heat maps, which the dashboard draws.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from qlambda.sim.scenario import PRESETS, Scenario

WHAT_IF_FUNCTION = "qlambda.what-if"
RECORDED = "recorded"
SOURCES = (*PRESETS, RECORDED)
HOUR = 3600.0


def scenario_for(
    source: str,
    assignments: list[str],
    traces: dict[str, str] | None = None,
    where: Path | None = None,
) -> Scenario:
    """The scenario a what-if runs; the recorded traces are written into ``where``."""
    from qlambda.core import ConfigurationError
    from qlambda.sim import preset
    from qlambda.sim.replay import replay_scenario

    if source == RECORDED:
        if not traces or where is None:
            raise ConfigurationError("a what-if on the recorded traces needs them")
        for name, text in traces.items():
            if "/" in name or not name.endswith((".csv", ".json")):
                raise ConfigurationError(f"unexpected trace file name {name!r}")
            (where / name).write_text(text)
        return replay_scenario(where, tuple(assignments))
    if source not in PRESETS:
        raise ConfigurationError(f"unknown source {source!r}; accepted: {', '.join(SOURCES)}")
    return preset(source).override(assignments)


def what_if(
    ctx: Any, source: str, assignments: list[str], traces: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run the scenario, a policy at a time (the job's status says which), on one cpu."""
    import pandas as pd

    from qlambda.sim import run

    with tempfile.TemporaryDirectory() as folder:
        scenario = scenario_for(source, assignments, traces, Path(folder))
        summaries, replications, jobs = [], [], []
        for index, policy in enumerate(scenario.policies, 1):
            ctx.status(f"simulating policy {policy} ({index} of {len(scenario.policies)})")
            result = run(scenario.replace(policies=(policy,)), jobs=1, progress=False)
            summaries.append(result.summary())
            replications.append(result.replications)
            jobs.append(result.jobs)
    return summarize(
        scenario,
        pd.concat(summaries, ignore_index=True),
        pd.concat(replications, ignore_index=True),
        pd.concat(jobs, ignore_index=True),
    )


def summarize(scenario: Scenario, summary: Any, replications: Any, jobs: Any) -> dict[str, Any]:
    """What the page draws, as JSON: summary rows, box statistics, heat-map grids."""
    columns = [
        c
        for c in (
            "policy", "C", "Q", "interarrival", "reps", "drop_probability",
            "job_time_median", "job_time_p95", "qpu_load", "cpu_load",
            "avg_classical_tasks", "avg_quantum_tasks",
        )
        if c in summary
    ]  # fmt: skip
    rows = [
        {c: _plain(v) for c, v in zip(columns, values, strict=True)}
        for values in summary[columns].itertuples(index=False)
    ]
    return {
        "scenario": {
            "name": scenario.name,
            "C": list(scenario.C),
            "Q": list(scenario.Q),
            "policies": list(scenario.policies),
            "interarrival": list(scenario.interarrival),
            "C_max": scenario.C_max,
            "Q_max": scenario.Q_max,
            "reps": scenario.reps,
            "duration": scenario.duration,
        },
        "summary": rows,
        "boxes": _boxes(jobs),
        "heat_maps": _heat_maps(replications),
    }


def _plain(value: Any) -> Any:
    """A number as JSON has it (NaN: None)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def _quartiles(values: Any) -> dict[str, float]:
    q = values.quantile([0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "q05": float(q.iloc[0]),
        "q25": float(q.iloc[1]),
        "q50": float(q.iloc[2]),
        "q75": float(q.iloc[3]),
        "q95": float(q.iloc[4]),
        "n": len(values),
    }


def _boxes(jobs: Any) -> list[dict[str, Any]]:
    """Job times per policy, by job size (qubits) and by priority (Fig. 10 of [1])."""
    if jobs.empty:
        return []
    figures = []
    for column, label in (("num_qubits", "qubits"), ("priority", "priority")):
        if column == "priority" and jobs[column].nunique() < 2:
            continue  # one priority: the qubits figure already shows it
        groups = []
        for policy, of_policy in jobs.groupby("policy", sort=False):
            boxes = [
                {"name": f"{value:g} {label}", **_quartiles(part["job_time"])}
                for value, part in sorted(of_policy.groupby(column), key=lambda kv: kv[0])
            ]
            groups.append({"name": str(policy), "boxes": boxes})
        figures.append({"by": label, "groups": groups})
    return figures


def _heat_maps(replications: Any) -> list[dict[str, Any]]:
    """Mean drop probability over load (jobs/h) and each swept axis: Q, C, or the
    policy when neither is swept (Figs. 11-12 of [1])."""
    if replications.empty:
        return []
    table = replications.assign(load=HOUR / replications["interarrival"])
    axes = [a for a in ("Q", "C") if table[a].nunique() > 1] or ["policy"]
    maps = []
    for axis in axes:
        grid = table.pivot_table(
            index="load", columns=axis, values="drop_probability", aggfunc="mean"
        ).sort_index(ascending=False)
        maps.append(
            {
                "axis": axis,
                "rows": [f"{v:.3g}" for v in grid.index],
                "columns": [str(c) for c in grid.columns],
                "grid": [[None if v != v else float(v) for v in row] for row in grid.to_numpy()],
            }
        )
    return maps

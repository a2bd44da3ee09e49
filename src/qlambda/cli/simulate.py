"""``qlambda simulate``: run a simulation preset, print a summary, write tables and figures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qlambda.core import ConfigurationError
from qlambda.policy import POLICIES

if TYPE_CHECKING:
    import pandas as pd

    from qlambda.sim.runner import SimResult

PRESET_NAMES = ("small", "big-q", "big-c", "replay")


@click.command("simulate")
@click.argument("preset_name", metavar="PRESET", type=click.Choice(PRESET_NAMES))
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Choice(list(POLICIES)),
    help="QPU scheduling policy; repeat for several (default: the preset's).",
)
@click.option("--reps", type=click.IntRange(min=1), help="Replications per sweep point.")
@click.option("--seed", type=int, help="Seed of the first replication (then seed+1, ...).")
@click.option("--jobs", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
@click.option(
    "--reference-compat",
    is_flag=True,
    help="Reproduce the published implementation: FIFO by swap-remove, drop "
    "probability counted from t=0.",
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario parameter, e.g. --set Q=1..6 --set warmup=12h "
    "(keys: C, Q, S, C_max, Q_max, interarrival, duration, warmup, qubits, "
    "priorities, policies, reps, seed, target_means, allow_unscaled, "
    "redraw_per_iteration, synthetic, arrivals).",
)
@click.option(
    "--traces",
    type=click.Path(file_okay=False, path_type=Path),
    help="Trace directory (default: $QLAMBDA_SIM_TRACES, else the published traces of [1] "
    "shipped with qlambda).",
)
@click.option(
    "--synthetic",
    metavar="SPEC",
    help="Draw jobs from distributions instead of traces, e.g. 'pre=const:10,"
    "classical=exp:0.01,quantum=exp:4,post=const:0.1,iterations=const:500'.",
)
@click.option(
    "--arrivals",
    metavar="SPEC",
    help="Arrivals other than Poisson at the scenario's interarrival: "
    "replay:FILE.csv (recorded times, repeated over longer runs; replay-once: not "
    "repeated), profile:R1,...,R24 (jobs/h per hour of the day) or profile:FILE.csv, "
    "poisson:6/h.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write replications.csv and jobs.csv (and figures) here.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="Table format under --out.",
)
@click.option(
    "--plots", is_flag=True, help="Also write the figures of [1] as PNG under --out/plots."
)
@click.option(
    "--engine",
    type=click.Choice(["fast", "reference"]),
    default="fast",
    show_default=True,
    help="Compiled engine, or the readable reference one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def command(
    preset_name: str,
    policies: tuple[str, ...],
    reps: int | None,
    seed: int | None,
    jobs: int | None,
    reference_compat: bool,
    assignments: tuple[str, ...],
    traces: Path | None,
    synthetic: str | None,
    arrivals: str | None,
    out: Path | None,
    fmt: str,
    plots: bool,
    engine: str,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Simulate a hybrid classical-quantum serverless platform.

    The model is that of [1]: C. Cicconetti, "Modeling and Performance
    Evaluation of Hybrid Classical-Quantum Serverless Computing Platforms",
    IEEE Transactions on Quantum Engineering, 2025.

    PRESET is one of the Table 2 scenarios of [1]: small (4 policies, mixed
    priorities), big-q (Q x load sweep) or big-c (C x load sweep, S=1e7); or
    replay: the traces of --traces DIR (from qlambda traces export or qlambda
    demo) on the platform they were recorded on, under every policy.
    """
    from qlambda.sim import preset, run
    from qlambda.sim.replay import replay_scenario
    from qlambda.sim.scenario import parse_value

    if plots and out is None:
        raise click.UsageError("--plots needs --out DIR to write the figures into")
    if preset_name == "replay" and traces is None:
        raise click.UsageError(
            "replay needs --traces DIR: a folder written by qlambda traces export or qlambda demo"
        )
    try:
        if preset_name == "replay" and traces is not None:  # checked above: it is given
            scenario = replay_scenario(traces, assignments)
        else:
            scenario = preset(preset_name).override(assignments)
        changes: dict[str, object] = {}
        if policies:
            changes["policies"] = policies
        if reference_compat:
            changes["reference_compat"] = True
        if traces is not None and preset_name != "replay":
            changes["traces"] = str(traces)
        if synthetic is not None:
            changes["synthetic"] = parse_value("synthetic", synthetic)
        if arrivals is not None:
            changes["arrivals"] = parse_value("arrivals", arrivals)
        scenario = scenario.replace(**changes)
        started = time.perf_counter()
        result = run(
            scenario,
            reps=reps,
            seed=seed,
            jobs=jobs,
            engine=engine,
            progress=False if no_progress or as_json else None,
        )
        wall = time.perf_counter() - started
        written = result.save(out, fmt) if out is not None else []
    except ConfigurationError as error:
        raise click.UsageError(str(error)) from None
    if plots and out is not None:  # checked above: --plots comes with --out
        from qlambda.sim.plots import plot_result

        written += plot_result(result.replications, result.jobs, out / "plots")
    summary = result.summary()
    events = int(result.replications["events"].sum())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "scenario": scenario.name,
                    "wall_seconds": wall,
                    "events": events,
                    "summary": summary.to_dict(orient="records"),
                    "files": [str(p) for p in written],
                },
                default=float,
            )
        )
        return
    _print_summary(result, summary, wall, events)
    for path in written:
        click.echo(f"wrote {path}")


def _print_summary(result: SimResult, summary: pd.DataFrame, wall: float, events: int) -> None:
    """The summary as a table that reads at 80 columns: what every row shares goes above it."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    scenario = result.scenario
    reps = len(result.replications)
    console = Console() if Console().is_terminal else Console(width=80)
    console.print(
        f"[bold]{scenario.name}[/]: {reps} replications, {events:,} events in {wall:.1f} s "
        f"({events / max(wall, 1e-9):,.0f} events/s)"
    )
    shared = []
    point_columns = [
        ("policy", "policy", "{}"),
        ("C", "C", "{}"),
        ("Q", "Q", "{}"),
        ("S", "S", "{:.0e}"),
        ("interarrival", "gap s", "{:.3g}"),
        ("reps", "reps", "{}"),
    ]
    varying = []
    for key, header, fmt in point_columns:
        values = summary[key].unique()
        if len(values) > 1:
            varying.append((key, header, fmt))
        else:
            value = fmt.format(values[0]).replace("e+0", "e").replace("e+", "e")
            shared.append(
                {
                    "interarrival": f"mean gap {value} s",
                    "reps": f"{value} reps",
                    "S": f"S={value} ops/s",
                }.get(key, f"{key}={value}")
            )
    limits = ", ".join(
        f"{name}={'none' if value is None else value}"
        for name, value in (("C_max", scenario.C_max), ("Q_max", scenario.Q_max))
    )
    shared.append(limits)
    shared.append(f"{_duration(scenario.duration)} each, warm-up {_duration(scenario.warmup)}")
    console.print(", ".join(shared))
    hours = "job_time_median" in summary and summary["job_time_median"].max() >= 3 * 3600
    unit, scale = ("h", 3600.0) if hours else ("s", 1.0)
    metrics = [
        ("drop_probability", "drop\nprob.", "{:.3f}", 1.0),
        ("drop_ci95", "\n±95%", "{:.3f}", 1.0),
        ("avg_classical_tasks", "cl.\ntasks", "{:.3g}", 1.0),
        ("avg_quantum_tasks", "q.\ntasks", "{:.3g}", 1.0),
        ("job_time_median", f"job {unit}\np50", "{:.3g}", scale),
        ("job_time_p95", f"job {unit}\np95", "{:.3g}", scale),
        ("qpu_load", "QPU\nload", "{:.2f}", 1.0),
        ("cpu_load", "CPU\nload", "{:.2f}", 1.0),
    ]
    metrics = [m for m in metrics if m[0] in summary.columns]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    for _, header, _ in varying:
        table.add_column(header, no_wrap=True)
    for _, header, _, _ in metrics:
        table.add_column(header, justify="right", no_wrap=True)
    for row in summary.to_dict(orient="records"):
        cells = [fmt.format(row[key]).replace("e+0", "e") for key, _, fmt in varying]
        cells += [fmt.format(row[key] / scale) for key, _, fmt, scale in metrics]
        table.add_row(*cells)
    console.print(table)
    console.print(
        "cl./q. tasks: mean active classical / quantum (waiting or running) tasks; "
        "load: work offered per second over capacity; job: time from arrival to end",
        style="dim",
    )
    overloaded = []
    if "qpu_load" in summary and scenario.Q_max is None and (summary["qpu_load"] >= 1).any():
        overloaded.append("QPUs")
    if "cpu_load" in summary and scenario.C_max is None and (summary["cpu_load"] >= 1).any():
        overloaded.append("workers")
    if overloaded:
        console.print(
            f"[yellow]note[/]: where the {' and '.join(overloaded)} are offered more work "
            "than they can do (load >= 1) and no admission limit turns jobs away, the "
            "queues grow for as long as the simulation runs and job times grow with "
            "its duration: add capacity (--set Q=...), slow the arrivals (--set "
            "interarrival=...) or limit admission (--set Q_max=40)."
        )


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if (seconds >= size and seconds % size == 0) or seconds >= 10 * size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"

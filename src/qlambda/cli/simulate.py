"""``qlambda simulate``: run a simulation preset, print a summary, write tables and figures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from qlambda.core import ConfigurationError
from qlambda.policy import POLICIES

PRESET_NAMES = ("small", "big-q", "big-c")


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
    "redraw_per_iteration, synthetic).",
)
@click.option(
    "--traces",
    type=click.Path(file_okay=False, path_type=Path),
    help="Trace directory (default: the shared dataset or $QLAMBDA_SIM_TRACES).",
)
@click.option(
    "--synthetic",
    metavar="SPEC",
    help="Draw jobs from distributions instead of traces, e.g. 'pre=const:10,"
    "classical=exp:0.01,quantum=exp:4,post=const:0.1,iterations=const:500'.",
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
@click.option("--plots", is_flag=True, help="Also write the paper's figures as PNG under --out.")
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
    out: Path | None,
    fmt: str,
    plots: bool,
    engine: str,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Simulate a hybrid classical-quantum serverless platform (paper 000's model).

    PRESET is one of the paper's Table 2 scenarios: small (4 policies, mixed
    priorities), big-q (Q x load sweep) or big-c (C x load sweep, S=1e7).
    """
    from qlambda.sim import preset, run
    from qlambda.sim.scenario import parse_value

    if plots and out is None:
        raise click.UsageError("--plots needs --out DIR to write the figures into")
    try:
        scenario = preset(preset_name).override(assignments)
        changes: dict[str, object] = {}
        if policies:
            changes["policies"] = policies
        if reference_compat:
            changes["reference_compat"] = True
        if traces is not None:
            changes["traces"] = str(traces)
        if synthetic is not None:
            changes["synthetic"] = parse_value("synthetic", synthetic)
        scenario = scenario.replace(**changes)
        started = time.perf_counter()
        result = run(
            scenario,
            reps=reps,
            seed=seed,
            jobs=jobs,
            engine=engine,
            progress=not (no_progress or as_json),
        )
        wall = time.perf_counter() - started
        written = result.save(out, fmt) if out is not None else []
    except ConfigurationError as error:
        raise click.UsageError(str(error)) from None
    if plots:
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
    _print_summary(summary, scenario.name, wall, events, len(result.replications))
    for path in written:
        click.echo(f"wrote {path}")


def _print_summary(summary, name: str, wall: float, events: int, reps: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{name}: {reps} replications, {events:,} events, {wall:.1f} s "
        f"({events / max(wall, 1e-9):,.0f} events/s)"
    )
    columns = [
        ("policy", "policy", "{}"),
        ("C", "C", "{}"),
        ("Q", "Q", "{}"),
        ("S", "S", "{:.0e}"),
        ("interarrival", "interarrival s", "{:g}"),
        ("reps", "reps", "{}"),
        ("drop_probability", "drop prob.", "{:.3f}"),
        ("drop_ci95", "±95%", "{:.3f}"),
        ("avg_classical_tasks", "avg classical", "{:.2f}"),
        ("avg_quantum_tasks", "avg quantum", "{:.2f}"),
        ("accepted_per_hour", "accepted/h", "{:.2f}"),
        ("job_time_median", "job time p50 s", "{:.0f}"),
        ("job_time_p95", "job time p95 s", "{:.0f}"),
    ]
    present = [c for c in columns if c[0] in summary.columns]
    for _, header, _ in present:
        table.add_column(header, justify="right")
    for row in summary.to_dict(orient="records"):
        table.add_row(*(fmt.format(row[key]) for key, _, fmt in present))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)

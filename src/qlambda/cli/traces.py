"""``qlambda traces export DIR``: the measured workload, in the simulator's input format."""

from __future__ import annotations

import json
from pathlib import Path

import click

from qlambda.cli.common import (
    data_dir_option,
    invocation,
    json_option,
    print_json,
    resolve_data_dir,
)


@click.group(name="traces")
def command() -> None:
    """Traces the platform recorded, for the simulator."""


@command.command(name="export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Classical workers the jobs ran on (default: this machine's cpus, the platform's "
    "default).",
)
@click.option(
    "--qpus",
    type=click.IntRange(min=1),
    default=None,
    help="QPU slots the jobs ran on (default: the number of backends they used).",
)
@data_dir_option
@json_option
def export(
    directory: Path, workers: int | None, qpus: int | None, data_dir: Path | None, as_json: bool
) -> None:
    """Write pre, cost_time, post, num_iterations and exec_time CSV files into DIRECTORY,
    and platform.json (how fast jobs arrived and what served them), for
    `qlambda simulate replay --traces DIRECTORY`."""
    from qlambda.platform.traces import export_traces, job_traces
    from qlambda.store import Store

    store = Store.open(resolve_data_dir(data_dir))
    try:
        jobs, tasks = job_traces(store)
        try:
            written = export_traces(store, directory, workers=workers, qpus=qpus)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        print_json({"jobs": len(jobs), "quantum_tasks": len(tasks), "files": written})
        return
    click.echo(f"{len(jobs)} jobs and {len(tasks)} quantum tasks written to {directory}:")
    for name, path in written.items():
        click.echo(f"  {name:15s} {path}")
    if "platform" not in written:
        click.echo(
            "(one job gives no arrival rate, so no platform.json: replay with "
            "--set C=... --set Q=... --set interarrival=...)"
        )
        return
    recorded = json.loads(written["platform"].read_text())
    click.echo(
        f"recorded: a job every {recorded['interarrival']:.3g} s on average, "
        f"{recorded['workers']} workers, {recorded['qpus']} QPU slots; replay it with"
    )
    click.echo(f"  {invocation()} simulate replay --traces {directory}")

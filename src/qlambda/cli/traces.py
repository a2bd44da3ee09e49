"""``qlambda traces export DIR``: the measured workload, in the simulator's input format."""

from __future__ import annotations

from pathlib import Path

import click

from qlambda.cli.common import data_dir_option, json_option, print_json, resolve_data_dir


@click.group(name="traces")
def command() -> None:
    """Traces the platform recorded, for the simulator."""


@command.command(name="export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@data_dir_option
@json_option
def export(directory: Path, data_dir: Path | None, as_json: bool) -> None:
    """Write pre, cost_time, post, num_iterations and exec_time CSV files into DIRECTORY."""
    from qlambda.platform.traces import export_traces, job_traces
    from qlambda.store import Store

    store = Store.open(resolve_data_dir(data_dir))
    try:
        jobs, tasks = job_traces(store)
        try:
            written = export_traces(store, directory)
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

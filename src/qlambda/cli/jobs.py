"""``qlambda jobs``: the jobs stored in a data directory."""

from __future__ import annotations

import time
from pathlib import Path

import click

from qlambda.cli.common import data_dir_option, json_option, print_json, resolve_data_dir
from qlambda.core.states import JobStatus


@click.command(name="jobs")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in JobStatus], case_sensitive=False),
    help="Only jobs in this status (repeatable).",
)
@click.option("--limit", default=50, show_default=True, help="How many of the newest jobs.")
@data_dir_option
@json_option
def command(statuses: tuple[str, ...], limit: int, data_dir: Path | None, as_json: bool) -> None:
    """List the newest jobs, as stored."""
    from rich.console import Console
    from rich.table import Table

    from qlambda.store import Store

    store = Store.open(resolve_data_dir(data_dir))
    try:
        rows = store.list_jobs(statuses=[s.upper() for s in statuses] or None, limit=limit)
    finally:
        store.close()
    if as_json:
        print_json(rows)
        return
    table = Table("id", "function", "status", "priority", "submitted", "seconds", "reason")
    for row in rows:
        took = "" if row["ended_at"] is None else f"{row['ended_at'] - row['created_at']:.2f}"
        table.add_row(
            row["id"],
            row["function_name"],
            row["status"],
            f"{row['priority']:g}",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created_at"])),
            took,
            (row["reason"] or "")[:60],
        )
    Console().print(table)

"""``qlambda jobs``: the jobs stored in a data directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qlambda.cli.common import (
    data_dir_option,
    json_option,
    print_json,
    remote_client,
    resolve_data_dir,
    server_options,
    service_call,
)
from qlambda.core.states import JobStatus

if TYPE_CHECKING:
    from rich.table import Table


@click.command(name="jobs")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in JobStatus], case_sensitive=False),
    help="Only jobs in this status (repeatable).",
)
@click.option("--limit", default=50, show_default=True, help="How many of the newest jobs.")
@click.option("--offset", default=0, show_default=True, help="Skip this many of the newest.")
@click.option("--function", default=None, help="Only jobs of this function.")
@server_options
@data_dir_option
@json_option
def command(
    statuses: tuple[str, ...],
    limit: int,
    offset: int,
    function: str | None,
    url: str | None,
    token: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """List the newest jobs: yours on a server (--url), or all as stored locally."""
    from rich.console import Console

    wanted = [s.upper() for s in statuses] or None
    if url:
        rows = _remote_rows(url, token, wanted, limit, offset, function)
    else:
        from qlambda.store import Store

        store = Store.open(resolve_data_dir(data_dir))
        try:
            rows = store.list_jobs(statuses=wanted, limit=limit, offset=offset, function=function)
        finally:
            store.close()
    if as_json:
        print_json(rows)
        return
    console = Console()
    console.print(jobs_table(rows))
    # reasons can be long: below the table, one paragraph per job, so ids stay whole
    for row in rows:
        if row["reason"]:
            console.print(f"{row['id']} {row['status']}: {row['reason']}", highlight=False)


def jobs_table(rows: list[dict[str, Any]]) -> Table:
    """Whole ids (they are what logs and cancel take); function names fold to fit."""
    from rich import box
    from rich.table import Table

    today = time.strftime("%Y-%m-%d")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    table.add_column("id", no_wrap=True)
    table.add_column("function", overflow="fold", ratio=1)
    table.add_column("status", no_wrap=True)
    table.add_column("prio", justify="right", no_wrap=True)
    table.add_column("submitted", no_wrap=True)
    table.add_column("took s", justify="right", no_wrap=True)
    for row in rows:
        took = "" if row["ended_at"] is None else f"{row['ended_at'] - row['created_at']:.2f}"
        submitted = time.localtime(row["created_at"])
        same_day = time.strftime("%Y-%m-%d", submitted) == today
        table.add_row(
            row["id"],
            row["function_name"],
            row["status"],
            f"{row['priority']:g}",
            time.strftime("%H:%M:%S" if same_day else "%m-%d %H:%M", submitted),
            took,
        )
    return table


def _remote_rows(
    url: str,
    token: str | None,
    statuses: list[str] | None,
    limit: int,
    offset: int,
    function: str | None,
) -> list[dict[str, Any]]:
    import dataclasses

    with remote_client(url, token) as client:
        infos = service_call(lambda: client.job_infos(statuses, limit, function, offset))
    rows = []
    for info in infos:
        row = dataclasses.asdict(info)
        row["status"] = info.status.value
        row["function_name"] = row.pop("function")
        rows.append(row)
    return rows

"""``qlambda jobs``: the jobs stored in a data directory."""

from __future__ import annotations

import time
from pathlib import Path

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
    from rich.table import Table

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


def _remote_rows(
    url: str,
    token: str | None,
    statuses: list[str] | None,
    limit: int,
    offset: int,
    function: str | None,
) -> list[dict]:
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

"""``qlambda usage``: QPU seconds and cost per user and backend, or of one job."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qlambda.cli.common import (
    data_dir_option,
    json_option,
    local_job_id,
    print_json,
    remote_client,
    remote_job_id,
    resolve_data_dir,
    server_options,
    service_call,
)

if TYPE_CHECKING:
    from rich.table import Table


@click.command(name="usage")
@click.option("--job", "job_id", default=None, help="One job's usage (its id).")
@click.option("--since", default=None, help="Only usage of the last 7d, 12h, 90m ...")
@click.option(
    "--user", default=None, help="Admins on a server: another user's usage, or '*' for all."
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Local data: the platform TOML whose [quotas] apply (default: users' own only).",
)
@server_options
@data_dir_option
@json_option
def command(
    job_id: str | None,
    since: str | None,
    user: str | None,
    config: Path | None,
    url: str | None,
    token: str | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """What quantum tasks used and cost: yours on a server (--url), or every user's as
    stored locally; with each user's quota and what counts against it."""
    from qlambda.cli.users import parse_duration

    start = None if since is None else time.time() - parse_duration(since)
    if url:
        with remote_client(url, token) as client:
            if job_id is not None:
                full = remote_job_id(client, job_id)
                answer = service_call(lambda: client.job(full).usage())
            else:
                answer = service_call(lambda: client.usage(start, user))
    else:
        if user is not None:
            raise click.UsageError("--user is for a server (--url); locally every user shows")
        answer = _local(resolve_data_dir(data_dir), config, job_id, start)
    if as_json:
        print_json(answer)
        return
    from rich.console import Console

    console = Console()
    if job_id is not None:
        console.print(job_table(answer))
        return
    console.print(users_table(answer["users"]))
    for row in answer["users"]:
        if row["quota"] is not None:
            console.print(f"{row['owner']}: {quota_text(row['quota'])}", highlight=False)


def _local(data_dir: Path, config: Path | None, job_id: str | None, since: float | None) -> Any:
    from qlambda.core.errors import ConfigurationError
    from qlambda.platform.config import PlatformConfig
    from qlambda.platform.usage import UsageMeter
    from qlambda.store import Store

    try:
        policy = PlatformConfig.build(config).quotas if config is not None else None
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    store = Store.open(data_dir)
    try:
        meter = UsageMeter(store, policy)
        if job_id is None:
            return meter.report(since=since)
        full = local_job_id(store, job_id)
        total = meter.of_job(full).as_dict()
        return {"id": full, **total, "backends": store.usage_totals(job_id=full, by="backend")}
    finally:
        store.close()


def users_table(users: list[dict[str, Any]]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    table.add_column("user", overflow="fold", ratio=1)
    table.add_column("backend", overflow="fold", ratio=1)
    table.add_column("tasks", justify="right", no_wrap=True)
    table.add_column("QPU s", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    for row in users:
        table.add_row(row["owner"], "(all)", *_figures(row))
        for backend in row["backends"]:
            table.add_row("", backend["backend"], *_figures(backend))
    return table


def job_table(answer: dict[str, Any]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), title=answer["id"])
    table.add_column("backend", overflow="fold", ratio=1)
    table.add_column("tasks", justify="right", no_wrap=True)
    table.add_column("QPU s", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    for backend in answer["backends"]:
        table.add_row(backend["backend"], *_figures(backend))
    table.add_row("(all)", *_figures(answer))
    return table


def _figures(row: dict[str, Any]) -> tuple[str, str, str]:
    return str(row["tasks"]), f"{row['qpu_seconds']:.2f}", f"{row['cost']:.2f}"


def quota_text(quota: dict[str, Any]) -> str:
    parts = []
    if quota["qpu_seconds"] is not None:
        parts.append(f"{quota['used_qpu_seconds']:.2f} of {quota['qpu_seconds']:g} QPU s")
    if quota["cost"] is not None:
        parts.append(f"{quota['used_cost']:.2f} of {quota['cost']:g} cost")
    text = "quota: " + ", ".join(parts) + " used"
    if quota["window_seconds"] is not None:
        from qlambda.platform.retention import describe_age

        text += f" (the last {describe_age(quota['window_seconds'])})"
    return text

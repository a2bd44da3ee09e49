"""``qlambda retention``: show and apply the policy that deletes ended jobs.

``apply`` takes the policy ``qlambda serve`` would apply with the same ``--config``
(its default, changed by the file's ``[retention]`` table), or only the rules given
with ``--status`` and the limit options. It is safe while a server runs on the same
data: queued and running jobs are never touched and deletion goes in short batches.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from qlambda.cli.common import data_dir_option, json_option, print_json, resolve_data_dir
from qlambda.core.states import JobStatus

FINAL = [s.value for s in JobStatus if s.is_final]
WIDTH = 80

config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A server or platform TOML file: its [retention] table changes the server default.",
)


@click.group(name="retention")
def command() -> None:
    """How long ended jobs are kept, and deleting those past it."""


@command.command(name="show")
@config_option
@json_option
def show(config: Path | None, as_json: bool) -> None:
    """Print the policy `qlambda serve --config FILE` applies."""
    policy = _policy(config, (), None, None, None)
    if as_json:
        print_json(policy.to_mapping())
        return
    _console().print(policy_table(policy))


@command.command(name="apply")
@config_option
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(FINAL, case_sensitive=False),
    help="Apply only these rules, to this status (repeatable), instead of the configured policy.",
)
@click.option("--max-age", default=None, help="With --status: delete jobs ended longer ago (7d).")
@click.option(
    "--max-jobs", type=click.IntRange(min=0), default=None, help="With --status: keep the newest N."
)
@click.option(
    "--output-max-age",
    default=None,
    help="With --status: delete results, logs and folders past this age; keep the rows.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@data_dir_option
@json_option
def apply(
    config: Path | None,
    statuses: tuple[str, ...],
    max_age: str | None,
    max_jobs: int | None,
    output_max_age: str | None,
    dry_run: bool,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Delete the ended jobs, results, logs and folders that the policy no longer keeps."""
    from qlambda.platform.retention import apply_policy
    from qlambda.store import Store

    policy = _policy(config, statuses, max_age, max_jobs, output_max_age)
    directory = resolve_data_dir(data_dir, must_exist=not os.environ.get("QLAMBDA_DATABASE_URL"))
    console = _console()
    if not as_json:
        console.print(policy_table(policy))
    store = Store.open(directory)
    try:
        report = _with_progress(
            lambda progress: apply_policy(
                store, directory, policy, dry_run=dry_run, progress=progress
            ),
            quiet=as_json,
        )
    finally:
        store.close()
    if as_json:
        print_json({"policy": policy.to_mapping(), **report.to_mapping()})
        return
    console.print(report_table(report))
    if report.skipped_live:
        console.print(f"{report.skipped_live} jobs still finishing were left for next time.")


def _policy(
    config: Path | None,
    statuses: tuple[str, ...],
    max_age: str | None,
    max_jobs: int | None,
    output_max_age: str | None,
) -> Any:
    from qlambda.core.errors import ConfigurationError
    from qlambda.platform.retention import RetentionPolicy, Rule, server_policy

    limits = {"max_age": max_age, "max_jobs": max_jobs, "output_max_age": output_max_age}
    given = {k: v for k, v in limits.items() if v is not None}
    try:
        if statuses:
            if not given:
                raise ConfigurationError(
                    "--status needs at least one of --max-age, --max-jobs, --output-max-age"
                )
            rules = {s.upper(): Rule.from_mapping(s.upper(), given) for s in statuses}
            return RetentionPolicy(rules, interval=None)
        if given:
            raise ConfigurationError(
                f"--{next(iter(given)).replace('_', '-')} needs --status: which jobs it applies to"
            )
        table = None
        if config is not None:
            import tomllib

            try:
                table = tomllib.loads(config.read_text()).get("retention")
            except tomllib.TOMLDecodeError as exc:
                raise ConfigurationError(f"{config}: not valid TOML: {exc}") from None
        return server_policy(table)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


def _with_progress(work: Any, quiet: bool) -> Any:
    if quiet:
        return work(None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=_console(stderr=True), transient=True) as progress:
        task = progress.add_task("jobs looked at: 0", total=None)
        return work(lambda n: progress.update(task, description=f"jobs looked at: {n:,}"))


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(width=WIDTH, stderr=stderr)


def policy_table(policy: Any) -> Any:
    from rich.table import Table

    from qlambda.platform.retention import describe_age

    every = "" if policy.interval is None else f", applied every {describe_age(policy.interval)}"
    table = Table(title=f"Retention policy{every}", title_justify="left")
    table.add_column("status")
    table.add_column("deleted after", justify="right")
    table.add_column("at most (newest)", justify="right")
    table.add_column("results and logs deleted after", justify="right")
    for status in FINAL:
        rule = policy.rule(status)
        table.add_row(
            status,
            describe_age(rule.max_age),
            "no limit" if rule.max_jobs is None else f"{rule.max_jobs:,}",
            "with the job" if rule.output_max_age is None else describe_age(rule.output_max_age),
        )
    table.caption = "Queued and running jobs are never deleted."
    return table


def report_table(report: Any) -> Any:
    from rich.table import Table

    verb = "Would delete (dry run)" if report.dry_run else "Deleted"
    table = Table(title=f"{verb}, in {report.seconds:.1f} s", title_justify="left")
    for name in ("status", "jobs", "outputs", "events", "q. tasks", "database", "files"):
        table.add_column(name, justify="left" if name == "status" else "right")
    parts = [*report.statuses.items(), ("total", report.total)]
    for status, part in parts:
        table.add_row(
            status,
            f"{part.jobs:,}",
            f"{part.outputs:,}",
            f"{part.events:,}",
            f"{part.quantum_tasks:,}",
            size(part.stored_bytes),
            size(part.file_bytes),
        )
    table.caption = (
        "jobs: deleted whole; outputs: results and logs only, the row kept; "
        "database: results, arguments, checkpoints"
    )
    return table


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"

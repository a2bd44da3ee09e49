"""``qlambda backends``: the quantum backends a configuration defines."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from qlambda.cli.common import json_option, print_json


@click.command(name="backends")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A platform TOML file with [[backend]] tables (default: the built-in backends).",
)
@json_option
def command(config: Path | None, as_json: bool) -> None:
    """Show the configured quantum backends."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from qlambda.core.errors import ConfigurationError
    from qlambda.platform.config import PlatformConfig

    try:
        backends = PlatformConfig.build(config).resolved_backends()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        print_json([dataclasses.asdict(b) for b in backends])
        return
    # names are what functions ask for: folded when long, never cut short
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    table.add_column("name", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("device", overflow="fold")
    table.add_column("qubits", justify="right", no_wrap=True)
    table.add_column("slots", justify="right", no_wrap=True)
    table.add_column("emulated\nQPU time", no_wrap=True)
    table.add_column("task\nlimit", justify="right", no_wrap=True)
    for backend in backends:
        emulated = f"x{backend.time_scale:g}" if backend.emulate_qpu_time else "no"
        table.add_row(
            backend.name,
            backend.kind,
            backend.device or "",
            str(backend.num_qubits or "device's"),
            str(backend.concurrency),
            emulated,
            f"{backend.task_timeout_seconds:g} s",
        )
    console = Console()
    console.print(table)
    for backend in backends:  # below the table: a price is as long as it needs
        if backend.price is not None:
            console.print(f"price of {backend.name}: {backend.price.describe()}", highlight=False)

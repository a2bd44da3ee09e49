"""``qlambda serve``: the platform as an HTTP service (OpenAPI at /docs)."""

from __future__ import annotations

from pathlib import Path

import click

from qlambda.cli.common import data_dir_option

LEASE_LOST_EXIT = 75  # EX_TEMPFAIL: a supervisor should start it again


@click.command(name="serve")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A TOML file: [platform], [[backend]], [gateway], [[function]].",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", type=click.IntRange(min=1), default=None, help="CPUs for jobs.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray", "dask"]),
    default=None,
    help="Where jobs run (default: local processes, or [platform] engine).",
)
@click.option(
    "--engine-address",
    "--ray-address",
    "engine_address",
    default=None,
    help='The Ray or Dask cluster to join ("auto", "host:6379", "tcp://scheduler:8786").',
)
@click.option(
    "--max-active-jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Per user: queued plus running jobs; more is answered with 429 (default 100).",
)
@click.option(
    "--max-running-jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Per user: running jobs; later jobs wait queued while other users' jobs run (default 10).",
)
@click.option(
    "--max-priority",
    type=click.FloatRange(min=0, min_open=True, max=1000),
    default=None,
    help="Per user: the highest priority accepted (default 10); more is answered with 422.",
)
@click.option(
    "--sandbox",
    type=click.Choice(["auto", "bwrap", "none"]),
    default=None,
    help="Isolate each user's jobs with bubblewrap (default), or not: 'none' runs them as "
    "the server's user, for a single trusted user only ([sandbox] mode).",
)
@click.option(
    "--replica",
    is_flag=True,
    default=None,
    help="One of several servers sharing a PostgreSQL database ([platform] replica; "
    "see docs/team.md).",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the bound port here once the server accepts connections.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
)
@data_dir_option
def command(
    config: Path | None,
    host: str,
    port: int,
    workers: int | None,
    engine: str | None,
    engine_address: str | None,
    max_active_jobs: int | None,
    max_running_jobs: int | None,
    max_priority: float | None,
    sandbox: str | None,
    replica: bool | None,
    ready_file: Path | None,
    log_level: str,
    data_dir: Path | None,
) -> None:
    """Serve the platform over HTTP. Every request needs a token: `qlambda users create`."""
    import dataclasses

    from qlambda.core.errors import ConfigurationError
    from qlambda.gateway.server import LeaseLostError, load_server_config, serve

    try:
        platform, settings, functions = load_server_config(
            config,
            data_dir=str(data_dir) if data_dir else None,
            workers=workers,
            engine=engine,
            engine_address=engine_address,
            replica=replica,
        )
        if sandbox is not None:
            from qlambda.engine.local.sandbox import SandboxSettings

            chosen = platform.sandbox or SandboxSettings()
            platform = dataclasses.replace(
                platform, sandbox=dataclasses.replace(chosen, mode=sandbox)
            )
        settings = dataclasses.replace(  # a limit not given keeps the configured one
            settings,
            max_active_jobs=settings.max_active_jobs
            if max_active_jobs is None
            else max_active_jobs,
            max_running_jobs=(
                settings.max_running_jobs if max_running_jobs is None else max_running_jobs
            ),
            max_priority=settings.max_priority if max_priority is None else max_priority,
        )
    except (ConfigurationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"qlambda serving on http://{host}:{port} (API at /docs)", err=True)
    try:
        serve(
            platform,
            settings,
            functions,
            host=host,
            port=port,
            log_level=log_level,
            ready_file=str(ready_file) if ready_file else None,
        )
    except LeaseLostError as exc:
        import os
        import sys

        click.echo(f"Error: {exc}", err=True)
        sys.stderr.flush()
        os._exit(LEASE_LOST_EXIT)  # threads may wait on a database that does not answer
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None

"""``qlambda dashboard``: the web dashboard over an embedded platform's data directory.

It starts the platform on that directory (its jobs, their traces, its backends) with the
HTTP API and the dashboard at ``/ui``, for the one person whose directory it is: jobs run
unsandboxed, as with ``qlambda.Client()``, nothing is deleted unless the configuration
has a ``[retention]`` table, and the admin user ``local`` (the owner of the embedded
platform's jobs) gets a new token, printed once and revoked when the command ends.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qlambda.cli.common import data_dir_option, resolve_data_dir

if TYPE_CHECKING:
    from qlambda.store import Store

LOCAL_USER = "local"  # who owns the embedded platform's jobs (qlambda.Client())
TOKEN_LIFETIME = 7 * 24 * 3600.0


@click.command(name="dashboard")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A TOML file: [platform], [[backend]] (as qlambda.Client(config=) takes).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8265, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", type=click.IntRange(min=1), default=None, help="CPUs for jobs.")
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the bound port here once the dashboard accepts connections.",
)
@data_dir_option
def command(
    config: Path | None,
    host: str,
    port: int,
    workers: int | None,
    ready_file: Path | None,
    data_dir: Path | None,
) -> None:
    """Open the web dashboard of an embedded platform's data directory.

    Prints the address and a login token for the admin user 'local'. Stop it with
    Ctrl-C; unfinished jobs resume at the platform's next start.
    """
    from qlambda.core.errors import ConfigurationError
    from qlambda.engine.local.sandbox import SandboxSettings
    from qlambda.gateway.auth import announce_change
    from qlambda.gateway.server import load_server_config, serve
    from qlambda.store import Store

    directory = resolve_data_dir(data_dir, must_exist=False)
    try:
        platform, settings, functions = load_server_config(
            config, data_dir=str(directory), workers=workers
        )
        table = tomllib.loads(config.read_text()) if config is not None else {}
        platform = dataclasses.replace(
            platform,
            sandbox=dataclasses.replace(SandboxSettings(), mode="none"),
            # an embedded platform keeps every job unless its configuration says otherwise
            retention=platform.retention if "retention" in table else None,
        )
    except (ConfigurationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    directory.mkdir(parents=True, exist_ok=True)
    token, token_id = _local_token(Store.open(directory), TOKEN_LIFETIME)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"qlambda dashboard on http://{shown}:{port}/ui  (data: {directory})", err=True)
    click.echo(f"log in as {LOCAL_USER} with this token (valid until this command ends):")
    click.echo(token, err=False)
    # uvicorn stops on SIGTERM, then raises it again: exit through the finally below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        serve(
            platform,
            settings,
            functions,
            host=host,
            port=port,
            ready_file=str(ready_file) if ready_file else None,
        )
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store = Store.open(directory)
        try:
            store.revoke_tokens(LOCAL_USER, token_id)
        finally:
            store.close()
        announce_change(directory)


def _local_token(store: Store, lifetime: float) -> tuple[str, str]:
    """A new token of the admin user ``local`` (made if missing), and its id."""
    import time

    from qlambda.store.store import token_digest, token_id

    try:
        expires = time.time() + lifetime
        if store.get_user(LOCAL_USER) is None:
            secret = store.create_user(LOCAL_USER, "admin", expires_at=expires)
        else:
            secret = store.create_token(LOCAL_USER, expires_at=expires)
        return secret, token_id(token_digest(secret))
    finally:
        store.close()
